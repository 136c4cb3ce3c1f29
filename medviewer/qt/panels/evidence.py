"""The evidence rectangle on the primary plane: drawn with a left-drag, shown per slice.

Coordinates: the view places pixel (r, c) at [c*col_sp, (c+1)*col_sp) x [r*row_sp, ...)
millimetres; this module hands (row0, col0, row1, col1) plane pixel edges to its owner,
which converts them to the slice's pixel coordinates (``session.labeling``).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets


class EvidenceTool(QtCore.QObject):
    """While ``active``, a left-drag on a plane view draws a rectangle (``drawn``); the
    rectangle of the slice shown can be moved and resized (``moved``)."""

    drawn = QtCore.Signal(str, int, object)  # plane, plane index, (r0, c0, r1, c1)
    moved = QtCore.Signal(str, int, object)

    def __init__(self, viewer, parent=None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.active = False
        self._preview = None
        self._roi = None
        self._roi_view = None
        for view in viewer.views.values():
            vb = view.view.view
            previous = vb.mouseDragEvent  # the measurement tools' handler (or pyqtgraph's)
            vb.mouseDragEvent = lambda ev, axis=None, v=view, p=previous: self._drag(v, p, ev, axis)

    def set_active(self, on: bool) -> None:
        self.active = bool(on)
        for view in self.viewer.views.values():
            cursor = QtCore.Qt.CursorShape.CrossCursor if on else QtCore.Qt.CursorShape.ArrowCursor
            view.view.viewport().setCursor(QtGui.QCursor(cursor))

    # -- drawing ------------------------------------------------------------------------------
    @staticmethod
    def _spacing(view) -> tuple[float, float]:
        img = view.image
        return (img.row_spacing, img.col_spacing) if img is not None else (1.0, 1.0)

    def _drag(self, view, previous, event, axis=None) -> None:
        drawing = (
            self.active
            and view is self.viewer.primary
            and view.image is not None
            and not view.view.space_held
            and event.button() == QtCore.Qt.MouseButton.LeftButton
        )
        if not drawing:
            return previous(event) if axis is None else previous(event, axis)
        event.accept()
        vb = view.view.view
        row_sp, col_sp = self._spacing(view)
        a = vb.mapToView(event.buttonDownPos())
        b = vb.mapToView(event.pos())
        rect = (a.y() / row_sp, a.x() / col_sp, b.y() / row_sp, b.x() / col_sp)
        self._show_preview(view, rect)
        if event.isFinish():
            self._clear_preview()
            if abs(rect[2] - rect[0]) < 0.5 or abs(rect[3] - rect[1]) < 0.5:
                return  # a click, not a rectangle
            self.drawn.emit(view.plane, view.index, rect)
        return None

    def _show_preview(self, view, rect) -> None:
        self._clear_preview()
        item = QtWidgets.QGraphicsRectItem(self._mm_rect(view, rect))
        item.setPen(pg.mkPen((255, 255, 255), width=2, style=QtCore.Qt.PenStyle.DashLine))
        view.view.view.addItem(item, ignoreBounds=True)
        self._preview = (view, item)

    def _clear_preview(self) -> None:
        if self._preview is not None:
            view, item = self._preview
            view.view.view.removeItem(item)
            self._preview = None

    def _mm_rect(self, view, rect) -> QtCore.QRectF:
        row_sp, col_sp = self._spacing(view)
        r0, c0, r1, c1 = rect
        x0, x1 = sorted((c0 * col_sp, c1 * col_sp))
        y0, y1 = sorted((r0 * row_sp, r1 * row_sp))
        return QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)

    # -- the stored rectangle -------------------------------------------------------------------
    def show(self, rect, color: str, pending: bool = False) -> None:
        """Show ``rect`` (plane pixel edges) on the primary view, or nothing (None)."""
        self.clear()
        view = self.viewer.primary
        if rect is None or view.image is None:
            return
        r = self._mm_rect(view, rect)
        style = QtCore.Qt.PenStyle.DashLine if pending else QtCore.Qt.PenStyle.SolidLine
        pen = pg.mkPen(color, width=2, style=style)
        roi = pg.RectROI((r.x(), r.y()), (r.width(), r.height()), pen=pen, movable=True)
        roi.setZValue(25)
        roi.setToolTip("Evidence for the slice's label (drag to move, corner to resize)")
        roi.sigRegionChangeFinished.connect(lambda item, v=view: self._roi_moved(v, item))
        view.view.view.addItem(roi, ignoreBounds=True)
        self._roi, self._roi_view = roi, view

    def clear(self) -> None:
        if self._roi is not None:
            self._roi_view.view.view.removeItem(self._roi)
            self._roi = self._roi_view = None

    @property
    def shown(self) -> bool:
        return self._roi is not None

    def shown_rect_mm(self) -> QtCore.QRectF | None:
        if self._roi is None:
            return None
        pos, size = self._roi.pos(), self._roi.size()
        return QtCore.QRectF(pos.x(), pos.y(), size.x(), size.y())

    def _roi_moved(self, view, roi) -> None:
        row_sp, col_sp = self._spacing(view)
        pos, size = roi.pos(), roi.size()
        rect = (
            pos.y() / row_sp,
            pos.x() / col_sp,
            (pos.y() + size.y()) / row_sp,
            (pos.x() + size.x()) / col_sp,
        )
        self.moved.emit(view.plane, view.index, rect)
