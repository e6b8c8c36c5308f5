"""Independent Python evaluation of the quality metrics of tests/src (issue 13).

    python metrics_reference.py BASICSR_DIR BRISQUE_DIR JOBS.json

JOBS.json: {"niqe": [png...], "brisque": [png...], "ms_ssim": [[out, ref]...], "gmsd": [[out, ref]...]}.
Prints the same structure with the scores, as JSON.

- NIQE: basicsr 1.4.2's own `niqe.py` with its MATLAB pristine parameters, loaded from the sdist
  (basicsr itself is not installed: its package pulls torch). niqe.py's only torch use is
  `imresize`, replaced here by a numpy transcription of basicsr's MATLAB-compatible bicubic; the
  torch import of `color_util` (for functions not used here) is satisfied by an empty module.
- BRISQUE: OpenCV contrib's `cv2.quality.QualityBRISQUE` with Debian opencv-data's LIVE model,
  IPP off (OpenCV's portable resize).
- MS-SSIM (Wang, Simoncelli, Bovik 2003) and GMSD (Xue, Zhang, Mou, Bovik 2014): numpy from the
  papers' definitions, written apart from the Rust code.
"""
import importlib.util
import json
import math
import sys
import types

import cv2
import numpy as np
from scipy.ndimage import correlate


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _cubic(x):
    ax = np.abs(x)
    return (1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1) + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


def _weights_indices(in_len, out_len, scale):
    # basicsr.utils.matlab_functions.calculate_weights_indices, in numpy (float32 like torch).
    kernel_width = 4.0
    if scale < 1:
        kernel_width = kernel_width / scale
    x = np.linspace(1, out_len, out_len, dtype=np.float32)
    u = x / np.float32(scale) + np.float32(0.5 * (1 - 1 / scale))
    left = np.floor(u - np.float32(kernel_width / 2))
    p = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(p, dtype=np.float32)[None, :]
    dist = u[:, None] - indices
    weights = np.float32(scale) * _cubic(dist * np.float32(scale)) if scale < 1 else _cubic(dist)
    weights = (weights / weights.sum(1, keepdims=True)).astype(np.float32)
    # basicsr drops all-zero edge columns here; they carry no weight, so they stay.
    return weights, indices.astype(np.int64)


def _imresize(img, scale, antialiasing=True):
    assert antialiasing and img.ndim == 2
    img = img.astype(np.float32)
    out = img
    for axis in (0, 1):
        n = out.shape[axis]
        m = math.ceil(n * scale)
        w, idx = _weights_indices(n, m, scale)
        # MATLAB's symmetric padding (edge repeated): index i < 0 -> -i - 1, i >= n -> 2n - 1 - i.
        idx = idx - 1
        idx = np.where(idx < 0, -idx - 1, idx)
        idx = np.where(idx >= n, 2 * n - 1 - idx, idx)
        src = np.moveaxis(out, axis, 0)
        res = np.einsum('ok,ok...->o...', w, src[idx]).astype(np.float32)
        out = np.moveaxis(res, 0, axis)
    return out


def load_niqe(basicsr_dir):
    sys.modules['torch'] = types.ModuleType('torch')
    for pkg in ('basicsr', 'basicsr.utils', 'basicsr.metrics'):
        sys.modules[pkg] = types.ModuleType(pkg)
    registry = _load('basicsr.utils.registry', f'{basicsr_dir}/basicsr/utils/registry.py')
    color = _load('basicsr.utils.color_util', f'{basicsr_dir}/basicsr/utils/color_util.py')
    sys.modules['basicsr.utils'].bgr2ycbcr = color.bgr2ycbcr
    sys.modules['basicsr.utils'].registry = registry
    matlab = types.ModuleType('basicsr.utils.matlab_functions')
    matlab.imresize = _imresize
    sys.modules['basicsr.utils.matlab_functions'] = matlab
    _load('basicsr.metrics.metric_util', f'{basicsr_dir}/basicsr/metrics/metric_util.py')
    return _load('basicsr.metrics.niqe', f'{basicsr_dir}/basicsr/metrics/niqe.py')


def y601(bgr):
    """Y of BT.601 as MATLAB rgb2ycbcr, float64 on 0..255."""
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def gaussian(size, sigma):
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-x**2 / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def ssim_parts(x, y):
    """Mean luminance term and mean contrast-structure term over the valid window positions."""
    w = gaussian(11, 1.5)
    c1, c2 = (0.01 * 255)**2, (0.03 * 255)**2

    def filt(a):
        return correlate(a, w, mode='constant')[5:-5, 5:-5]

    mx, my = filt(x), filt(y)
    vx, vy, cxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    lum = (2 * mx * my + c1) / (mx**2 + my**2 + c1)
    cs = (2 * cxy + c2) / (vx + vy + c2)
    return float(np.mean(lum * cs)), float(np.mean(cs))


def pool(a):
    """2x2 mean, decimated by 2; an odd last row or column is dropped."""
    h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    return a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def ms_ssim(x, y):
    # Five scales, the weights of the paper; 2x2 average and decimate between scales.
    weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    out = 1.0
    for i, wgt in enumerate(weights):
        s, cs = ssim_parts(x, y)
        if i == len(weights) - 1:
            out *= max(s, 0.0)**wgt
        else:
            out *= max(cs, 0.0)**wgt
            x, y = pool(x), pool(y)
    return out


def gmsd(x, y):
    # 2x2 average and decimation by 2, Prewitt gradients (1/3, zero outside the image),
    # GMS with c = 170 on 0..255, standard deviation (N - 1) of the GMS map.
    hx = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]]) / 3.0

    def grad(a):
        gx = correlate(a, hx, mode='constant', cval=0.0)
        gy = correlate(a, hx.T, mode='constant', cval=0.0)
        return np.sqrt(gx**2 + gy**2)

    mx, my = grad(pool(x)), grad(pool(y))
    c = 170.0
    gms = (2 * mx * my + c) / (mx**2 + my**2 + c)
    return float(np.std(gms, ddof=1))


def main():
    basicsr_dir, brisque_dir, jobs_path = sys.argv[1:4]
    with open(jobs_path) as f:
        jobs = json.load(f)
    niqe = load_niqe(basicsr_dir)
    result = {'niqe': [], 'brisque': [], 'ms_ssim': [], 'gmsd': []}
    for path in jobs.get('niqe', []):
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        result['niqe'].append(niqe.calculate_niqe(img, 0, input_order='HWC', convert_to='y'))
    if jobs.get('brisque'):
        # OpenCV's own resize, not Intel IPP's: IPP's bicubic halving rounds in an order of
        # its own (and per CPU dispatch), which BRISQUE's SVR amplifies to ~0.2 of 0..100.
        cv2.ipp.setUseIPP(False)
        model = cv2.quality.QualityBRISQUE_create(f'{brisque_dir}/brisque_model_live.yml',
                                                  f'{brisque_dir}/brisque_range_live.yml')
        for path in jobs['brisque']:
            result['brisque'].append(float(model.compute(cv2.imread(path, cv2.IMREAD_COLOR))[0]))
    for out, ref in jobs.get('ms_ssim', []):
        result['ms_ssim'].append(ms_ssim(y601(cv2.imread(out)), y601(cv2.imread(ref))))
    for out, ref in jobs.get('gmsd', []):
        result['gmsd'].append(gmsd(y601(cv2.imread(out)), y601(cv2.imread(ref))))
    json.dump(result, sys.stdout)


if __name__ == '__main__':
    main()
