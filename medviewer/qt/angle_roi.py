"""An angle on a plane view: two arms joined at a vertex, each end a handle to drag."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtGui

HIT_PX = 4  # half-width, in screen pixels, of the band around an arm that takes the mouse


class AngleROI(pg.ROI):
    """Three free handles (the end of one arm, the vertex, the end of the other) joined by
    two straight lines; dragging an arm moves the whole angle."""

    def __init__(self, points, **kwargs) -> None:
        super().__init__((0, 0), (1, 1), **kwargs)
        for point in points:
            self.addFreeHandle(point)

    def _corners(self) -> list:
        return [h["item"].pos() for h in self.handles]

    def paint(self, painter, *args) -> None:
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, self._antialias)
        painter.setPen(self.currentPen)
        painter.drawPolyline(QtGui.QPolygonF(self._corners()))

    def boundingRect(self):
        return self.shape().boundingRect()

    def shape(self):
        path = QtGui.QPainterPath()
        corners = self._corners()
        for p0, p1 in zip(corners, corners[1:]):
            arm = p1 - p0
            if arm.manhattanLength() == 0:
                continue
            across = self.pixelVectors(pg.Point(arm))[1]
            if across is None:
                continue
            across = across * HIT_PX
            path.addPolygon(QtGui.QPolygonF([p0 + across, p1 + across, p1 - across, p0 - across]))
            path.closeSubpath()
        return path
