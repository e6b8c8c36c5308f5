"""Drives Tools > Scripts > AI Upscale… in a real Krita window, as a user would.

AIUPSCALE_KRITA_TEST names a JSON file. Once Krita's first window exists, the driver
opens `open`, stores `options` (model, scale, target) as the plug-in's saved settings
(the dialog starts from them), triggers the menu action `aiupscale_upscale`, and
watches the windows that appear: it accepts the options dialog, records and closes
error boxes (`messages`), and with `cancel_after_progress` presses Cancel in the
progress dialog once it moved. Then it exports the active document to `export`,
writes `result` (JSON: ok, width, height, messages, timings, the dialog's Advanced
choices, the document info, ...) and quits Krita. An
uncaught Python error writes the result and exits with code 3.

Other keys: accept_after_ms (default 300), dialog_shown (a file written once the dialog
is on screen), hold_dialog_until (accept only once this file exists, for screenshots),
extra_args (more arguments for every bridge run, e.g. ["--tile-size", "40"]),
check_undo (after the export, press Undo until the document is back to the original
and record how many presses that took, at most 20), limit_s (default 170).
"""

import json
import os
import sys
import threading
import time
import traceback

from krita import Extension, Krita
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication, QMessageBox, QProgressDialog

ENV = "AIUPSCALE_KRITA_TEST"
ACTION = "aiupscale_upscale"
_T0 = time.monotonic()
_state = {"messages": [], "timings": {}}


def _config():
    if "config" not in _state:
        with open(os.environ[ENV], encoding="utf-8") as f:
            _state["config"] = json.load(f)
    return _state["config"]


def _since_start():
    return round(time.monotonic() - _T0, 3)


def _write_result(result):
    path = _config().get("result")
    if path:
        tmp = path + ".part"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        os.replace(tmp, path)


def _excepthook(kind, value, tb):
    _write_result(
        {"ok": False, "error": "".join(traceback.format_exception(kind, value, tb)), "messages": _state["messages"]}
    )
    os._exit(3)


class Driver(Extension):
    def setup(self):
        sys.excepthook = _excepthook
        Krita.instance().notifier().windowCreated.connect(lambda: QTimer.singleShot(500, _run))
        # Whatever happens, never outlive the test.
        limit = threading.Timer(float(_config().get("limit_s", 170)), lambda: os._exit(4))
        limit.daemon = True
        limit.start()

    def createActions(self, window):
        pass


def _extra_bridge_args(extra):
    """Adds `extra` to every bridge run of the plug-in (its shared bridge module)."""
    from aiupscale import aiupscale_bridge

    original = aiupscale_bridge.upscale_raw

    def upscale_raw(*args, **kwargs):
        kwargs["extra_args"] = list(kwargs.get("extra_args", ())) + [str(a) for a in extra]
        return original(*args, **kwargs)

    aiupscale_bridge.upscale_raw = upscale_raw


def _watch():
    """Runs every 50 ms while the action runs: answers the plug-in's windows."""
    cfg = _config()
    for widget in QApplication.topLevelWidgets():
        if not widget.isVisible():
            continue
        if type(widget).__name__ == "UpscaleDialog" and not _state.get("dialog_seen"):
            _state["dialog_seen"] = True
            _state["timings"]["dialog_shown_s"] = _since_start()
            _state["dialog_models"] = len(widget.models)
            _state["dialog_hint"] = widget.hint.text()
            _state["dialog_advanced"] = {
                "unfolded": widget.fold.isChecked(),
                "engine": widget.engine.currentData(),
                "precision": widget.precision.currentData(),
                "provenance": widget.provenance.isChecked(),
            }
            if cfg.get("dialog_shown"):
                with open(cfg["dialog_shown"], "w", encoding="utf-8") as f:
                    f.write("shown\n")
            _accept_later(widget, cfg)
        elif isinstance(widget, QMessageBox) and id(widget) not in _state.setdefault("boxes", set()):
            _state["boxes"].add(id(widget))
            kind = "error" if widget.icon() == QMessageBox.Critical else "message"
            _state["messages"].append({"kind": kind, "text": widget.text()})
            QTimer.singleShot(0, lambda w=widget: w.done(QMessageBox.Ok))
        elif (
            isinstance(widget, QProgressDialog)
            and cfg.get("cancel_after_progress")
            and widget.value() > 0
            and not _state.get("cancel_pressed")
        ):
            _state["cancel_pressed"] = True
            widget.cancel()


