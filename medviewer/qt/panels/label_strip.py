"""A strip of coloured cells, one per slice: the label (top row) and the model (bottom row)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

EMPTY = (45, 45, 45, 255)
MARKER_PEN = pg.mkPen((255, 255, 255, 220), width=2)


def rgba(color: str | None, alpha: int = 255) -> tuple[int, int, int, int]:
    if not color:
        return EMPTY
    c = QtGui.QColor(color)
    return (c.red(), c.green(), c.blue(), alpha)


class LabelStrip(pg.PlotWidget):
    """Slice numbers across (1..n, as the viewer shows them); click a cell to go there."""

    slice_clicked = QtCore.Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setFixedHeight(64)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        item = self.getPlotItem()
        item.hideAxis("left")
        item.getAxis("bottom").setHeight(18)
        item.setContentsMargins(2, 2, 2, 0)
        self.image = pg.ImageItem(axisOrder="row-major")
        item.addItem(self.image)
        self.marker = pg.InfiniteLine(pos=0.5, angle=90, movable=False, pen=MARKER_PEN)
        item.addItem(self.marker, ignoreBounds=True)
        self._colors = np.zeros((2, 0, 4), dtype=np.uint8)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.setToolTip(
            "Top: your labels per slice; bottom: the model's top class. Click: go there"
        )
        self.hide()  # no series: no strip (not an empty axis from -0.4 to 0.4)

    @property
    def count(self) -> int:
        return int(self._colors.shape[1])

    def set_count(self, n: int) -> None:
        self.setVisible(n > 0)
        self._colors = np.zeros((2, n, 4), dtype=np.uint8)
        self._colors[:, :] = EMPTY
        self._show()
        item = self.getPlotItem()
        item.setXRange(0.5, max(n, 1) + 0.5, padding=0)
        item.setYRange(0, 2, padding=0)

    def set_labels(self, colors: list[str | None]) -> None:
        for k, color in enumerate(colors[: self.count]):
            self._colors[0, k] = rgba(color)
        self._show()

    def set_label(self, index: int, color: str | None) -> None:
        if 0 <= index < self.count:
            self._colors[0, index] = rgba(color)
            self._show()

    def set_model(self, colors: list[str | None]) -> None:
        for k, color in enumerate(colors[: self.count]):
            self._colors[1, k] = rgba(color, 200) if color else EMPTY
        self._show()

    def colors(self) -> np.ndarray:
        """(2, n, 4) uint8: row 0 labels, row 1 the model (for tests)."""
        return self._colors.copy()

    def set_current(self, index: int) -> None:
        self.marker.setValue(index + 1)

    def _show(self) -> None:
        # row 1 (model) at y 0..1, row 0 (labels) at y 1..2; slice k covers x k+0.5..k+1.5
        n = self.count
        if n == 0:
            self.image.clear()
            return
        self.image.setImage(self._colors[::-1], levels=(0, 255), autoLevels=False)
        self.image.setRect(QtCore.QRectF(0.5, 0.0, n, 2.0))

    def _clicked(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        vb = self.getPlotItem().vb
        pos = event.scenePos()
        if vb.sceneBoundingRect().contains(pos):
            self.clicked_at(vb.mapSceneToView(pos).x())

    def clicked_at(self, x: float) -> None:
        """Go to the slice under data coordinate ``x`` (an image number, 1-based)."""
        if self.count and np.isfinite(x):
            self.slice_clicked.emit(int(min(max(round(float(x)) - 1, 0), self.count - 1)))
