"""Small widget helpers of the AI dock: a combo box's chosen value, a slider with its
readout."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets


def combo_value(combo: QtWidgets.QComboBox):
    """The data of the chosen item (None when nothing is chosen)."""
    return combo.currentData(QtCore.Qt.ItemDataRole.UserRole)


def slider(lo: int, hi: int, value: int) -> QtWidgets.QSlider:
    s = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    return s


def with_value(slider, label) -> QtWidgets.QWidget:
    """``slider`` with ``label`` (its readout) on its right."""
    w = QtWidgets.QWidget()
    h = QtWidgets.QHBoxLayout(w)
    h.setContentsMargins(0, 0, 0, 0)
    h.addWidget(slider, 1)
    label.setMinimumWidth(36)
    h.addWidget(label)
    return w


__all__ = ["combo_value", "slider", "with_value"]
