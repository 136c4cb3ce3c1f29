"""The AI dock's widgets for running the classifier: the "Model" box (model and device
choice, Run / Cancel / Model card, progress bar, message line) and the "Results" box (series
and slice lines, probability plot). Widgets and setters only; the views they show come from
:mod:`medviewer.session.ai_status` and :mod:`medviewer.session.ai_results`.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.qt.ai.plot import ProbabilityPlot
from medviewer.session.ai_results import NOT_RUN

DEVICES = ("auto", "cpu", "cuda", "mps")
DEVICE_TIPS = {
    "auto": "The GPU when there is one (CUDA, then Apple MPS), otherwise the CPU",
    "cpu": "Always the CPU",
    "cuda": "An NVIDIA GPU (falls back to the CPU with a notice when there is none)",
    "mps": "Apple silicon GPU (falls back to the CPU with a notice when there is none)",
}
TOOLTIP = QtCore.Qt.ItemDataRole.ToolTipRole


class ModelBox(QtWidgets.QGroupBox):
    """Model, device, Run / Cancel / Model card…, progress and messages."""

    def __init__(self, parent=None) -> None:
        super().__init__("Model", parent)
        form = QtWidgets.QFormLayout(self)
        self.model_box = QtWidgets.QComboBox()
        self.model_box.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_box.setMinimumContentsLength(12)
        self.device_box = QtWidgets.QComboBox()
        for i, device in enumerate(DEVICES):
            self.device_box.addItem(device, device)
            self.device_box.setItemData(i, DEVICE_TIPS[device], TOOLTIP)
        form.addRow("Model", self.model_box)
        form.addRow("Device", self.device_box)
        buttons = QtWidgets.QHBoxLayout()
        self.run_button = QtWidgets.QPushButton("Run")
        self.run_button.setToolTip("Classify every slice of the series (current slice first)")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.card_button = QtWidgets.QPushButton("Model card…")
        self.card_button.setToolTip(
            "What the model is for, how it was trained and tested, its limits and licence"
        )
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.card_button)
        form.addRow(buttons)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")  # nothing run yet: no "0%"
        form.addRow(self.progress)
        self.message_label = QtWidgets.QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setObjectName("aiMessages")
        self.message_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.message_label.setVisible(False)
        form.addRow(self.message_label)

    def set_models(self, items) -> None:
        """The model list (ModelItem views), without signals."""
        box = self.model_box
        box.blockSignals(True)
        box.clear()
        for item in items:
            box.addItem(item.text, item.ref)
            box.setItemData(box.count() - 1, item.tip, TOOLTIP)
        box.blockSignals(False)

    def select_model(self, ref) -> None:
        """Select ``ref`` without signals, when it is listed."""
        i = self.model_box.findData(ref) if ref else -1
        if i >= 0:
            self.model_box.blockSignals(True)
            self.model_box.setCurrentIndex(i)
            self.model_box.blockSignals(False)

    def set_progress(self, view) -> None:
        """Show a ProgressView (its None parts leave the bar as it is)."""
        if view.maximum is not None:
            self.progress.setRange(0, view.maximum)
        if view.value is not None:
            self.progress.setValue(view.value)
        if view.format is not None:
            self.progress.setFormat(view.format)

    def set_controls(self, controls, input_button) -> None:
        """Enable what a Controls view allows (``input_button`` lives in the Explain box)."""
        self.run_button.setEnabled(controls.run)
        self.cancel_button.setEnabled(controls.cancel)
        self.model_box.setEnabled(controls.model)
        self.device_box.setEnabled(controls.model)
        input_button.setEnabled(controls.model_input)

    def set_messages(self, text: str) -> None:
        if text:
            self.message_label.setText(text)
            self.message_label.setVisible(True)
        else:
            self.message_label.clear()
            self.message_label.setVisible(False)


class ResultsBox(QtWidgets.QGroupBox):
    """The series result, the current slice's result and the probability plot."""

    def __init__(self, parent=None) -> None:
        super().__init__("Results", parent)
        v = QtWidgets.QVBoxLayout(self)
        self.series_label = QtWidgets.QLabel(NOT_RUN)
        self.series_label.setWordWrap(True)
        self.slice_label = QtWidgets.QLabel("")
        self.slice_label.setWordWrap(True)
        v.addWidget(self.series_label)
        v.addWidget(self.slice_label)
        self.plot = ProbabilityPlot()
        v.addWidget(self.plot)


__all__ = ["DEVICES", "DEVICE_TIPS", "ModelBox", "ResultsBox"]
