"""Automation for tests in a real Krita window; does nothing unless AIUPSCALE_KRITA_TEST
names a JSON file.

With it, once Krita's first window exists the extension opens `open`, triggers the menu
action `aiupscale_upscale` with the dialog preset to `options` and accepted by itself,
exports the active document to `export`, writes `result` (JSON: ok, width, height,
messages, timings) and quits Krita. Error boxes are recorded in `messages` instead of
shown; an uncaught Python error writes the result and exits with code 3.

Other keys: accept_after_ms (default 300), dialog_shown (a file written once the dialog
is on screen), hold_dialog_until (accept only once this file exists, for screenshots),
cancel_after_progress (press Cancel at the first progress report), extra_args (more
arguments for the bridge, e.g. ["--tile-size", "40"]), check_undo (after the
export, press Undo until the document is back to the original and record how many
presses that took, at most 20), quit (default true).
"""

import json
import os
import sys
import threading
import time
import traceback

ENV = "AIUPSCALE_KRITA_TEST"
_T0 = time.monotonic()
_config = None
_state = {"messages": [], "timings": {}}


def _load():
    global _config
    if _config is None:
        path = os.environ.get(ENV, "")
        _config = {}
        if path:
            with open(path, encoding="utf-8") as f:
                _config = json.load(f)
    return _config


def active():
    return bool(_load())


def _since_start():
    return round(time.monotonic() - _T0, 3)


def _write_result(result):
    path = _load().get("result")
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


def arm():
    """Called from Extension.setup(): schedules the test run after the first window."""
    if not active():
        return
    sys.excepthook = _excepthook
    from krita import Krita
    from PyQt5.QtCore import QTimer

    Krita.instance().notifier().windowCreated.connect(lambda: QTimer.singleShot(500, _run))
    # Whatever happens, never outlive the test.
    limit = threading.Timer(float(_load().get("limit_s", 170)), lambda: os._exit(4))
    limit.daemon = True
    limit.start()


def record_message(kind, text):
    """In test mode, keeps a message for the result instead of a message box."""
    if not active():
        return False
    _state["messages"].append({"kind": kind, "text": text})
    return True


def dialog_settings():
    return _load().get("options") if active() else None


def extra_args():
    return list(_load().get("extra_args", [])) if active() else []


def keep_going(fraction):
    if active() and _load().get("cancel_after_progress") and fraction is not None:
        _state["cancel_pressed"] = True
        return False
    return True


def dialog_shown(dialog):
    if not active() or _state.get("dialog_seen"):
        return
    _state["dialog_seen"] = True
    _state["timings"]["dialog_shown_s"] = _since_start()
    _state["dialog_models"] = len(dialog.models)
    from PyQt5.QtCore import QTimer

    cfg = _load()
    if cfg.get("dialog_shown"):
        with open(cfg["dialog_shown"], "w", encoding="utf-8") as f:
            f.write("shown\n")
    hold = cfg.get("hold_dialog_until")
    if hold:
        deadline = time.monotonic() + 60

        def poll():
            if os.path.exists(hold) or time.monotonic() > deadline:
                dialog.accept()
            else:
                QTimer.singleShot(100, poll)

        QTimer.singleShot(100, poll)
    else:
        QTimer.singleShot(int(cfg.get("accept_after_ms", 300)), dialog.accept)


def _run():
    if _state.get("ran"):
        return
    _state["ran"] = True
    from krita import Krita
    from PyQt5.QtCore import QTimer

    from . import core

    cfg = _load()
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
    _state["menu"] = _menu_path(window.qwindow(), "aiupscale_upscale")
    action = k.action("aiupscale_upscale")
    if action is None:
        _finish({"ok": False, "error": "the action aiupscale_upscale does not exist"})
        return
    t = time.monotonic()
    action.trigger()  # the dialog and the run happen inside
    _state["timings"]["action_s"] = round(time.monotonic() - t, 3)
    QTimer.singleShot(0, _export)


def _export():
    from krita import Krita

    from . import core

    cfg = _load()
    k = Krita.instance()
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
    from krita import Krita
    from PyQt5.QtCore import QTimer

    from . import core

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
    from krita import Krita
    from PyQt5.QtCore import QTimer
    from PyQt5.QtWidgets import QApplication

    result.setdefault("messages", _state["messages"])
    result["timings"] = dict(_state["timings"], total_s=_since_start())
    _write_result(result)
    if not _load().get("quit", True):
        return
    k = Krita.instance()
    for d in k.documents():
        d.setModified(False)
    QTimer.singleShot(0, QApplication.instance().closeAllWindows)
    QTimer.singleShot(200, QApplication.instance().quit)
    later = threading.Timer(20.0, lambda: os._exit(0))
    later.daemon = True
    later.start()
