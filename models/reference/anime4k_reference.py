#!/usr/bin/env python3
"""Direct NumPy evaluation of WebSR's Anime4K CNN x2 JSON weights (no ONNX involved).

Written from WebSR's TypeScript/WGSL (src/networks/anime4k/cnn-2x-*.ts,
src/layers/anime4k/*.ts), shader by shader: each layer is a sum of 4x4 matrices
(`mat4x4f`, column-major) times 4-vectors, with the kernels indexed exactly as the
WGSL indexes its `kernels[...]` uniform. Texels are RGBA with A = 1.

Borders are sampled clamp-to-edge (as Anime4K's GLSL under mpv and WebSR's first layer
under WebGPU robustness); see models/src/anime4k.rs for why WebSR's buffer wrap-around
and `repeat` sampler are not reproduced.

Usage: anime4k_reference.py weights.json input.(png|npy) output.npy
  .npy input: float32 CHW RGB in [0,1]; output: float32 CHW RGB, 2x, in [0,1].
"""
import json
import sys

import numpy as np

# WebSR's `kernel_offsets` uniform: (dx, dy) per tap, x-major.
OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0), (0, 1), (1, -1), (1, 0), (1, 1)]


def mats(flat):
    """Flat array -> list of 4x4 matrices M[o, j] from column-major WGSL mat4x4f."""
    a = np.asarray(flat, dtype=np.float32).reshape(-1, 4, 4)  # [n, column j, row o]
    return [m.T for m in a]


def tap(img, dx, dy):
    """img[y+dy, x+dx] for every pixel, clamp-to-edge. img: [H, W, 4]."""
    h, w, _ = img.shape
    ys = np.clip(np.arange(h) + dy, 0, h - 1)
    xs = np.clip(np.arange(w) + dx, 0, w - 1)
    return img[ys][:, xs]


def apply(m, v):
    """mat4x4 * vec4 at every pixel."""
    return v @ m.T


def pos(v):
    return np.maximum(v, 0.0)


def neg(v):
    return np.maximum(-v, 0.0)


def conv3x4(inp, layer):
    """Anime4KConv3x4: result += kernels[i] * textureLoad(input, coord + offset)."""
    k = mats(layer["weights"])
    out = np.zeros_like(inp)
    for i, (dx, dy) in enumerate(OFFSETS):
        out += apply(k[i], tap(inp, dx, dy))
    return out + np.asarray(layer["bias"], np.float32)


def conv8x4(inp, layer):
    """Anime4KConv8x4: kernels[i]*max(v,0) + kernels[i+9]*max(-v,0)."""
    k = mats(layer["weights"])
    out = np.zeros_like(inp)
    for i, (dx, dy) in enumerate(OFFSETS):
        v = tap(inp, dx, dy)
        out += apply(k[i], pos(v)) + apply(k[i + 9], neg(v))
    return out + np.asarray(layer["bias"], np.float32)


def conv16x4(in0, in1, layer):
    """Anime4KConv16x4: kernels[i], [i+9], [i+18], [i+27] on pos0, pos1, neg0, neg1."""
    k = mats(layer["weights"])
    out = np.zeros_like(in0)
    for i, (dx, dy) in enumerate(OFFSETS):
        v0, v1 = tap(in0, dx, dy), tap(in1, dx, dy)
        out += apply(k[i], pos(v0)) + apply(k[i + 9], pos(v1))
        out += apply(k[i + 18], neg(v0)) + apply(k[i + 27], neg(v1))
    return out + np.asarray(layer["bias"], np.float32)


def conv56x4(inputs, layer):
    """Anime4KConv56x4 (1x1 over 7 buffers): kernels[2i]*pos + kernels[2i+1]*neg."""
    k = mats(layer["weights"])
    out = np.zeros_like(inputs[0])
    for i, v in enumerate(inputs):
        out += apply(k[2 * i], pos(v)) + apply(k[2 * i + 1], neg(v))
    return out + np.asarray(layer["bias"], np.float32)


def conv112x4(inputs0, inputs1, layer):
    """Anime4KConv112x4 first + second half, then Anime4KConcat2 adds them and the bias."""
    k = mats(layer["weights"])
    pt1 = np.zeros_like(inputs0[0])
    pt2 = np.zeros_like(inputs0[0])
    for i in range(7):
        pt1 += apply(k[4 * i], pos(inputs0[i])) + apply(k[4 * i + 2], neg(inputs0[i]))
        pt2 += apply(k[4 * i + 1], pos(inputs1[i])) + apply(k[4 * i + 3], neg(inputs1[i]))
    return pt1 + pt2 + np.asarray(layer["bias"], np.float32)


