"""The work of the plug-in without any dialog: Krita pixels in, the aiupscale bridge,
Krita pixels out.

Everything here takes plain arguments (a Document, a Node, a model name, a scale, a
progress callback) so that `kritarunner` scripts and tests can call it headless; the
dialogs live in `dialog.py`.

The bridge is spoken to through `aiupscale_bridge` (shared with the GIMP 3 plug-in; the
contract is docs/BRIDGE.md): `aiupscale models list --json` for the catalog, and
`aiupscale upscale-raw --progress-json` with the pixels on stdin and stdout, SIGTERM to
cancel.

Krita stores 8- and 16-bit integer RGBA as B, G, R, A (native-endian samples); the
bridge wants R, G, B, A, so red and blue are swapped with bytes slicing (C speed, no
numpy in Krita's Python). Gray/Alpha is G, A in both.

The document is only changed after every bridge run has succeeded: an error or a
cancel leaves it untouched.
"""

import html
import math
import os
import re
import time

from . import aiupscale_bridge

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
BRIDGE_FILE = os.path.join(PLUGIN_DIR, "bridge_path.txt")

TARGET_IMAGE = "image"
TARGET_LAYER_NEW = "layer-new"
TARGET_LAYER_IN_PLACE = "layer-inplace"
TARGETS = (TARGET_IMAGE, TARGET_LAYER_NEW, TARGET_LAYER_IN_PLACE)

# How Krita's other layers and masks are resized when the whole image is upscaled.
KRITA_SCALE_FILTER = "Bicubic"

# (Krita colour model, depth) -> (bridge format, bytes per sample, red/blue swapped).
FORMATS = {
    ("RGBA", "U8"): ("rgba8", 1, True),
    ("RGBA", "U16"): ("rgba16", 2, True),
    ("GRAYA", "U8"): ("graya8", 1, False),
    ("GRAYA", "U16"): ("graya16", 2, False),
}
CHANNELS = {"RGBA": 4, "GRAYA": 2}

MODEL_NAMES = {
    "RGBA": "RGB/Alpha",
    "GRAYA": "Gray/Alpha",
    "CMYKA": "CMYK/Alpha",
    "LABA": "L*a*b*/Alpha",
    "XYZA": "XYZ/Alpha",
    "YCbCrA": "YCbCr/Alpha",
}
DEPTH_NAMES = {"U8": "8-bit integer", "U16": "16-bit integer", "F16": "16-bit float", "F32": "32-bit float"}

# A failure to show the user as it is (the document was not changed), and a cancel.
UpscaleError = aiupscale_bridge.BridgeError
Cancelled = aiupscale_bridge.Cancelled


# --------------------------------------------------------------------------- bridge


def find_bridge():
    """The aiupscale program: $AIUPSCALE_BRIDGE, else the path `aiupscale install krita`
    wrote next to this file, else `aiupscale` on PATH."""
    return aiupscale_bridge.find_bridge([BRIDGE_FILE], "aiupscale install krita")


def list_models(bridge):
    """The catalog (dicts: name, description, scale, content, cost, fetched, licence)."""
    return aiupscale_bridge.list_models(bridge)


def native_scale(bridge, model, default=2.0):
    """The catalog scale of `model`, or `default` (for .onnx paths and unknown names)."""
    return aiupscale_bridge.native_scale(list_models(bridge), model, default)


def scaled_size(size, scale):
    """The bridge's output size for `--scale`: round half away from zero, at least 1."""
    return max(1, int(math.floor(size * float(scale) + 0.5)))


# The bridge arguments of the dialog's choices beyond model and scale (content,
# denoise, grain, engine, precision), shared with the GIMP 3 plug-in.
option_args = aiupscale_bridge.option_args


def run_bridge(pixels, width, height, fmt, model=None, scale=None, bridge=None, progress=None, extra_args=(),
               events=None):
    """Upscales packed `pixels` (width x height, bridge format `fmt`); returns (bytes,
    out_width, out_height). `progress(fraction)` as in aiupscale_bridge.upscale_raw:
    called about every 50 ms, returns False to cancel (Cancelled is raised). `events`,
    a list, gets the `started` and `done` lines."""
    record = events.append if events is not None else None
    return aiupscale_bridge.upscale_raw(
        bridge or find_bridge(), pixels, width, height, fmt, model, scale, extra_args=extra_args, progress=progress,
        started=record, done=record,
    )


