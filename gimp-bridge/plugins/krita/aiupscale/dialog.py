"""The options dialog, the progress dialog and error boxes of Tools > Scripts > AI Upscale…"""

import os

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QApplication,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QRadioButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from . import core

TITLE = "AI Upscale"
# "auto": the catalog's model for the content and scale (the bridge chooses).
DEFAULT_MODEL = "auto"
CONTENT_LABELS = {
    "photo": "Photo",
    "footage": "Footage (real camera video frames)",
    "animation": "Animation",
    "realtime": "Real-time (fastest)",
}
TARGET_LABELS = {
    core.TARGET_IMAGE: "Whole image (all layers)",
    core.TARGET_LAYER_NEW: "Current layer, as a new document",
    core.TARGET_LAYER_IN_PLACE: "Current layer, in place",
}


def show_error(parent, text, title=TITLE):
    """An error box."""
    QMessageBox.critical(parent, title, text)


class UpscaleDialog(QDialog):
    """Model, scale and target; `options()` gives what was chosen. `models_error` says
    why the catalog is missing, when it is."""

    def __init__(self, parent, models, settings, doc_info, layer_info, models_error=None):
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.models = models
        self.models_error = models_error
        self.doc_info = doc_info  # (width, height, colour text)

        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setMinimumContentsLength(28)
        self.model.addItem("auto  (the catalog's model for the content)", "auto")
        for entry in models:
            text = "%s  (x%d, %s%s)" % (
                entry["name"],
                entry["scale"],
                entry["content"],
                "" if entry["fetched"] else ", not fetched",
            )
            self.model.addItem(text, entry["name"])
        browse = QPushButton("Browse…")
        browse.setToolTip("Use an .onnx model file")
        browse.clicked.connect(self._browse)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(browse)
        model_box = QWidget()
        model_box.setLayout(model_row)
        model_row.setContentsMargins(0, 0, 0, 0)

        self.scale = QDoubleSpinBox()
        self.scale.setRange(1.0, 16.0)
        self.scale.setDecimals(2)
        self.scale.setSingleStep(0.5)
        self.scale.setSuffix(" ×")
        self.scale.valueChanged.connect(self._update_info)

        self.targets = QButtonGroup(self)
        target_box = QVBoxLayout()
        self.target_buttons = {}
        for i, key in enumerate(core.TARGETS):
            label = TARGET_LABELS[key]
            if key != core.TARGET_IMAGE and layer_info:
                label += " (“%s”)" % layer_info
            button = QRadioButton(label)
            self.targets.addButton(button, i)
            self.target_buttons[key] = button
            target_box.addWidget(button)
        if not layer_info:
            self.target_buttons[core.TARGET_LAYER_NEW].setEnabled(False)
            self.target_buttons[core.TARGET_LAYER_IN_PLACE].setEnabled(False)
        target_widget = QWidget()
        target_widget.setLayout(target_box)
        target_box.setContentsMargins(0, 0, 0, 0)

        self.content = QComboBox()
        for name in core.aiupscale_bridge.CONTENT_CHOICES:
            self.content.addItem(CONTENT_LABELS.get(name, name), name)
        self.content.setToolTip("What the picture is, to choose the model when it is auto")
        self.content.currentIndexChanged.connect(lambda _: self._update_info())

        def strength(tooltip):
            spin = QDoubleSpinBox()
            spin.setRange(0.0, 1.0)
            spin.setDecimals(2)
            spin.setSingleStep(0.05)
            spin.setToolTip(tooltip)
            return spin

        self.denoise = strength(
            "Edge-preserving denoise before upscaling, tuned to the noise measured in the image: 0 is off, 1 the strongest"
        )
        self.grain = strength("Fine film-like grain added after upscaling (luminance only, reproducible): 0 is off")

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #c06000")

        form = QFormLayout()
        form.addRow("Model:", model_box)
        form.addRow("Content:", self.content)
        form.addRow("Scale:", self.scale)
        form.addRow("Denoise:", self.denoise)
        form.addRow("Grain:", self.grain)
        form.addRow("Upscale:", target_widget)

        # "Advanced": engine, precision, provenance; folded unless a choice is not the default.
        bridge = core.aiupscale_bridge

        def choices(names, labels, saved, tooltip):
            combo = QComboBox()
            for name in names:
                combo.addItem(labels.get(name, name), name)
            combo.setCurrentIndex(max(combo.findData(saved or "auto"), 0))
            combo.setToolTip(tooltip)
            return combo

        self.engine = choices(bridge.ENGINE_CHOICES, bridge.ENGINE_LABELS, settings.get("engine"),
                              "The inference engine (--engine)")
        self.precision = choices(bridge.PRECISION_CHOICES, bridge.PRECISION_LABELS, settings.get("precision"),
                                 "The arithmetic precision (--precision); one this computer or model cannot run "
                                 "gives an error that says what to choose instead")
        self.provenance = QCheckBox(bridge.PROVENANCE_LABEL)
        self.provenance.setToolTip("Kept in .kra files (File > Document Information, abstract) and in exports "
                                   "with \"Store document metadata\"")
        self.provenance.setChecked(settings.get("provenance") != "False")
        advanced = QFormLayout()
        advanced.addRow("Engine:", self.engine)
        advanced.addRow("Precision:", self.precision)
        advanced.addRow(self.provenance)
        self.advanced = QWidget()
        self.advanced.setLayout(advanced)
        advanced.setContentsMargins(16, 0, 0, 0)
        self.fold = QToolButton()
        self.fold.setText("Advanced")
        self.fold.setCheckable(True)
        self.fold.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.fold.setStyleSheet("QToolButton { border: none; }")
        self.fold.toggled.connect(self._fold)
        unfolded = (self.engine.currentData(), self.precision.currentData()) != ("auto", "auto")
        self.fold.setChecked(unfolded or not self.provenance.isChecked())
        self._fold(self.fold.isChecked())

        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Upscale")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.fold)
        layout.addWidget(self.advanced)
        layout.addWidget(self.info)
        layout.addWidget(self.hint)
        layout.addWidget(buttons)

        # Last choices (or the test's), then defaults.
        model = settings.get("model") or DEFAULT_MODEL
        self.set_model(model)
        scale = settings.get("scale")
        if scale:
            self.scale.setValue(float(scale))
        index = self.content.findData(settings.get("content") or "photo")
        self.content.setCurrentIndex(max(index, 0))
        for key, spin in (("denoise", self.denoise), ("grain", self.grain)):
            try:
                spin.setValue(float(settings.get(key) or 0.0))
            except ValueError:
                spin.setValue(0.0)
        target = settings.get("target") or core.TARGET_IMAGE
        button = self.target_buttons.get(target)
        if button is None or not button.isEnabled():
            button = self.target_buttons[core.TARGET_IMAGE]
        button.setChecked(True)
        self.model.currentIndexChanged.connect(self._model_changed)
        self.model.editTextChanged.connect(lambda _: self._update_info())
        self._update_info()

    def _fold(self, unfolded):
        self.fold.setArrowType(Qt.DownArrow if unfolded else Qt.RightArrow)
        self.advanced.setVisible(unfolded)
        self.adjustSize()

    def set_model(self, name):
        index = self.model.findData(name)
        if index >= 0:
            self.model.setCurrentIndex(index)
            self._model_changed(index)
        else:
            self.model.setEditText(name)
            self._update_info()

    def _browse(self):
        path, _ = QFileDialog.getOpenFileName(self, "ONNX model", os.path.expanduser("~"), "ONNX models (*.onnx)")
        if path:
            self.model.setEditText(path)

    def _model_changed(self, index):
        entry = self._entry()
        if entry is not None:
            self.scale.setValue(float(entry["scale"]))
        self._update_info()

    def _entry(self):
        name = self.model_name()
        for entry in self.models:
            if entry["name"] == name:
                return entry
        return None

    def model_name(self):
        index = self.model.currentIndex()
        text = self.model.currentText().strip()
        if index >= 0 and text == self.model.itemText(index):
            return self.model.itemData(index)
        return text

    def _update_info(self):
        w, h, color = self.doc_info
        s = self.scale.value()
        self.info.setText(
            "Image: %d × %d, %s → %d × %d" % (w, h, color, core.scaled_size(w, s), core.scaled_size(h, s))
        )
        entry = self._entry()
        self.content.setEnabled(self.model_name() in ("", "auto"))
        if self.models_error:
            self.hint.setText("The model list is not available: %s" % self.models_error)
        elif entry is not None and not entry["fetched"]:
            self.hint.setText("This model is not fetched yet: it is fetched on first use (a download).")
        elif entry is not None and abs(s - entry["scale"]) > 1e-9:
            self.hint.setText(
                "The model upscales x%d; the result is then resized to x%g with a classic filter." % (entry["scale"], s)
            )
        else:
            self.hint.setText("")

    def options(self):
        target = core.TARGET_IMAGE
        for key, button in self.target_buttons.items():
            if button.isChecked():
                target = key
        return {
            "model": self.model_name(),
            "scale": self.scale.value(),
            "target": target,
            "content": self.content.currentData() or "photo",
            "denoise": self.denoise.value(),
            "grain": self.grain.value(),
            "engine": self.engine.currentData() or "auto",
            "precision": self.precision.currentData() or "auto",
            "provenance": self.provenance.isChecked(),
        }