def _accept_later(dialog, cfg):
    hold = cfg.get("hold_dialog_until")
    if not hold:
        QTimer.singleShot(int(cfg.get("accept_after_ms", 300)), dialog.accept)
        return
    deadline = time.monotonic() + 60

    def poll():
        if os.path.exists(hold) or time.monotonic() > deadline:
            dialog.accept()
        else:
            QTimer.singleShot(100, poll)

    QTimer.singleShot(100, poll)


def _run():
    if _state.get("ran"):
        return
    _state["ran"] = True
    from aiupscale import core

    cfg = _config()
    k = Krita.instance()
    _state["timings"]["window_s"] = _since_start()
    doc = k.openDocument(cfg["open"])
    if doc is None:
        _finish({"ok": False, "error": "Krita cannot open %s" % cfg["open"]})
        return
    window = k.activeWindow()
    window.addView(doc)
    k.setActiveDocument(doc)
    doc.waitForDone()
    _state["timings"]["opened_s"] = _since_start()
    _state["original"] = {"width": doc.width(), "height": doc.height()}
    _state["fingerprint"] = core.document_fingerprint(doc)
    _state["document"] = doc
    _state["menu"] = _menu_path(window.qwindow(), ACTION)
    # The dialog starts from the plug-in's saved settings.
    for key, value in cfg.get("options", {}).items():
        k.writeSetting("aiupscale", key, str(value))
    if cfg.get("extra_args"):
        _extra_bridge_args(cfg["extra_args"])
    action = k.action(ACTION)
    if action is None:
        _finish({"ok": False, "error": "the action %s does not exist" % ACTION})
        return
    watcher = QTimer()
    watcher.timeout.connect(_watch)
    watcher.start(50)
    _state["watcher"] = watcher
    t = time.monotonic()
    action.trigger()  # the dialog and the run happen inside
    _state["timings"]["action_s"] = round(time.monotonic() - t, 3)
    QTimer.singleShot(0, _export)


def _export():
    from aiupscale import core

    cfg = _config()
    k = Krita.instance()
    _state["watcher"].stop()
    doc = k.activeDocument()
    doc.waitForDone()
    result = {
        "ok": True,
        "width": doc.width(),
        "height": doc.height(),
        "color": [doc.colorModel(), doc.colorDepth()],
        "documents": len(k.documents()),
        "layers": [n.name() for n in doc.topLevelNodes()],
        "dialog_seen": bool(_state.get("dialog_seen")),
        "dialog_models": _state.get("dialog_models"),
        "dialog_hint": _state.get("dialog_hint"),
        "dialog_advanced": _state.get("dialog_advanced"),
        "document_info": doc.documentInfo(),
        "cancel_pressed": bool(_state.get("cancel_pressed")),
        "original": _state.get("original"),
        "menu": _state.get("menu"),
        "unchanged": core.document_fingerprint(_state["document"]) == _state["fingerprint"],
    }
    if cfg.get("export"):
        k.setBatchmode(True)
        doc.setBatchmode(True)
        result["exported"] = bool(doc.exportImage(cfg["export"], core.export_options()))
    if cfg.get("check_undo"):
        _undo_until_original(doc, result, 0)
    else:
        _finish(result)


def _menu_path(qwindow, action_name):
    """The menu titles leading to the action, e.g. ["Tools", "Scripts", "AI Upscale…"]."""

    def walk(menu, path):
        for action in menu.actions():
            if action.objectName() == action_name:
                return path + [action.text().replace("&", "")]
            sub = action.menu()
            if sub is not None:
                found = walk(sub, path + [action.text().replace("&", "")])
                if found:
                    return found
        return None

    return walk(qwindow.menuBar(), [])


def _undo_until_original(doc, result, presses):
    from aiupscale import core

    doc.waitForDone()
    if core.document_fingerprint(doc) == _state["fingerprint"]:
        result["undo_presses_to_original"] = presses
        _finish(result)
        return
    undo = Krita.instance().action("edit_undo")
    if presses >= 20 or undo is None or not undo.isEnabled():
        result["undo_presses_to_original"] = None
        result["undo_presses_tried"] = presses
        _finish(result)
        return
    undo.trigger()
    QTimer.singleShot(200, lambda: _undo_until_original(doc, result, presses + 1))


def _finish(result):
    result.setdefault("messages", _state["messages"])
    result["timings"] = dict(_state["timings"], total_s=_since_start())
    _write_result(result)
    k = Krita.instance()
    for d in k.documents():
        d.setModified(False)
    QTimer.singleShot(0, QApplication.instance().closeAllWindows)
    QTimer.singleShot(200, QApplication.instance().quit)
    later = threading.Timer(20.0, lambda: os._exit(0))
    later.daemon = True
    later.start()