def provenance_of(events):
    """The provenance text of the last `done` line in `events` (None when there is none)."""
    texts = [e.get("provenance") for e in events if e.get("done") and e.get("provenance")]
    return texts[-1] if texts else None


_ABSTRACT = re.compile(r"<abstract>(?:<!\[CDATA\[(.*?)\]\]>)?(.*?)</abstract>|<abstract\s*/>", re.S)


def record_provenance(doc, text):
    """Adds `text` to the document's abstract (File > Document Information): .kra files
    keep it, and exports with "Store document metadata" write it (PNG Description, JPEG
    Exif ImageDescription). What the abstract held stays; the same text is not added twice."""
    if not text:
        return
    info = doc.documentInfo()
    match = _ABSTRACT.search(info)
    if match is None:
        return  # not the document-info XML Krita 5 writes: leave it as it is
    held = (match.group(1) or "") + html.unescape(match.group(2) or "")
    if text in held:
        return
    merged = (held.rstrip() + "\n" if held.strip() else "") + text
    element = "<abstract><![CDATA[%s]]></abstract>" % merged.replace("]]>", "]]]]><![CDATA[>")
    doc.setDocumentInfo(info[: match.start()] + element + info[match.end() :])


# --------------------------------------------------------------------------- pixels


def describe_color(model, depth):
    return "%s %s" % (MODEL_NAMES.get(model, model), DEPTH_NAMES.get(depth, depth))


def pixel_format(model, depth, what="image"):
    """(bridge format, bytes per sample, swap red/blue) for a Krita colour space, or an
    UpscaleError naming what is supported."""
    try:
        return FORMATS[(model, depth)]
    except KeyError:
        raise UpscaleError(
            "AI Upscale works on RGB/Alpha or Gray/Alpha images with 8- or 16-bit integer channels; "
            "this %s is %s.\n\nConvert it first with Image > Convert Image Color Space…" % (what, describe_color(model, depth))
        )


def swap_red_blue(data, sample_bytes):
    """Krita's B,G,R,A <-> the bridge's R,G,B,A (the swap is its own inverse)."""
    src = bytes(data)
    out = bytearray(src)
    step = 4 * sample_bytes
    for b in range(sample_bytes):
        out[b::step] = src[2 * sample_bytes + b :: step]
        out[2 * sample_bytes + b :: step] = src[b::step]
    return bytes(out)


def to_bridge(data, fmt_info):
    return swap_red_blue(data, fmt_info[1]) if fmt_info[2] else bytes(data)


from_bridge = to_bridge


# --------------------------------------------------------------------------- documents


def paint_layers(node):
    """Every paint layer under `node`, groups included, masks excluded, top-down order
    of the tree walk."""
    found = []
    for child in node.childNodes():
        kind = child.type()
        if kind == "paintlayer":
            found.append(child)
        elif kind == "grouplayer":
            found.extend(paint_layers(child))
    return found


def _rect(r):
    return (r.x(), r.y(), r.width(), r.height())