def bilinear_2x(img):
    """textureSample with a linear sampler at the centres of a 2x render target."""
    h, w, _ = img.shape

    def axis(n):
        u = (np.arange(2 * n) + 0.5) / (2 * n)  # normalised texture coordinate
        t = u * n - 0.5
        i0 = np.floor(t).astype(np.int64)
        f = (t - i0).astype(np.float32)
        return np.clip(i0, 0, n - 1), np.clip(i0 + 1, 0, n - 1), f

    y0, y1, fy = axis(h)
    x0, x1, fx = axis(w)
    fx = fx[None, :, None]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bot = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    fy = fy[:, None, None]
    return top * (1 - fy) + bot * fy


def shuffle(buf, h, w):
    """DisplayLayer's lookup: inputBuffer[i][c_index], c_index = x_floor + 2*y_floor."""
    y = h * ((np.arange(2 * h) + 0.5) / (2 * h))
    x = w * ((np.arange(2 * w) + 0.5) / (2 * w))
    y2, x2 = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    yf = ((y - np.floor(y)) * 2).astype(np.int64)
    xf = ((x - np.floor(x)) * 2).astype(np.int64)
    c = xf[None, :] + 2 * yf[:, None]
    return buf[y2[:, None], x2[None, :], c]


def run(net, rgb):
    """rgb: [H, W, 3] float32 in [0,1] -> [2H, 2W, 3] float32."""
    h, w, _ = rgb.shape
    rgba = np.concatenate([rgb, np.ones((h, w, 1), np.float32)], axis=2)
    L = net["layers"]
    kind = net["name"]
    if kind == "anime4k/cnn-2x-s":
        x = conv3x4(rgba, L["conv2d_tf"])
        x = conv8x4(x, L["conv2d_1_tf"])
        x = conv8x4(x, L["conv2d_2_tf"])
        last = conv8x4(x, L["conv2d_last_tf"])
        v = shuffle(last, h, w)
        residual = np.stack([v, v, v], axis=2)
    elif kind == "anime4k/cnn-2x-m":
        bufs = [conv3x4(rgba, L["conv2d_tf"])]
        for i in range(1, 7):
            bufs.append(conv8x4(bufs[-1], L[f"conv2d_{i}_tf"]))
        heads = [conv56x4(bufs, L[n]) for n in ("conv2d_7_tf", "conv2d_7_tf1", "conv2d_7_tf2")]
        residual = np.stack([shuffle(b, h, w) for b in heads], axis=2)
    elif kind == "anime4k/cnn-2x-l":
        b0 = [conv3x4(rgba, L["conv2d_tf"])]
        b1 = [conv3x4(rgba, L["conv2d_tf1"])]
        for i in range(1, 7):
            src = "conv2d_tf" if i == 1 else f"conv2d_{i - 1}_tf"
            a, b = b0[-1], b1[-1]
            b0.append(conv16x4(a, b, L[f"conv2d_{i}_tf"]))
            b1.append(conv16x4(a, b, L[f"conv2d_{i}_tf1"]))
            assert L[f"conv2d_{i}_tf"]["inputs"] == [src, src + "1"]
        heads = [conv112x4(b0, b1, L[n]) for n in ("conv2d_last_tf", "conv2d_last_tf1", "conv2d_last_tf2")]
        residual = np.stack([shuffle(b, h, w) for b in heads], axis=2)
    else:
        raise SystemExit(f"unsupported network {kind!r}")
    up = bilinear_2x(rgba)[..., :3]
    return np.clip(up + residual, 0.0, 1.0).astype(np.float32)  # unorm canvas write


def load_chw(path):
    if path.endswith(".npy"):
        return np.load(path).astype(np.float32)
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def evaluate(json_path, chw):
    with open(json_path) as f:
        net = json.load(f)
    out = run(net, np.ascontiguousarray(chw.transpose(1, 2, 0)).astype(np.float32))
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def main(argv):
    if len(argv) != 4:
        raise SystemExit(__doc__)
    np.save(argv[3], evaluate(argv[1], load_chw(argv[2])))


if __name__ == "__main__":
    main(sys.argv)
