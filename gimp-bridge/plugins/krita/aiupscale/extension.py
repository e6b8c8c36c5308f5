"""The Krita extension: the action `aiupscale_upscale` (Tools > Scripts > AI Upscale…)."""

import traceback

from krita import Extension, Krita

from . import core, dialog

ACTION_ID = "aiupscale_upscale"
SETTINGS_GROUP = "aiupscale"
SETTINGS = ("model", "scale", "target", "content", "denoise", "grain", "engine", "precision", "provenance")


def _settings():
    k = Krita.instance()
    return {key: k.readSetting(SETTINGS_GROUP, key, "") for key in SETTINGS}


def _save_settings(options):
    k = Krita.instance()
    for key in SETTINGS:
        k.writeSetting(SETTINGS_GROUP, key, str(options[key]))


def run_upscale(window=None):
    """The whole interactive flow on the active document: dialog, bridge runs with a
    progress dialog, then the document change (or an error box and no change)."""
    k = Krita.instance()
    window = window or k.activeWindow()
    parent = window.qwindow() if window is not None else None
    doc = k.activeDocument()
    if doc is None:
        dialog.show_error(parent, "Open an image first.")
        return None
    try:
        bridge = core.find_bridge()
        node = doc.activeNode()
        layer_info = node.name() if node is not None else None
        color = core.describe_color(doc.colorModel(), doc.colorDepth())
        core.pixel_format(doc.colorModel(), doc.colorDepth())
    except core.UpscaleError as e:
        dialog.show_error(parent, str(e))
        return None
    try:
        models, models_error = core.list_models(bridge), None
    except core.UpscaleError as e:
        models, models_error = [], str(e)  # a typed model name or .onnx path still works
    doc_info = (doc.width(), doc.height(), color)
    options = dialog.ask(parent, models, _settings(), doc_info, layer_info, models_error)
    if options is None:
        return None
    _save_settings(options)
    progress = dialog.Progress(parent, "Upscaling with %s (x%g)…" % (options["model"], options["scale"]))
    result = None
    try:
        extra = core.option_args(options["model"], options["content"], options["denoise"], options["grain"],
                                 options["engine"], options["precision"])
        record = options["provenance"]
        if options["target"] == core.TARGET_IMAGE:
            core.upscale_document(doc, options["model"], options["scale"], bridge, progress, extra, record)
            result = doc
        else:
            new_document = options["target"] == core.TARGET_LAYER_NEW
            result = core.upscale_layer(
                doc, node, options["model"], options["scale"], new_document, bridge, progress, extra, record
            )
            if new_document and window is not None:
                window.addView(result)
    except core.Cancelled:
        pass  # the user pressed Cancel: the document is as it was
    except core.UpscaleError as e:
        progress.close()
        dialog.show_error(parent, str(e))
        return None
    except Exception:
        progress.close()
        dialog.show_error(parent, "AI Upscale failed:\n\n" + traceback.format_exc())
        return None
    progress.close()
    return result


class AIUpscaleExtension(Extension):
    def __init__(self, parent):
        super().__init__(parent)

    def setup(self):
        pass

    def createActions(self, window):
        action = window.createAction(ACTION_ID, "AI Upscale…", "tools/scripts")
        action.setToolTip("Upscale the image or the current layer with an AI super-resolution model")
        # The Window object given here is a temporary wrapper: look the window up when
        # the action fires.
        action.triggered.connect(lambda checked=False: run_upscale())
