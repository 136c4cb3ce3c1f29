"""The per-slice probability plot of the AI dock: one curve per class over the image numbers,
the current-slice marker and the marks of slices whose top class changed. Clicking the plot
or dragging the marker reports the image number pointed at (``clicked_at``).

It draws what :class:`medviewer.session.ai_results.RunResults` computes.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore

LEGEND_ROOM = 0.22
"""Probability units above 1.0 the legend row takes."""
MARKER_PEN = pg.mkPen((255, 255, 255, 180), width=1, style=QtCore.Qt.PenStyle.DashLine)


class ProbabilityPlot(pg.PlotWidget):
    """Probability of each class per slice (x: image number, 1-based like the viewer)."""

    clicked_at = QtCore.Signal(float)
    """The image number (data x) the user clicked or dragged the marker to."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(140)
        self.setMaximumHeight(220)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        item = self.getPlotItem()
        item.setLabel("bottom", "slice (image number, as in the viewer)")
        item.setLabel("left", "probability")
        item.showGrid(x=False, y=True, alpha=0.2)
        # room above 1.0 for the legend, one row across the top, so it never hides a curve
        item.setYRange(0.0, 1.0 + LEGEND_ROOM, padding=0.02)
        ticks = [(v / 5, f"{v / 5:.1f}") for v in range(6)]
        item.getAxis("left").setTicks([ticks])
        item.disableAutoRange()
        self.legend = item.addLegend(
            offset=(-4, 2), labelTextSize="8pt", colCount=3, brush=pg.mkBrush(0, 0, 0, 170)
        )
        self.marker = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=MARKER_PEN)
        self.marker.setToolTip("The current slice (drag or click the plot to move)")
        self.marker.sigDragged.connect(lambda line: self.clicked_at.emit(line.value()))
        item.addItem(self.marker, ignoreBounds=True)
        self.scene().sigMouseClicked.connect(self._mouse_clicked)
        self.setToolTip("Probability of each class per slice; click to go to a slice")
        self.hide()  # shown with the first run's curves
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.change_marks = pg.ScatterPlotItem(
            size=9, symbol="t", brush=pg.mkBrush(255, 90, 90), pen=pg.mkPen(None)
        )
        self.change_marks.setToolTip("Slices whose top class changed with the new model")
        item.addItem(self.change_marks, ignoreBounds=True)

    def set_slice_count(self, n: int) -> None:
        self.getPlotItem().setXRange(1, max(n, 2), padding=0.02)

    def set_current(self, index: int) -> None:
        """Put the marker on slice ``index`` (0-based)."""
        self.marker.setValue(index + 1)

    def clear_curves(self) -> None:
        """No curves: the plot is hidden (empty axes told nothing)."""
        for curve in self.curves.values():
            self.removeItem(curve)
        self.curves = {}
        self.legend.clear()
        self.hide()

    def make_curves(self, curves) -> None:
        """New curves (and legend entries) for the classes of ``curves`` (Curve views)."""
        self.clear_curves()
        for c in curves:
            self.curves[c.name] = self.plot(
                [], [], pen=pg.mkPen(c.colour, width=2), name=c.name, connect="finite"
            )
        self.setVisible(bool(self.curves))

    def set_curves(self, curves) -> None:
        """The data of each curve; unclassified slices (NaN) are gaps."""
        for c in curves:
            self.curves[c.name].setData(c.x, c.y, connect="finite")

    def set_change_marks(self, x, y) -> None:
        self.change_marks.setData(x, y)

    def _mouse_clicked(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        vb = self.getPlotItem().vb
        pos = event.scenePos()
        if vb.sceneBoundingRect().contains(pos):
            self.clicked_at.emit(vb.mapSceneToView(pos).x())


__all__ = ["MARKER_PEN", "ProbabilityPlot"]
