#!/usr/bin/env python
"""int8 / reduced-precision experiment for SR ONNX models on CPU (ORT 1.31.1).

Not part of the product: the record behind BENCHMARKS.md's reduced-precision section.
Needs `onnx` besides onnxruntime, e.g. a scratch venv:
  python3 -m venv /tmp/qv && /tmp/qv/bin/pip install onnx onnxruntime==1.31.1 numpy pillow
  AIUPSCALE_INT8_DIR=/tmp/int8 DISABLE=NhwcTransformer /tmp/qv/bin/python models/reference/int8_experiment.py \
      realesr-animevideov3-x2 qdq_u8_pct
(first copy MODEL.onnx from the model cache, `aiupscale models path`, into that folder).

usage: qexp.py MODEL VARIANT [VARIANT ...]
  MODEL   : realesrgan-x4plus | realesr-animevideov3-x4 | realesr-animevideov3-x2 | waifu2x-photo-x2
  VARIANT : name from VARIANTS below (quantized model is built & cached under /tmp/int8/q/)
For each variant: kernels used (ORT profiler), speed ratio fp32/variant (alternating runs
in one process, median), PSNR of variant vs fp32 on 3 eval crops (clipped to [0,1]).
"""
import sys, os, json, time, glob, collections
import numpy as np
from PIL import Image
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (quantize_static, quantize_dynamic, QuantFormat, QuantType,
                                      CalibrationDataReader, CalibrationMethod)

D = os.environ.get('AIUPSCALE_INT8_DIR', '/tmp/int8')
QD = D + '/q'
os.makedirs(QD, exist_ok=True)
PH = os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../.deps/media/photos/')
CALIB_PHOTOS = ['astronaut', 'motorcycle_right', 'ihc', 'color']     # never used for eval
EVAL_PHOTOS = ['coffee', 'chelsea', 'motorcycle_left']
BIG = {'realesrgan-x4plus'}                                           # use smaller crops


def load(name):
    return np.asarray(Image.open(PH + name + '.png').convert('RGB'), dtype=np.float32) / 255.0