class Progress:
    """A modal QProgressDialog driven by core's progress callback; Cancel stops the
    bridge (SIGTERM)."""

    def __init__(self, parent, text):
        self.dialog = QProgressDialog(text, "Cancel", 0, 1000, parent)
        self.dialog.setWindowTitle(TITLE)
        self.dialog.setWindowModality(Qt.WindowModal)
        self.dialog.setMinimumDuration(0)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.setMinimumWidth(380)
        self.dialog.setValue(0)
        self.text = text
        self.label = None
        self.dialog.show()
        QApplication.processEvents()

    def __call__(self, fraction, label=None):
        if label and label != self.label:
            self.label = label
            self.dialog.setLabelText("%s\n%s" % (self.text, label))
        if fraction is not None:
            self.dialog.setValue(int(round(fraction * 1000)))
        QApplication.processEvents()
        if self.dialog.wasCanceled():
            self.dialog.setLabelText("Cancelling…")
            return False
        return True

    def close(self):
        self.dialog.close()
        self.dialog.deleteLater()


def ask(parent, models, settings, doc_info, layer_info, models_error=None):
    """Shows the options dialog; returns the options or None."""
    dialog = UpscaleDialog(parent, models, settings, doc_info, layer_info, models_error)
    if dialog.exec_() != QDialog.Accepted:
        return None
    return dialog.options()
