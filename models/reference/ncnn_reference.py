#!/usr/bin/env python3
"""Runs an ORIGINAL ncnn model (.param + .bin) with the real ncnn library on the CPU.

The independent reference for our ncnn -> ONNX converter (models/src/ncnn/). ncnn runs
in plain fp32 (no Vulkan, no fp16/bf16 storage or arithmetic), so differences from our
ONNX graph are float rounding only.

Blobs: the input is the Input layer's blob (`data` for Real-ESRGAN, `Input1` for
waifu2x); the output is the blob named `output`, else the only blob no layer consumes
(waifu2x: `Eltwise4`), the same rule the converter uses. The raw network runs on
whatever it is given: waifu2x upconv_7 consumes 7 pixels on each side (output is
2 * (in - 14)), like our ONNX.

Usage: ncnn_reference.py model.param model.bin input.(png|npy) output.npy [--nearest-residual BORDER]
  .npy input: float32 CHW RGB in [0,1]; .png input: read as RGB / 255.
  output: float32 CHW RGB.
  --nearest-residual BORDER: add the input, less BORDER pixels on each side, upscaled by
  nearest neighbour to the output's size, as realcugan-ncnn-vulkan's x4 post-processing
  does outside the ncnn graph.
"""
import sys

import ncnn
import numpy as np


def load_chw(path):
    """Image file or .npy -> float32 CHW RGB in [0,1]."""
    if path.endswith(".npy"):
        return np.ascontiguousarray(np.load(path), dtype=np.float32)
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def blob_names(param_path):
    """(input blob, output blob) read from the .param text."""
    with open(param_path) as f:
        lines = [l.split() for l in f if l.strip()]
    layers = lines[2:]
    inputs, produced, consumed = [], [], set()
    for fields in layers:
        kind, n_in, n_out = fields[0], int(fields[2]), int(fields[3])
        ins, outs = fields[4 : 4 + n_in], fields[4 + n_in : 4 + n_in + n_out]
        if kind == "Input":
            inputs.extend(outs)
        produced.extend(outs)
        consumed.update(ins)
    if len(inputs) != 1:
        raise SystemExit(f"{param_path}: expected one Input layer, found {len(inputs)}")
    if "output" in produced:
        return inputs[0], "output"
    sinks = [b for b in produced if b not in consumed]
    if len(sinks) != 1:
        raise SystemExit(f"{param_path}: no blob named output and {len(sinks)} unused blobs: {sinks}")
    return inputs[0], sinks[0]


def run(param_path, bin_path, chw, threads=2):
    """Runs the model on one float32 CHW image and returns float32 CHW."""
    net = ncnn.Net()
    opt = net.opt
    opt.use_vulkan_compute = False
    # Plain fp32 everywhere, so the reference is exact up to float rounding.
    for flag in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage", "use_bf16_packed"):
        setattr(opt, flag, False)
    opt.num_threads = threads
    if net.load_param(param_path) != 0 or net.load_model(bin_path) != 0:
        raise SystemExit(f"ncnn could not load {param_path} / {bin_path}")
    in_name, out_name = blob_names(param_path)
    ex = net.create_extractor()
    ex.input(in_name, ncnn.Mat(np.ascontiguousarray(chw, dtype=np.float32)))
    ret, out = ex.extract(out_name)
    if ret != 0:
        raise SystemExit(f"ncnn extract({out_name}) failed with {ret}")
    result = np.array(out, dtype=np.float32, copy=True)
    del ex, net
    return result


def nearest_residual(chw, out, border):
    """out + the input's inner part (less `border` per side), repeated to out's size."""
    inner = chw[:, border : chw.shape[1] - border, border : chw.shape[2] - border]
    s = out.shape[1] // inner.shape[1]
    if out.shape[1:] != (s * inner.shape[1], s * inner.shape[2]):
        raise SystemExit(f"output {out.shape} is not an integer multiple of the inner input {inner.shape}")
    return out + inner.repeat(s, axis=1).repeat(s, axis=2)


def main():
    args = sys.argv[1:]
    border = None
    if len(args) == 6 and args[4] == "--nearest-residual":
        border = int(args[5])
        args = args[:4]
    if len(args) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    param_path, bin_path, in_path, out_path = args
    chw = load_chw(in_path)
    out = run(param_path, bin_path, chw)
    if border is not None:
        out = nearest_residual(chw, out, border)
    np.save(out_path, out)
    print(f"{out_path}: {out.shape} min {out.min():.4f} max {out.max():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
