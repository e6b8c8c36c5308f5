#!/usr/bin/env python3
"""Times an ORIGINAL ncnn model on the CPU, the engine users run today (for the speed
benchmark, tests/bin/speed_bench.rs).

ncnn runs with its default CPU options (Winograd/sgemm convolutions, packed layouts,
light mode), no Vulkan, `threads` worker threads. One warm-up run, then `reps` timed
runs of input -> extract on the whole image (no tiling).

input.npy is one image [3, H, W] or frames [N, 3, H, W] (0..1 floats); with frames,
each rep runs every frame and each frame's time is listed (the element benchmark,
gst-plugin/benches/element_overhead.rs).

Usage: ncnn_bench.py model.param model.bin input.npy threads reps
Prints one JSON line: {"times": [seconds...], "peak_kb": max RSS of this process}.
"""
import json
import resource
import sys
import time

import ncnn
import numpy as np

from ncnn_reference import blob_names


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    param_path, bin_path, in_path, threads, reps = sys.argv[1:]
    data = np.load(in_path)
    frames = [np.ascontiguousarray(f, dtype=np.float32) for f in (data if data.ndim == 4 else [data])]
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = int(threads)
    if net.load_param(param_path) != 0 or net.load_model(bin_path) != 0:
        raise SystemExit(f"ncnn could not load {param_path} / {bin_path}")
    in_name, out_name = blob_names(param_path)

    def once(chw):
        ex = net.create_extractor()
        ex.input(in_name, ncnn.Mat(chw))
        ret, out = ex.extract(out_name)
        if ret != 0:
            raise SystemExit(f"ncnn extract({out_name}) failed with {ret}")
        return out

    once(frames[0])
    times = []
    for _ in range(int(reps)):
        for chw in frames:
            start = time.perf_counter()
            once(chw)
            times.append(time.perf_counter() - start)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"times": times, "peak_kb": peak_kb}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