def crops(names, n, size, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        im = load(names[i % len(names)])
        y = rng.integers(0, im.shape[0] - size + 1); x = rng.integers(0, im.shape[1] - size + 1)
        out.append(np.ascontiguousarray(im[y:y + size, x:x + size].transpose(2, 0, 1)[None]))
    return out


class Reader(CalibrationDataReader):
    def __init__(self, data): self.it = iter([{'input': d} for d in data])
    def get_next(self): return next(self.it, None)


def so_(profile=None):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    so.add_session_config_entry('session.intra_op.allow_spinning', '0')
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = profile
    return so


DISABLE = [x for x in os.environ.get('DISABLE', '').split(',') if x]   # e.g. NhwcTransformer


def sess(path, profile=None, disable=None):
    return ort.InferenceSession(path, so_(profile), providers=['CPUExecutionProvider'],
                                disabled_optimizers=disable or [])


def conv_names(model_path):
    g = onnx.load(model_path).graph
    return [n.name for n in g.node if n.op_type in ('Conv', 'ConvTranspose')]


def nodes_of(model_path, types):
    return [n.name for n in onnx.load(model_path).graph.node if n.op_type in types]


# ---------------------------------------------------------------- variants
def build(model, var):
    src = f'{D}/{model}.onnx'
    dst = f'{QD}/{model}__{var}.onnx'
    if os.path.exists(dst):
        return dst
    csz = 64 if model in BIG else 128
    cal = crops(CALIB_PHOTOS, 8, csz, seed=1)
    pre = f'{QD}/{model}__pre.onnx'
    if not os.path.exists(pre):
        from onnxruntime.quantization.shape_inference import quant_pre_process
        try:
            quant_pre_process(src, pre, skip_symbolic_shape=False)
        except Exception as e:
            print('quant_pre_process failed, using src:', e)
            onnx.save(onnx.load(src), pre)
    base = pre
    kw = dict(quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8,
              activation_type=QuantType.QUInt8, calibrate_method=CalibrationMethod.MinMax)
    if var == 'dyn_u8':
        quantize_dynamic(src, dst, weight_type=QuantType.QUInt8, per_channel=False,
                         op_types_to_quantize=['Conv'])
        return dst
    if var == 'fp16':
        from onnx import numpy_helper  # noqa
        from onnxruntime.transformers.float16 import convert_float_to_float16
        m = convert_float_to_float16(onnx.load(src), keep_io_types=True)
        onnx.save(m, dst); return dst
    parts = var.split('_')
    # parts like: qdq u8|s8 minmax|pct|ent [exfl] [exact] [exall]
    if 's8' in parts: kw['activation_type'] = QuantType.QInt8
    if 'pct' in parts: kw['calibrate_method'] = CalibrationMethod.Percentile
    if 'ent' in parts: kw['calibrate_method'] = CalibrationMethod.Entropy
    excl = []
    convs = conv_names(base)
    if 'exfl' in parts:      # first & last conv (and ConvTranspose) in float
        excl += [convs[0], convs[-1]]
    for p_ in parts:           # exfN / exlM: first N / last M Conv(Transpose) nodes kept in float
        if p_.startswith('exf') and p_[3:].isdigit(): excl += convs[:int(p_[3:])]
        if p_.startswith('exl') and p_[3:].isdigit(): excl += convs[-int(p_[3:]):]
    if 'exact' in parts:     # activations, resize, d2s in float
        excl += nodes_of(base, ('PRelu', 'LeakyRelu', 'Resize', 'DepthToSpace'))
    if 'convonly' in parts:
        kw['op_types_to_quantize'] = ['Conv', 'ConvTranspose']
    extra = {'ActivationSymmetric': False, 'WeightSymmetric': True}
    if 'pct' in parts: extra['CalibPercentile'] = 99.999
    kw['nodes_to_exclude'] = excl
    kw['extra_options'] = extra
    t = time.time()
    quantize_static(base, dst, Reader(cal), **kw)
    print(f'  quantized {var} in {time.time()-t:.0f}s, excluded {len(excl)} nodes', flush=True)
    return dst


# ---------------------------------------------------------------- measurement
def kernels(path, x):
    s = sess(path, profile=f'{D}/prof', disable=DISABLE)
    s.run(None, {'input': x})
    pf = s.end_profiling()
    ev = json.load(open(pf)); os.remove(pf)
    c = collections.defaultdict(lambda: [0, 0.0])
    for e in ev:
        if e.get('cat') == 'Node' and e['name'].endswith('_kernel_time'):
            k = e['args']['op_name']; c[k][0] += 1; c[k][1] += e['dur']
    tot = sum(v[1] for v in c.values())
    return ', '.join(f'{k}x{v[0]}:{100*v[1]/tot:.0f}%' for k, v in sorted(c.items(), key=lambda kv: -kv[1][1]))


def psnr(a, b):
    a = np.clip(a, 0, 1); b = np.clip(b, 0, 1)
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(1.0 / mse)


def main():
    model = sys.argv[1]
    variants = sys.argv[2:]
    fp = f'{D}/{model}.onnx'
    esz = 64 if model in BIG else 128
    bsz = 128 if model in BIG else 256
    reps = int(os.environ.get('REPS', '3'))
    ev = crops(EVAL_PHOTOS, 3, esz, seed=7)
    xb = crops(['coffee'], 1, bsz, seed=3)[0]
    s32 = sess(fp)
    ref = [s32.run(None, {'input': e})[0] for e in ev]
    # ground-truth check: HR crop -> bicubic downscale by model scale -> SR -> PSNR vs HR (centre-aligned)
    sc = 2 if 'x2' in model else 4
    gsz = 64 if sc == 4 else esz          # LR size for the HR check (HR must fit in chelsea 451x300)
    hr = crops(EVAL_PHOTOS, 3, gsz * sc, seed=11)
    lr = [np.asarray(Image.fromarray((h[0].transpose(1, 2, 0) * 255 + .5).astype(np.uint8))
                     .resize((gsz, gsz), Image.BICUBIC), np.float32).transpose(2, 0, 1)[None] / 255. for h in hr]
    def gt_psnr(s):
        r = []
        for l, h in zip(lr, hr):
            o = s.run(None, {'input': np.ascontiguousarray(l)})[0]
            b = (h.shape[2] - o.shape[2]) // 2
            r.append(psnr(o, h[:, :, b:b + o.shape[2], b:b + o.shape[3]]))
        return np.array(r)
    gt32 = gt_psnr(s32)
    print(f'== {model}: fp32 PSNR vs HR (bicubic-down x{sc}) per crop: {np.round(gt32, 2)}', flush=True)
    print(f'== {model}: fp32 kernels: {kernels(fp, ev[0])}', flush=True)
    for var in variants:
        try:
            qp = build(model, var)
            sq = sess(qp, disable=DISABLE)
        except Exception as e:
            print(f'-- {var}: FAILED {type(e).__name__}: {str(e)[:300]}', flush=True); continue
        ps = [psnr(sq.run(None, {'input': e})[0], r) for e, r in zip(ev, ref)]
        kn = kernels(qp, ev[0])
        dgt = gt_psnr(sq) - gt32
        s32.run(None, {'input': xb}); sq.run(None, {'input': xb})   # warm-up at bench size
        t32, tq = [], []
        for i in range(reps):
            t = time.perf_counter(); s32.run(None, {'input': xb}); t32.append(time.perf_counter() - t)
            t = time.perf_counter(); sq.run(None, {'input': xb}); tq.append(time.perf_counter() - t)
        r = np.median(t32) / np.median(tq)
        print(f'-- {var}: speed fp32/var = {r:.2f}x (bench {bsz}px, {reps} alt runs) | '
              f'PSNR vs fp32 mean {np.mean(ps):.2f} min {np.min(ps):.2f} dB | '
              f'dPSNR vs HR mean {np.mean(dgt):+.3f} worst {np.min(dgt):+.3f} dB | kernels: {kn}', flush=True)


if __name__ == '__main__':
    main()
