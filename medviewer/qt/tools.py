"""Measurement tools on a PlaneView: ruler, angle, rectangle / ellipse ROI, pixel probe.

An angle is drawn as one drag along its first arm (from its end to the vertex) and a click
where the second arm ends; until that click the second arm follows the mouse.

Geometry lives in the session's MeasurementStore in (row, col) pixel coordinates, where pixel
(r, c) covers [r, r+1) x [c, c+1); the view places image pixel (r, c) at
[c*col_sp, (c+1)*col_sp) x [r*row_sp, (r+1)*row_sp) millimetres. This module only converts
between the two and keeps pyqtgraph ROIs in step with the store.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore

from medviewer.qt.angle_roi import AngleROI
from medviewer.session.measure import Measurement, calibrated

TOOLS = ("ruler", "angle", "rect", "ellipse", "probe")
LINES = ("ruler", "angle")
PEN = pg.mkPen((255, 210, 60), width=2)
HOVER_PEN = pg.mkPen((255, 240, 150), width=2)


class MeasurementTools(QtCore.QObject):
    """Draws and edits the measurements of one PlaneView; one tool active at a time."""

    changed = QtCore.Signal()

    def __init__(self, plane_view, session) -> None:
        super().__init__(plane_view)
        self.plane_view = plane_view
        self.session = session
        self.tool: str | None = None
        self.selected: int | None = None
        self._items: dict[int, tuple] = {}
        self._drawing: tuple | None = None
        vb = plane_view.view.view
        self._navigate_drag = vb.mouseDragEvent
        vb.mouseDragEvent = self._drag  # pyqtgraph's scene calls this Python method
        vb.scene().sigMouseClicked.connect(self._clicked)
        vb.scene().sigMouseMoved.connect(self._hovered)
        self._first_arm: tuple | None = None  # an angle waiting for its second arm
        plane_view.view.installEventFilter(self)  # Esc drops it

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        if (
            self._first_arm is not None
            and event.type() == QtCore.QEvent.Type.KeyPress
            and event.key() == QtCore.Qt.Key.Key_Escape
        ):
            self.cancel_drawing()
            return True
        return False

    # -- state ----------------------------------------------------------------------------
    @property
    def key(self) -> tuple:
        series = self.session.volume.series if self.session.volume is not None else None
        return (series.key if series else "", self.plane_view.plane, self.plane_view.index)

    def set_tool(self, tool: str | None) -> None:
        if tool is not None and tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; choose one of {', '.join(TOOLS)}")
        self.tool = tool
        self.cancel_drawing()
        self.plane_view.view.interaction_mode = "navigate" if tool is None else "tool"

    def _spacing(self) -> tuple[float, float]:
        img = self.plane_view.image
        return (img.row_spacing, img.col_spacing) if img is not None else (1.0, 1.0)

    def _to_pixel(self, point) -> tuple[float, float]:
        row_sp, col_sp = self._spacing()
        return (point.y() / row_sp, point.x() / col_sp)

    def _to_mm(self, rc) -> tuple[float, float]:
        row_sp, col_sp = self._spacing()
        return (rc[1] * col_sp, rc[0] * row_sp)

    # -- drawing --------------------------------------------------------------------------
    def _drag(self, event, axis=None) -> None:
        drawing = self.tool in TOOLS[:-1] and not self.plane_view.view.space_held
        if not drawing or event.button() != QtCore.Qt.LeftButton:
            if axis is None:
                return self._navigate_drag(event)
            return self._navigate_drag(event, axis)
        event.accept()
        vb = self.plane_view.view.view
        start = self._to_pixel(vb.mapToView(event.buttonDownPos()))
        end = self._to_pixel(vb.mapToView(event.pos()))
        if event.isStart():
            self._drawing = (start, end)
        if self._drawing is None:
            return
        self._drawing = (start, end)
        self._show_preview(start, end)
        if event.isFinish():
            self._drawing = None
            self._clear_preview()
            if abs(end[0] - start[0]) + abs(end[1] - start[1]) < 0.5:
                return  # a click, not a measurement
            if self.tool == "angle":  # the first arm; a click ends the second
                self._first_arm = (start, end)
                self._show_preview(start, end, end)
                return
            m = self.session.measurements.add(self.key, self.tool, (start, end))
            self.selected = m.id
            self.sync()
            self.changed.emit()

    _preview = None

    def _show_preview(self, start, end, *more) -> None:
        self._clear_preview()
        x0, y0 = self._to_mm(start)
        x1, y1 = self._to_mm(end)
        if self.tool in LINES:
            xs, ys = zip(*[self._to_mm(p) for p in (start, end, *more)])
            item = pg.PlotCurveItem(list(xs), list(ys), pen=PEN)
        else:
            item = pg.QtWidgets.QGraphicsRectItem(
                min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)
            )
            item.setPen(PEN)
        self.plane_view.view.view.addItem(item, ignoreBounds=True)
        self._preview = item

    def _clear_preview(self) -> None:
        if self._preview is not None:
            self.plane_view.view.view.removeItem(self._preview)
            self._preview = None

    def cancel_drawing(self) -> None:
        """Drop an angle still waiting for its second arm."""
        self._first_arm = None
        self._clear_preview()

    def _hovered(self, scene_pos) -> None:
        if self._first_arm is None:
            return
        vb = self.plane_view.view.view
        self._show_preview(*self._first_arm, self._to_pixel(vb.mapSceneToView(scene_pos)))

    def _clicked(self, event) -> None:
        pending = self.tool == "angle" and self._first_arm is not None
        if not (self.tool == "probe" or pending) or event.button() != QtCore.Qt.LeftButton:
            return
        vb = self.plane_view.view.view
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        rc = self._to_pixel(vb.mapSceneToView(event.scenePos()))
        if pending:
            points = (*self._first_arm, rc)
            self.cancel_drawing()
            m = self.session.measurements.add(self.key, "angle", points)
        else:
            m = self.session.measurements.add(self.key, "probe", (rc,))
        self.selected = m.id
        self.sync()
        self.changed.emit()

    # -- syncing with the store ------------------------------------------------------------
    def sync(self) -> None:
        """Show exactly the measurements stored for the plane's current slice."""
        self.cancel_drawing()
        for mid in list(self._items):
            self._remove_items(mid)
        if self.session.volume is None or self.plane_view.image is None:
            return
        for m in self.session.measurements.on(self.key):
            self._add_items(m)

    def _remove_items(self, mid: int) -> None:
        vb = self.plane_view.view.view
        for item in self._items.pop(mid, ()):
            vb.removeItem(item)

    def _add_items(self, m: Measurement) -> None:
        vb = self.plane_view.view.view
        pts = [self._to_mm(p) for p in m.points]
        if m.kind == "ruler":
            roi = pg.LineSegmentROI(positions=pts, pen=PEN, hoverPen=HOVER_PEN, removable=True)
        elif m.kind == "angle":
            roi = AngleROI(pts, pen=PEN, hoverPen=HOVER_PEN, removable=True)
        elif m.kind in ("rect", "ellipse"):
            (x0, y0), (x1, y1) = pts
            pos, size = (min(x0, x1), min(y0, y1)), (abs(x1 - x0), abs(y1 - y0))
            cls = pg.RectROI if m.kind == "rect" else pg.EllipseROI
            roi = cls(pos, size, pen=PEN, hoverPen=HOVER_PEN, removable=True)
            for handle in list(roi.getHandles()):
                if handle.typ in ("r", "sr"):
                    roi.removeHandle(handle)  # statistics assume an axis-aligned shape
        else:
            (x, y) = pts[0]
            roi = pg.TargetItem(pos=(x, y), size=10, pen=PEN, movable=True)
        label = pg.TextItem(
            self._describe(m), color=(255, 230, 120), anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 150)
        )
        label.setZValue(30)
        vb.addItem(roi, ignoreBounds=True)
        vb.addItem(label, ignoreBounds=True)
        self._place_label(label, m)
        self._items[m.id] = (roi, label)
        if isinstance(roi, pg.ROI):
            roi.sigRegionChangeFinished.connect(lambda r, mid=m.id: self._moved(mid, r))
            roi.sigRemoveRequested.connect(lambda r, mid=m.id: self.remove(mid))
            roi.sigClicked.connect(lambda r, ev, mid=m.id: self._select(mid))
            roi.setAcceptedMouseButtons(QtCore.Qt.LeftButton)
        else:
            roi.sigPositionChangeFinished.connect(lambda t, mid=m.id: self._moved(mid, t))

    def _place_label(self, label, m: Measurement) -> None:
        """Beside the shape's top right corner; on its left when that runs out of the view;
        moved down past the labels already there (never one label on top of another)."""
        xs, ys = zip(*[self._to_mm(p) for p in m.points])
        label.setAnchor((0, 1))
        label.setPos(max(xs), min(ys))
        (left, right), _ = self.plane_view.view.view.viewRange()
        if label.mapRectToParent(label.boundingRect()).right() > right:
            label.setAnchor((1, 1))
            label.setPos(min(xs), min(ys))
            if label.mapRectToParent(label.boundingRect()).left() < left:  # no room either
                label.setAnchor((0, 1))
                label.setPos(left, min(ys))
        others = [
            other.mapRectToParent(other.boundingRect())
            for _, other in self._items.values()
            if other is not label
        ]
        for _ in range(len(others)):
            rect = label.mapRectToParent(label.boundingRect())
            hit = next((o for o in others if o.intersects(rect)), None)
            if hit is None:
                break
            label.setPos(label.pos().x(), hit.bottom() + rect.height() + 0.5)  # y grows down

    def _describe(self, m: Measurement) -> str:
        """The measurement's text; an ROI's on three short lines (mean and SD, min and max,
        area) so it fits beside the shape."""
        img = self.plane_view.image
        volume = self.session.volume
        text = self.session.measurements.describe(
            m, img.values, img.row_spacing, img.col_spacing, volume.units, calibrated(volume)
        )
        return text.replace(", min ", "\nmin ").replace(", area ", "\narea ")

    def _moved(self, mid: int, item) -> None:
        if isinstance(item, (pg.LineSegmentROI, AngleROI)):
            pts = [item.mapToParent(p) for _, p in item.getLocalHandlePositions()]
            points = tuple(self._to_pixel(p) for p in pts)
        elif isinstance(item, pg.ROI):
            pos, size = item.pos(), item.size()
            points = (
                self._to_pixel(pos),
                self._to_pixel(QtCore.QPointF(pos.x() + size.x(), pos.y() + size.y())),
            )
        else:
            points = (self._to_pixel(item.pos()),)
        self.session.measurements.update(mid, points)
        m = self.session.measurements.find(mid)
        roi, label = self._items[mid]
        label.setText(self._describe(m))
        self._place_label(label, m)
        self.selected = mid
        self.changed.emit()

    def _select(self, mid: int) -> None:
        self.selected = mid

    def remove(self, mid: int | None = None) -> bool:
        """Delete measurement ``mid`` (default: the selected one). True if one was removed."""
        mid = self.selected if mid is None else mid
        if mid is None or mid not in self._items:
            return False
        self._remove_items(mid)
        self.session.measurements.remove(mid)
        self.selected = None
        self.changed.emit()
        return True

    def labels(self) -> list[str]:
        """The texts shown for the current slice's measurements (for tests and export)."""
        return [label.textItem.toPlainText() for _, label in self._items.values()]
