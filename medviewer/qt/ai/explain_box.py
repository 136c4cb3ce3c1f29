"""The AI dock's "Explain" box: method and class choice, heat map on / side by side, colours,
opacity and threshold (with their readouts), the colour bar, the lines about the map shown and
the "Model input…" button. Widgets, their values and setters only; the texts come from
:mod:`medviewer.session.explain_view`.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.ai.explain import FAITHFULNESS_HELP, TARGET_INDEPENDENT
from medviewer.qt.ai.widgets import combo_value, slider, with_value
from medviewer.qt.heatmap import COLORMAPS, ColorBar
from medviewer.session import explain_view as view
from medviewer.session.ai_model_view import target_choices, target_index

TOOLTIP = QtCore.Qt.ItemDataRole.ToolTipRole


class ExplainBox(QtWidgets.QGroupBox):
    """The explanation controls and what they say about the map shown."""

    def __init__(self, parent=None) -> None:
        super().__init__("Explain", parent)
        form = QtWidgets.QFormLayout(self)
        self.method_box = QtWidgets.QComboBox()
        for label, method in view.method_choices():
            self.method_box.addItem(label, method)
        self.target_box = QtWidgets.QComboBox()
        self.set_targets(target_choices(None), None)
        form.addRow("Method", self.method_box)
        form.addRow("Class", self.target_box)
        self.method_box.currentIndexChanged.connect(self._class_applies)
        self.heatmap_check = QtWidgets.QCheckBox("Heat map on the image")
        self.heatmap_check.setToolTip("Show where the model looked for this class (H)")
        form.addRow(self.heatmap_check)
        self.side_check = QtWidgets.QCheckBox("Side by side")
        self.side_check.setToolTip("The plain image next to the image with its heat map")
        form.addRow(self.side_check)
        self.cmap_box = QtWidgets.QComboBox()
        for name in COLORMAPS:
            self.cmap_box.addItem(name, name)
        form.addRow("Colours", self.cmap_box)
        self.opacity_slider = slider(0, 100, view.DEFAULT_OPACITY)
        self.opacity_value = QtWidgets.QLabel(view.opacity_text(view.DEFAULT_OPACITY))
        form.addRow("Opacity", with_value(self.opacity_slider, self.opacity_value))
        self.threshold_slider = slider(0, 95, view.DEFAULT_THRESHOLD)
        self.threshold_slider.setToolTip("Hide the map below this fraction of its maximum")
        self.threshold_value = QtWidgets.QLabel(view.threshold_text(self.threshold))
        form.addRow("Threshold", with_value(self.threshold_slider, self.threshold_value))
        row = QtWidgets.QHBoxLayout()
        self.colorbar = ColorBar(self.cmap)
        self.colorbar.set_threshold(self.threshold)
        row.addWidget(self.colorbar)
        info = QtWidgets.QVBoxLayout()
        self.explanation_label = QtWidgets.QLabel("")
        self.explanation_label.setWordWrap(True)
        self.faithfulness_label = QtWidgets.QLabel("")
        self.faithfulness_label.setWordWrap(True)
        self.faithfulness_label.setToolTip(FAITHFULNESS_HELP)
        self.note_label = QtWidgets.QLabel(view.PER_IMAGE_NOTE)
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("color: #9e9e9e;")
        for w in (self.explanation_label, self.faithfulness_label, self.note_label):
            info.addWidget(w)
        info.addStretch(1)
        row.addLayout(info, 1)
        form.addRow(row)
        self.input_button = QtWidgets.QPushButton("Model input…")
        self.input_button.setToolTip(
            "Show exactly what the model sees for this slice: each input channel after "
            "windowing and resizing"
        )
        form.addRow(self.input_button)

    # -- values -------------------------------------------------------------------------------
    @property
    def opacity(self) -> float:
        return self.opacity_slider.value() / 100.0

    @property
    def threshold(self) -> float:
        return self.threshold_slider.value() / 100.0

    @property
    def cmap(self) -> str:
        return combo_value(self.cmap_box) or COLORMAPS[0]

    @property
    def method(self) -> str:
        return combo_value(self.method_box)

    @property
    def target(self) -> str | None:
        return combo_value(self.target_box)

    # -- setters ------------------------------------------------------------------------------
    def set_targets(self, choices, previous) -> None:
        """The class list ((text, class) pairs), keeping ``previous`` chosen when it is
        there; without signals."""
        box = self.target_box
        box.blockSignals(True)
        box.clear()
        for text, value in choices:
            box.addItem(text, value)
        box.setCurrentIndex(target_index(choices, previous))
        box.blockSignals(False)

    def set_method_availability(self, manifest) -> None:
        """Disable the methods ``manifest``'s model cannot run (the reason as tooltip) and
        move off a disabled choice; without signals."""
        box = self.method_box
        model = box.model()
        methods = [box.itemData(i) for i in range(box.count())]
        allowed = view.method_availability(methods, manifest, box.currentIndex())
        box.blockSignals(True)
        for i, (enabled, tip) in enumerate(zip(allowed.enabled, allowed.tips)):
            model.item(i).setEnabled(enabled)
            box.setItemData(i, tip, TOOLTIP)
        if allowed.index != box.currentIndex():
            box.setCurrentIndex(allowed.index)
        box.blockSignals(False)
        self._class_applies()

    def _class_applies(self, *_args) -> None:
        """The Class box is greyed out for a method that draws one map for every class."""
        independent = self.method in TARGET_INDEPENDENT
        self.target_box.setEnabled(not independent)
        self.target_box.setToolTip(
            f"{view.method_label(self.method)} draws the same map for every class"
            if independent
            else "The class whose evidence the map shows"
        )

    def method_enabled(self, method: str) -> bool:
        i = self.method_box.findData(method)
        return i >= 0 and self.method_box.model().item(i).isEnabled()

    def method_tooltip(self, method: str) -> str:
        i = self.method_box.findData(method)
        return self.method_box.itemData(i, TOOLTIP) or ""

    def show_colours(self) -> None:
        """The threshold readout and the colour bar after a colour or threshold change."""
        self.threshold_value.setText(view.threshold_text(self.threshold))
        self.colorbar.set_colormap(self.cmap)
        self.colorbar.set_threshold(self.threshold)

    def show_text(self, title: str, faithfulness: str | None = "", note: str | None = None):
        """The lines about the map; None leaves that line as it is."""
        self.explanation_label.setText(title)
        if faithfulness is not None:
            self.faithfulness_label.setText(faithfulness)
        if note is not None:
            self.note_label.setText(note)


__all__ = ["ExplainBox"]
