"""Headless use through kritarunner (no window, no dialog):

    QT_QPA_PLATFORM=offscreen kritarunner -s aiupscale.batch -f upscale_file IN OUT [options]

(with the pykrita folder on PYTHONPATH). IN is any image Krita opens (.kra, .png, .tif…),
OUT any file Krita exports. Options:

  --model NAME|PATH.onnx|auto   default auto: the catalog's model for --content
  --content photo|footage|animation|realtime   default photo (for --model auto)
  --scale F                default: the model's own scale (2 for auto)
  --denoise S, --grain S   0 (off, default) to 1, as the bridge's options
  --engine auto|ort|openvino, --precision auto|fp32|bf16|int8   default auto, as the bridge's
  --no-provenance          do not record "AI-upscaled by aiupscale ..." in the document info
                           (by default it is, and the export writes it: PNG Description,
                           JPEG Exif ImageDescription)
  --target image|layer-new|layer-inplace   default image (every layer)
  --layer NAME             the layer for layer-*; default: the active or top paint layer
  --result FILE.json       writes ok, error, cancelled, width, height, unchanged, seconds,
                           started (the bridge's started lines: model, engine, precision),
                           provenance (the text recorded, or null)
  --export-on-error        export the document as it is when the upscale failed
  --tile-size N            passed to the bridge

A script of your own can call `upscale_file(args, progress=CALLBACK)`:
CALLBACK(fraction, label) -> bool as in core.upscale_document (False cancels).

Exit codes: 0 done, 1 failed, 2 bad arguments, 3 cancelled. (kritarunner itself exits 0
whatever a script does, so failures end the process with os._exit.)
"""

import argparse
import json
import os
import sys
import time
import traceback

from . import core


def _parser():
    p = argparse.ArgumentParser(prog="kritarunner -s aiupscale.batch -f upscale_file", exit_on_error=False)
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--model", default="auto")
    p.add_argument("--content", choices=core.aiupscale_bridge.CONTENT_CHOICES, default="photo")
    p.add_argument("--denoise", type=float, default=0.0)
    p.add_argument("--grain", type=float, default=0.0)
    p.add_argument("--engine", choices=core.aiupscale_bridge.ENGINE_CHOICES, default="auto")
    p.add_argument("--precision", choices=core.aiupscale_bridge.PRECISION_CHOICES, default="auto")
    p.add_argument("--no-provenance", action="store_true")
    p.add_argument("--scale", type=float)
    p.add_argument("--target", choices=core.TARGETS, default=core.TARGET_IMAGE)
    p.add_argument("--layer")
    p.add_argument("--result")
    p.add_argument("--export-on-error", action="store_true")
    p.add_argument("--tile-size", type=int)
    return p


def _find_layer(doc, name):
    layers = core.paint_layers(doc.rootNode())
    if name:
        node = doc.nodeByName(name)
        if node is None:
            raise core.UpscaleError("no layer named “%s”" % name)
        return node
    node = doc.activeNode()
    if node is not None and node.type() == "paintlayer":
        return node
    if not layers:
        raise core.UpscaleError("the document has no paint layer")
    return layers[-1]


def _export(doc, path):
    doc.setBatchmode(True)
    if not doc.exportImage(path, core.export_options()):
        raise core.UpscaleError("Krita could not export %s" % path)


def upscale_file(args=None, *rest, progress=None):
    """kritarunner entry point; `args` is the list after `-f upscale_file`."""
    argv = list(args) if isinstance(args, (list, tuple)) else [a for a in (args,) + rest if a is not None]
    t0 = time.monotonic()
    result = {"ok": False, "error": None, "cancelled": False}
    code = 1
    try:
        opts = _parser().parse_args([str(a) for a in argv])
    except (argparse.ArgumentError, SystemExit) as e:
        sys.stderr.write("aiupscale.batch: %s\n%s" % (e, _parser().format_usage()))
        sys.stderr.flush()
        os._exit(2)
    from krita import Krita

    k = Krita.instance()
    k.setBatchmode(True)
    doc = None
    try:
        doc = k.openDocument(opts.input)
        if doc is None:
            raise core.UpscaleError("Krita cannot open %s" % opts.input)
        doc.setBatchmode(True)
        doc.waitForDone()
        result["input"] = {"width": doc.width(), "height": doc.height(), "color": [doc.colorModel(), doc.colorDepth()]}
        before = core.document_fingerprint(doc)
        bridge = core.find_bridge()
        scale = opts.scale if opts.scale is not None else core.native_scale(bridge, opts.model)
        extra = ["--tile-size", str(opts.tile_size)] if opts.tile_size else []
        extra += core.option_args(opts.model, opts.content, opts.denoise, opts.grain, opts.engine, opts.precision)
        events = []
        record = not opts.no_provenance
        try:
            if opts.target == core.TARGET_IMAGE:
                out = core.upscale_document(doc, opts.model, scale, bridge, progress, extra, record, events)
            else:
                node = _find_layer(doc, opts.layer)
                out = core.upscale_layer(
                    doc, node, opts.model, scale, opts.target == core.TARGET_LAYER_NEW, bridge, progress, extra,
                    record, events,
                )
        except (core.UpscaleError, core.Cancelled) as e:
            result["cancelled"] = isinstance(e, core.Cancelled)
            result["error"] = "cancelled" if result["cancelled"] else str(e)
            result["unchanged"] = core.document_fingerprint(doc) == before
            if opts.export_on_error:
                _export(doc, opts.output)
            code = 3 if result["cancelled"] else 1
        else:
            target_doc = out if hasattr(out, "exportImage") else doc
            target_doc.setBatchmode(True)
            _export(target_doc, opts.output)
            result.update(ok=True, width=target_doc.width(), height=target_doc.height())
            result["started"] = [e for e in events if e.get("started")]
            result["provenance"] = core.provenance_of(events) if record else None
            result["layers"] = [n.name() for n in target_doc.topLevelNodes()]
            code = 0
    except core.UpscaleError as e:
        result["error"] = str(e)
    except Exception:
        result["error"] = traceback.format_exc()
    result["seconds"] = core.elapsed(t0)
    text = json.dumps(result)
    if opts.result:
        with open(opts.result, "w", encoding="utf-8") as f:
            f.write(text)
    print(text)
    sys.stdout.flush()
    if result["error"]:
        sys.stderr.write("aiupscale.batch: %s\n" % result["error"])
        sys.stderr.flush()
    if code != 0:
        os._exit(code)
    for d in k.documents():
        d.setModified(False)
        d.close()
    return 0
