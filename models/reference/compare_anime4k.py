#!/usr/bin/env python3
"""Parity of our Anime4K ONNX (models/src/anime4k.rs) against anime4k_reference.py.

Converts each JSON with the `convert_anime4k` example, runs it with ONNX Runtime (CPU)
and compares with the NumPy reference on real photos. Prints max abs diff and PSNR
(peak 1.0) per model and image; exits 1 when any PSNR is below --min-psnr.

Usage: compare_anime4k.py [--weights DIR] [--models s-rl,m-an,...] [--min-psnr 50]
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
import anime4k_reference as ref  # noqa: E402

PHOTOS = os.path.join(ROOT, ".deps", "media", "photos")


def images():
    astro = ref.load_chw(os.path.join(PHOTOS, "astronaut.png"))
    return {
        "astronaut 128x128 crop": astro[:, 100:228, 180:308],
        "coffee (full)": ref.load_chw(os.path.join(PHOTOS, "coffee.png")),
    }


def convert(json_path, onnx_path):
    cmd = ["cargo", "run", "-q", "-p", "aiupscale-models", "--example", "convert_anime4k", "--", json_path, onnx_path]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--weights", default="/tmp/pkgs/x/package/weights/anime4k")
    p.add_argument("--models", default="s-rl,s-an,m-rl,m-an,l-rl,l-an")
    p.add_argument("--min-psnr", type=float, default=50.0)
    args = p.parse_args()

    imgs = images()
    worst = float("inf")
    print(f"{'model':<14} {'image':<24} {'max abs diff':>13} {'PSNR dB':>9} {'flops/px':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for m in args.models.split(","):
            json_path = os.path.join(args.weights, f"cnn-2x-{m}.json")
            onnx_path = os.path.join(tmp, f"{m}.onnx")
            flops = convert(json_path, onnx_path)
            sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            for label, chw in imgs.items():
                ours = sess.run(["output"], {"input": chw[None]})[0][0]
                want = ref.evaluate(json_path, chw)
                assert ours.shape == want.shape == (3, 2 * chw.shape[1], 2 * chw.shape[2]), (ours.shape, want.shape)
                diff = float(np.abs(ours - want).max())
                value = psnr(ours, want)
                worst = min(worst, value)
                print(f"cnn-2x-{m:<7} {label:<24} {diff:>13.3e} {value:>9.2f} {flops:>9.0f}")
    print(f"worst PSNR {worst:.2f} dB (target >= {args.min_psnr})")
    return 0 if worst >= args.min_psnr else 1


if __name__ == "__main__":
    sys.exit(main())