def _intersect(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def _check_scale(scale):
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        raise UpscaleError("The scale must be a number (got %r)." % (scale,))
    if not (math.isfinite(scale) and 0 < scale <= 64):
        raise UpscaleError("The scale must be between 0 and 64 (got %g)." % scale)
    return scale


class _Progress:
    """Spreads several bridge runs over one 0..1 progress, weighted by pixel count."""

    def __init__(self, callback, weights):
        self.callback = callback
        total = float(sum(weights)) or 1.0
        self.starts = []
        acc = 0.0
        for w in weights:
            self.starts.append(acc / total)
            acc += w
        self.sizes = [w / total for w in weights]
        self.index = 0
        self.label = None

    def part(self, index, label):
        self.index = index
        self.label = label
        return self._sub

    def _sub(self, fraction):
        if self.callback is None:
            return True
        overall = None
        if fraction is not None:
            overall = self.starts[self.index] + self.sizes[self.index] * max(0.0, min(1.0, fraction))
        return self.callback(overall, self.label)


def _upscale_region(node, rect, fmt_info, model, scale, bridge, progress, extra_args, events, projection=False):
    x, y, w, h = rect
    raw = node.projectionPixelData(x, y, w, h) if projection else node.pixelData(x, y, w, h)
    data = to_bridge(raw, fmt_info)
    out, out_w, out_h = run_bridge(data, w, h, fmt_info[0], model, scale, bridge, progress, extra_args, events)
    return from_bridge(out, fmt_info), out_w, out_h


def _replace_pixels(doc, node, rect, data, clear=None):
    """Puts `data` into a copy of `node` and swaps the copy in (two undoable steps:
    Krita 5.1's Node.setPixelData writes outside the undo history, so the original
    layer is kept by the remove command instead of being overwritten)."""
    copy = node.duplicate()
    if clear is not None:
        cx, cy, cw, ch = clear
        copy.setPixelData(bytes(len(data) // (rect[2] * rect[3]) * cw * ch), cx, cy, cw, ch)
    copy.setPixelData(data, *rect)
    active = doc.activeNode()
    was_active = active is not None and active.uniqueId() == node.uniqueId()
    parent = node.parentNode()
    parent.addChildNode(copy, node)
    node.remove()
    if was_active:
        doc.setActiveNode(copy)
    return copy


def _restore_resolution(doc, xres, yres):
    """Krita 5.1's Document.scaleImage divides the resolution by 72 in integers (300 ppi
    comes back as 288); put the original back. Resolutions that are multiples of 72
    survive and need nothing; otherwise this is one more undo step (setResolution is a
    same-size Scale Image), two when x and y differ."""
    if abs(doc.xRes() - xres) < 0.5 and abs(doc.yRes() - yres) < 0.5:
        return
    if int(round(xres)) == int(round(yres)):
        doc.setResolution(int(round(xres)))
    else:
        doc.setXRes(xres)
        doc.setYRes(yres)
    doc.waitForDone()


def upscale_document(doc, model=None, scale=2.0, bridge=None, progress=None, extra_args=(), provenance=True,
                     events=None):
    """Upscales the whole document by `scale`: the canvas and every layer and mask are
    scaled by Krita (Image > Scale Image, bicubic), then each paint layer's pixels are
    replaced by the model's output; with `provenance`, the document info records that
    (record_provenance).

    `progress(fraction, label)` -> bool as in run_bridge (label names the layer);
    `events` (a list) gets the bridge's `started` and `done` lines.
    Returns a dict: width, height, layers (names upscaled). Raises UpscaleError or
    Cancelled with the document untouched."""
    events = [] if events is None else events
    scale = _check_scale(scale)
    bridge = bridge or find_bridge()
    width, height = doc.width(), doc.height()
    new_w, new_h = scaled_size(width, scale), scaled_size(height, scale)
    canvas = (0, 0, width, height)
    layers = paint_layers(doc.rootNode())
    jobs = []
    for node in layers:
        if node.animated():
            raise UpscaleError("Layer “%s” is animated; AI Upscale works on still images only." % node.name())
        fmt_info = pixel_format(node.colorModel(), node.colorDepth(), "layer (“%s”)" % node.name())
        bounds = _intersect(_rect(node.bounds()), canvas)
        if bounds is None:
            continue  # nothing on the canvas: Krita's own scaling is all it needs
        if scale.is_integer():
            # Only the painted part (plus a margin so the model sees the same
            # neighbourhood); integer scales keep every output pixel aligned.
            m = 16
            region = _intersect((bounds[0] - m, bounds[1] - m, bounds[2] + 2 * m, bounds[3] + 2 * m), canvas)
        else:
            region = canvas
        jobs.append((node, region, fmt_info))
    meter = _Progress(progress, [r[2] * r[3] for _, r, _ in jobs])
    results = []
    for i, (node, region, fmt_info) in enumerate(jobs):
        label = "Layer %d of %d: %s" % (i + 1, len(jobs), node.name())
        data, out_w, out_h = _upscale_region(
            node, region, fmt_info, model, scale, bridge, meter.part(i, label), extra_args, events
        )
        if scale.is_integer():
            s = int(scale)
            target = (region[0] * s, region[1] * s, region[2] * s, region[3] * s)
        else:
            target = (0, 0, new_w, new_h)
        if (out_w, out_h) != target[2:]:
            raise UpscaleError("aiupscale returned %dx%d pixels, expected %dx%d" % (out_w, out_h, target[2], target[3]))
        results.append((node, target, data))

    # Every run succeeded: now change the document.
    xres, yres = doc.xRes(), doc.yRes()
    doc.scaleImage(new_w, new_h, int(round(xres)), int(round(yres)), KRITA_SCALE_FILTER)
    doc.waitForDone()
    _restore_resolution(doc, xres, yres)
    for node, target, data in results:
        _replace_pixels(doc, node, target, data)
    if provenance:
        record_provenance(doc, provenance_of(events))
    doc.waitForDone()
    doc.refreshProjection()
    return {"width": new_w, "height": new_h, "layers": [n.name() for n, _, _ in results]}


def upscale_layer(doc, node, model=None, scale=2.0, new_document=True, bridge=None, progress=None, extra_args=(),
                  provenance=True, events=None):
    """Upscales one layer by `scale`; `provenance`, `events` as in upscale_document (a new
    document starts from the source's document info).

    new_document=True: the layer as it shows on the canvas (any layer type; groups are
    rendered) becomes a new document of canvas size x scale, same colour space and
    resolution; returns that Document (not yet shown in a window).
    new_document=False: a paint layer's pixels are replaced in place, anchored at the
    top-left corner of its content (the canvas keeps its size); returns `doc`."""
    scale = _check_scale(scale)
    if node is None:
        raise UpscaleError("There is no current layer.")
    if node.animated():
        raise UpscaleError("Layer “%s” is animated; AI Upscale works on still images only." % node.name())
    bridge = bridge or find_bridge()
    events = [] if events is None else events
    is_paint = node.type() == "paintlayer"
    if new_document:
        fmt_info = pixel_format(node.colorModel(), node.colorDepth(), "layer (“%s”)" % node.name())
        region = (0, 0, doc.width(), doc.height())
        meter = _Progress(progress, [1])
        data, out_w, out_h = _upscale_region(
            node, region, fmt_info, model, scale, bridge, meter.part(0, "Layer: %s" % node.name()), extra_args,
            events, projection=not is_paint,
        )
        from krita import Krita

        title = "%s (AI x%g)" % (node.name(), scale)
        new = Krita.instance().createDocument(
            out_w, out_h, title, node.colorModel(), node.colorDepth(), doc.colorProfile(), doc.xRes()
        )
        if new is None:
            raise UpscaleError("Krita could not create a %dx%d document." % (out_w, out_h))
        layer = new.topLevelNodes()[0]
        layer.setName(node.name())
        layer.setPixelData(data, 0, 0, out_w, out_h)
        new.setDocumentInfo(doc.documentInfo())
        if provenance:
            record_provenance(new, provenance_of(events))
        new.refreshProjection()
        return new
    if not is_paint:
        raise UpscaleError("“%s” is not a paint layer; upscale it as a new document, or the whole image." % node.name())
    fmt_info = pixel_format(node.colorModel(), node.colorDepth(), "layer (“%s”)" % node.name())
    bounds = _rect(node.bounds())
    if bounds[2] <= 0 or bounds[3] <= 0:
        raise UpscaleError("Layer “%s” is empty." % node.name())
    meter = _Progress(progress, [1])
    data, out_w, out_h = _upscale_region(
        node, bounds, fmt_info, model, scale, bridge, meter.part(0, "Layer: %s" % node.name()), extra_args, events
    )
    _replace_pixels(doc, node, (bounds[0], bounds[1], out_w, out_h), data, clear=bounds)
    if provenance:
        record_provenance(doc, provenance_of(events))
    doc.waitForDone()
    doc.refreshProjection()
    return doc


def export_options():
    """Export settings that write the document's pixels as they are: Krita's defaults
    for an empty InfoObject convert PNGs to its built-in sRGB, which moves 16-bit values
    by a few levels; and its default leaves the document info out."""
    from krita import InfoObject

    info = InfoObject()
    info.setProperty("forceSRGB", False)
    info.setProperty("saveSRGBProfile", False)
    # The document info (with the provenance) goes into the file: PNG Description, JPEG
    # Exif ImageDescription. Krita's default writes none.
    info.setProperty("storeMetaData", True)
    return info


def document_fingerprint(doc):
    """Size, resolution and every layer's name, type and pixels (for "untouched" checks)."""
    import hashlib

    digest = hashlib.sha256()

    def walk(node, depth):
        for child in node.childNodes():
            b = _rect(child.bounds())
            digest.update(("%d|%s|%s|%r|" % (depth, child.name(), child.type(), b)).encode())
            if b[2] > 0 and b[3] > 0:
                digest.update(bytes(child.pixelData(*b)))
            walk(child, depth + 1)

    walk(doc.rootNode(), 0)
    return "%dx%d@%g:%s" % (doc.width(), doc.height(), doc.xRes(), digest.hexdigest())


def elapsed(t0):
    return round(time.monotonic() - t0, 3)
