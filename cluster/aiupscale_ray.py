#!/usr/bin/env python3
"""Spread aiupscale over a Ray cluster: a video as one Ray task per segment, a folder of
images as one Ray task per chunk of files. Ray schedules, retries and places the tasks;
this driver only plans, submits and reports.

    python3 cluster/aiupscale_ray.py [--address HOST:PORT] [--bin PATH] [--device DEVICE]
        [--max-retries N] [--cpus-per-task N] [--json] images IN_DIR/ OUT_DIR/ [--chunk-size N]
        [-- UPSCALE_OPTIONS...]
    python3 cluster/aiupscale_ray.py [...] video IN OUT [--parts DIR] [--keep-parts] [-- PLAN_OPTIONS...]

Every path (inputs, OUT, the parts folder, --model files, the binary) must be one that
every node sees at the same place (a shared file system). `--bin` (default: $AIUPSCALE_BIN,
else `aiupscale` on the nodes' PATH) is run on the nodes. Without --address Ray starts a
local cluster in this process. Tasks get one GPU each when --device is cuda or tensorrt.

images: `aiupscale upscale CHUNK/ OUT_DIR/ ...` per chunk, CHUNK a node-local folder of
links to the chunk's files; the batch form skips outputs that exist and writes each one
atomically, so a retried chunk redoes only what is missing.
video: `aiupscale video plan IN PARTS --json`, then `aiupscale video segment PARTS I` for
every segment (idempotent: a verified segment is not redone), then `aiupscale video merge
PARTS OUT`; PARTS defaults to OUT.parts next to OUT and is removed after the merge
unless --keep-parts. OUT's extension and the plan's codec are checked before any segment
runs. --device goes to the driver (it sets the tasks' GPU request), not after `--`.

Exit codes: 0 done, 1 a task failed after its retries, 2 usage error.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}  # as the binary's folder mode
GPU_DEVICES = {"cuda", "tensorrt"}
# docs/VIDEO.md: the codecs each OUT extension holds (merge refuses the others, but only
# after every segment ran: check before any work).
CONTAINER_CODECS = {
    ".mkv": {"x264", "x265", "ffv1", "prores"},
    ".mp4": {"x264", "x265"},
    ".m4v": {"x264", "x265"},
    ".mov": {"x264", "x265", "prores"},
}


class UsageError(Exception):
    pass


def run_binary(command):
    """Runs the aiupscale binary on this node; a failure raises (Ray then retries the task),
    except a usage error (exit 2), which no retry can fix and is returned."""
    import ray

    started = time.monotonic()
    # setpriv: the binary gets SIGKILL when this worker dies, so a killed task leaves no
    # orphan working on beside its retry.
    prefix = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
    proc = subprocess.run(prefix + command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result = {
        "node": ray.get_runtime_context().get_node_id(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "seconds": round(time.monotonic() - started, 3),
        "stdout": proc.stdout,
        "code": proc.returncode,
    }
    if proc.returncode == 2:
        result["error"] = proc.stderr.strip()[-2000:]
        return result
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return result


def upscale_chunk(binary, files, out_dir, options):
    # The batch form takes a folder: give it one holding only this chunk's files.
    with tempfile.TemporaryDirectory(prefix="aiupscale-chunk-") as chunk:
        for path in files:
            os.symlink(path, os.path.join(chunk, os.path.basename(path)))
        return run_binary([binary, "upscale", chunk, out_dir, "--quiet", *options])


def call(binary, *args):
    return run_binary([binary, *args])


def image_chunks(in_dir, chunk_size):
    files = sorted(
        os.path.join(in_dir, name)
        for name in os.listdir(in_dir)
        if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS and os.path.isfile(os.path.join(in_dir, name))
    )
    return [files[i : i + chunk_size] for i in range(0, len(files), chunk_size)]


class Driver:
    def __init__(self, args, passthrough):
        import ray

        self.ray = ray
        self.args = args
        self.passthrough = passthrough
        self.binary = args.bin or os.environ.get("AIUPSCALE_BIN") or "aiupscale"
        self.results = []
        self.failures = []
        retries = {"max_retries": args.max_retries, "retry_exceptions": True}
        # One task per segment or chunk: the unit that gets a GPU and a retry.
        self.heavy = ray.remote(**retries, num_cpus=args.cpus_per_task, num_gpus=1 if args.device in GPU_DEVICES else 0)
        self.light = ray.remote(**retries, num_cpus=1)

    def say(self, text):
        if not self.args.quiet:
            print(text, file=sys.stderr, flush=True)

    def gather(self, pending):
        """Waits for {ref: label}, in the order they finish; failures are collected."""
        total, done = len(pending), 0
        while pending:
            ready, _ = self.ray.wait(list(pending), num_returns=1)
            label = pending.pop(ready[0])
            done += 1
            try:
                result = self.ray.get(ready[0])
            except self.ray.exceptions.RayError as error:
                # A task's own exception (the binary's exit code and stderr) without Ray's traceback.
                message = str(getattr(error, "cause", None) or error).strip()[-2000:]
                self.failures.append({"task": label, "error": message})
                self.say(f"[{done}/{total}] {label} FAILED after {self.args.max_retries} retries: {message}")
                continue
            result["task"] = label
            if "error" in result:
                self.failures.append({"task": label, "error": result["error"], "usage": True})
                self.say(f"[{done}/{total}] {label} refused: {result['error']}")
                continue
            self.results.append(result)
            self.say(f"[{done}/{total}] {label} done on {result['host']} (node {result['node'][:8]}) in {result['seconds']} s")

    def images(self):
        in_dir, out_dir = os.path.abspath(self.args.input), os.path.abspath(self.args.output)
        if not os.path.isdir(in_dir):
            raise UsageError(f"IN {in_dir} is not a folder")
        if os.path.realpath(in_dir) == os.path.realpath(out_dir):
            raise UsageError(f"OUT {out_dir} is the input folder: outputs would replace the inputs")
        chunks = image_chunks(in_dir, self.args.chunk_size)
        if not chunks:
            raise UsageError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in {in_dir}")
        os.makedirs(out_dir, exist_ok=True)
        options = ["--device", self.args.device, *self.passthrough]
        task = self.heavy(upscale_chunk)
        pending = {
            task.remote(self.binary, files, out_dir, options): f"chunk {i} ({len(files)} files)"
            for i, files in enumerate(chunks)
        }
        self.say(f"{sum(map(len, chunks))} images in {len(chunks)} tasks")
        self.gather(pending)

    def video(self):
        source, output = os.path.abspath(self.args.input), os.path.abspath(self.args.output)
        extension = os.path.splitext(output)[1].lower()
        if extension not in CONTAINER_CODECS:
            raise UsageError(f"cannot tell the container of {output} from its extension: use .mkv, .mp4 or .mov")
        parts = os.path.abspath(self.args.parts or output + ".parts")
        plan_args = ["video", "plan", source, parts, "--json", "--device", self.args.device, *self.passthrough]
        self.gather({self.light(call).remote(self.binary, *plan_args): "plan"})
        if self.failures:
            return
        summary = json.loads(self.results[-1]["stdout"])
        if summary.get("version") != 1:
            raise UsageError(f"{self.binary} writes plan version {summary.get('version')}; this driver reads version 1")
        segments, parts = int(summary["segments"]), summary["parts"]
        with open(os.path.join(parts, "plan.json")) as file:
            codec = json.load(file)["settings"]["codec"]
        if codec not in CONTAINER_CODECS[extension]:
            raise UsageError(f"a {extension} file cannot hold {codec}: use .mkv")
        self.say(f"{summary['frames']} frames in {segments} segments ({parts})")
        task = self.heavy(call)
        # Segments are numbered from 0 (`video segment PARTS N`, docs/VIDEO.md).
        self.gather({task.remote(self.binary, "video", "segment", parts, str(i)): f"segment {i}" for i in range(segments)})
        if self.failures:
            return
        self.gather({self.light(call).remote(self.binary, "video", "merge", parts, output): "merge"})
        if not self.failures and not self.args.keep_parts:
            shutil.rmtree(parts)


def parse(argv):
    passthrough = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Exit codes: 0 done, 1 failed, 2 usage.")
    parser.add_argument("--address", help="an existing Ray cluster (HOST:PORT or ray://...); default: a local one")
    parser.add_argument("--bin", help="the aiupscale binary on the nodes (default: $AIUPSCALE_BIN, else aiupscale)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "tensorrt", "auto"])
    parser.add_argument("--max-retries", type=int, default=3, help="Ray retries per task (default 3)")
    parser.add_argument("--cpus-per-task", type=float, default=1, help="Ray CPUs per segment/chunk task")
    parser.add_argument("--json", action="store_true", help="one JSON summary on stdout")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-task lines on stderr")
    jobs = parser.add_subparsers(dest="job", required=True)
    images = jobs.add_parser("images", help="a folder of images, one task per chunk of files")
    images.add_argument("input", metavar="IN_DIR")
    images.add_argument("output", metavar="OUT_DIR")
    images.add_argument("--chunk-size", type=int, default=16, help="files per task (default 16)")
    video = jobs.add_parser("video", help="a video, one task per segment")
    video.add_argument("input", metavar="IN")
    video.add_argument("output", metavar="OUT")
    video.add_argument("--parts", help="the work folder (default OUT.parts)")
    video.add_argument("--keep-parts", action="store_true", help="keep the work folder after OUT is written")
    args = parser.parse_args(argv)
    if "--device" in passthrough or any(a.startswith("--device=") for a in passthrough):
        # The binary refuses a repeated --device, and the driver's decides the GPU request.
        parser.error("give --device to the driver, before the job (not after --)")
    if args.max_retries < 0 or args.cpus_per_task <= 0 or getattr(args, "chunk_size", 1) < 1:
        parser.error("--max-retries must be >= 0, --cpus-per-task and --chunk-size > 0")
    return args, passthrough


def main(argv):
    args, passthrough = parse(argv)
    try:
        import ray
    except ImportError:
        print("aiupscale_ray: Ray is not installed: pip install ray==2.60.0 (scripts/setup installs it into .deps/venv)", file=sys.stderr)
        return 1
    started = time.monotonic()
    if args.address:
        ray.init(address=args.address, logging_level="WARNING")
    else:
        ray.init(include_dashboard=False, logging_level="WARNING")
    driver = Driver(args, passthrough)
    try:
        getattr(driver, args.job)()
    except UsageError as error:
        print(f"aiupscale_ray: {error}", file=sys.stderr)
        return 2
    finally:
        ray.shutdown()
    summary = {
        "done": not driver.failures,
        "tasks": len(driver.results) + len(driver.failures),
        "failed": driver.failures,
        "nodes": len({r["node"] for r in driver.results}),
        "seconds": round(time.monotonic() - started, 3),
        "results": [{k: r[k] for k in ("task", "node", "pid", "seconds")} for r in driver.results],
    }
    if args.json:
        print(json.dumps(summary))
    driver.say(f"{len(driver.results)} tasks done, {len(driver.failures)} failed, on {summary['nodes']} node(s), in {summary['seconds']} s")
    if driver.failures:
        return 2 if all(f.get("usage") for f in driver.failures) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
