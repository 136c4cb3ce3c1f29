"""One slice on screen, the way a reading-room viewer shows it.

Coordinates
-----------
* Pixel coordinates: ``(row, col)``; pixel ``(r, c)`` covers ``[r, r+1) x [c, c+1)``.
* View (item) coordinates, in millimetres: ``x`` along the columns, ``y`` along the rows, origin
  at the top-left corner of pixel ``(0, 0)``. Pixel ``(r, c)`` covers
  ``[c*col_sp, (c+1)*col_sp) x [r*row_sp, (r+1)*row_sp)``. The ViewBox has ``invertY`` (row 0 at
  the top) and a locked 1:1 aspect in millimetres, so non-square pixels keep their true shape.
* Screen: ViewBox-local coordinates are device-independent pixels of the widget.

Mouse and keys (``interaction_mode == "navigate"``)
---------------------------------------------------
wheel: ``scrolled(+-n)``; Ctrl+wheel: zoom about the cursor; left-drag: window/level
(``window_dragged(center, width)``, the owner applies it); right-drag: zoom (up = in); middle-drag
or Space + left-drag: pan; double-click: ``fit()``; Up/Down: +-1, PageUp/PageDown: +-10
(``scrolled``); Home/End: ``jump(0)`` / ``jump(-1)``. In ``"tool"`` mode the left button is left
to the measurement tools (everything else stays).

Overlays (corner text, orientation labels, scale bar) are children of the ViewBox itself, not of
its transformed child group: they sit in screen pixels, do not scale with zoom, and are drawn
from a per-item pixmap cache that is refreshed only when their content changes.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.dicom import Window

Qt = QtCore.Qt

MODES = ("navigate", "tool")
MIN_ZOOM = 0.05
MAX_ZOOM = 64.0
WHEEL_ZOOM_PER_NOTCH = 1.25
DRAG_ZOOM_PER_PIXEL = 1.01  # right-drag: 100 px up zooms in 2.7x
WL_PIXELS_PER_DOUBLING = 256.0  # left-drag right by this many pixels doubles the width
WL_PIXELS_PER_WIDTH = 256.0  # left-drag down by this many pixels raises the center by one width
OVERLAY_Z = 1e5
MARGIN = 6
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
EDGES = ("left", "right", "top", "bottom")


class SliceViewBox(pg.ViewBox):
    """A ViewBox whose mouse handling is the owner's (no pyqtgraph pan/zoom/menu defaults)."""

    def __init__(self, owner: SliceView) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.0)
        self._owner = owner
        self.disableAutoRange()  # the owner fits explicitly; no bounds scan on every change

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 (pyqtgraph name)
        self._owner._drag_event(ev)

    def wheelEvent(self, ev, axis=None) -> None:  # noqa: N802
        ev.ignore()  # SliceView.wheelEvent handles the wheel for the whole widget

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        if ev.double() and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._owner.fit()

    def keyPressEvent(self, ev) -> None:  # noqa: N802
        ev.ignore()  # no pyqtgraph zoom-history keys


class SliceView(pg.GraphicsLayoutWidget):
    """A 2-D slice in millimetres with reading-room mouse handling and screen overlays.

    Signals: ``scrolled(int)`` slice steps; ``jump(int)`` 0 = first, -1 = last slice;
    ``window_dragged(float, float)`` (center, width) while left-dragging;
    ``view_changed(float)`` zoom after any zoom/pan/resize; ``cursor_moved(object)``
    ``(row, col)`` float pixel coordinates under the mouse, or ``None`` off the image.
    """

    scrolled = QtCore.Signal(int)
    jump = QtCore.Signal(int)
    window_dragged = QtCore.Signal(float, float)
    view_changed = QtCore.Signal(float)
    cursor_moved = QtCore.Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("k")
        self.ci.setContentsMargins(0, 0, 0, 0)
        self.ci.setSpacing(0)
        self.view = SliceViewBox(self)
        self.addItem(self.view)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(10)
        self.overlay.setVisible(False)
        self.view.addItem(self.overlay, ignoreBounds=True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self._shape: tuple[int, int] | None = None
        self._spacing = (1.0, 1.0)
        self._transform = QtGui.QTransform()
        self._colour = False
        self._window: Window | None = None
        self._levels: tuple[float, float] | None = None
        self._integer = True
        self._mode = "navigate"
        self._space = False
        self._drag_kind: str | None = None
        self._drag_window: tuple[float, float] | None = None
        self._wheel_rest = 0
        self._last_cursor: tuple[float, float] | None = None
        self._zoom = 1.0

        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(9.0)
        bold = QtGui.QFont(font)
        bold.setPointSizeF(11.0)
        bold.setBold(True)
        self._overlays_visible = True
        self._corners = {
            key: _TextBlock(self.view, font, h, v)
            for key, (h, v) in zip(CORNERS, ((0, 0), (1, 0), (0, 1), (1, 1)))
        }
        self._edges = {
            key: _TextBlock(self.view, bold, h, v)
            for key, (h, v) in zip(EDGES, ((0, 0.5), (1, 0.5), (0.5, 0), (0.5, 1)))
        }
        self._scale_bar = _ScaleBar(self.view, font)
        self._scale_bar_fixed_mm: float | None = None
        self._scale_bar_wanted = True

        self.view.sigResized.connect(self._layout_overlays)
        self.view.sigRangeChanged.connect(self._range_changed)
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self._layout_overlays()

    # -- image ------------------------------------------------------------------------------
    def set_slice(
        self,
        values: np.ndarray,
        window: Window | None,
        invert: bool = False,
        spacing: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        """Display ``values`` (rows, cols) greyscale through ``window``, or (rows, cols, 3) RGB.

        ``invert`` flips the grey scale (MONOCHROME1 or the user's toggle; ignored for colour).
        ``spacing`` is (row spacing, column spacing) in mm. The view fits itself when the shape
        or spacing changes; otherwise zoom and pan stay as they are.
        """
        if values.ndim == 3:
            self._colour = True
            if values.dtype.kind in "ui":
                levels = (0.0, float(np.iinfo(values.dtype).max))  # full range of the type
            else:
                levels = (0.0, float(values.max() or 1))
            self.image.setLookupTable(None, update=False)
            self.image.setImage(values, levels=levels, autoLevels=False)
        else:
            self._colour = False
            self._integer = values.dtype.kind in "uib"
            self._window = window
            self._levels = self._levels_for(values, window)
            self.image.setLookupTable(_INVERTED if invert else None, update=False)
            self.image.setImage(values, levels=self._levels, autoLevels=False)
        shape = (int(values.shape[0]), int(values.shape[1]))
        spacing = (float(spacing[0]), float(spacing[1]))
        if self._shape != shape or self._spacing != spacing:
            self._shape, self._spacing = shape, spacing
            self._transform = QtGui.QTransform.fromScale(spacing[1], spacing[0])
            self.image.setTransform(self._transform)
            self._place_overlay_image()
            self.fit()

    def set_window(self, window: Window | None) -> None:
        """Re-level the current greyscale image (no new data); colour images are unaffected."""
        self._window = window
        if self._colour or self.image.image is None:
            return
        self._levels = self._levels_for(self.image.image, window)
        self.image.setLevels(self._levels)

    @property
    def window(self) -> Window | None:
        """The window last given to ``set_slice`` / ``set_window``."""
        return self._window

    @staticmethod
    def _levels_for(values: np.ndarray, window: Window | None) -> tuple[float, float]:
        if window is not None:
            return window.levels
        return (float(values.min()), float(values.max()) + 1.0)

    def set_overlay_rgba(self, rgba: np.ndarray | None, opacity: float = 0.4) -> None:
        """Show an already coloured (rows, cols, 4) uint8 layer on top of the slice, or hide it.

        It covers the same millimetres as the slice; a map of another size is stretched to
        the slice's extent. The array is shown as is (no levels: 0..255 are the colours).
        """
        if rgba is None:
            self.overlay.setVisible(False)
            self.overlay.clear()
            return
        if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
            raise ValueError(
                f"expected a (rows, cols, 4) uint8 overlay, got {rgba.dtype} {rgba.shape}"
            )
        # levels=None: uint8 RGBA goes to a QImage as is; levels=(0, 255) would make pyqtgraph
        # copy it through makeARGB on every change (~1 ms per 512x512 frame, measured).
        self.overlay.setImage(rgba, levels=None, autoLevels=False)
        self.overlay.setOpacity(float(opacity))
        self._place_overlay_image()
        self.overlay.setVisible(True)

    def _place_overlay_image(self) -> None:
        data = self.overlay.image
        if data is None or self._shape is None:
            return
        sy = self._shape[0] / data.shape[0]
        sx = self._shape[1] / data.shape[1]
        tr = (
            self._transform
            if sx == sy == 1
            else QtGui.QTransform.fromScale(self._spacing[1] * sx, self._spacing[0] * sy)
        )
        if self.overlay.transform() != tr:
            self.overlay.setTransform(tr)

    # -- view: zoom and pan -----------------------------------------------------------------
    def image_rect(self) -> QtCore.QRectF | None:
        """The image's extent in millimetres (view coordinates), or None before an image."""
        if self._shape is None:
            return None
        rows, cols = self._shape
        return QtCore.QRectF(0.0, 0.0, cols * self._spacing[1], rows * self._spacing[0])

    def fit(self) -> None:
        """Fit the whole image to the view, centred (zoom 1.0)."""
        rect = self.image_rect()
        if rect is not None:
            self.view.setRange(rect, padding=0.0)

    def pixels_per_mm(self) -> float:
        """Screen pixels per millimetre at the current zoom (0 before the view has a size)."""
        width = self.view.viewRect().width()
        return self.view.width() / width if width > 0 else 0.0

    @property
    def zoom(self) -> float:
        """1.0 = the whole image fitted to the view; 2.0 = twice as large."""
        rect = self.image_rect()
        w, h = self.view.width(), self.view.height()
        if rect is None or w <= 0 or h <= 0 or rect.width() <= 0 or rect.height() <= 0:
            return 1.0
        fitted = min(w / rect.width(), h / rect.height())
        return self.pixels_per_mm() / fitted

    def set_zoom(self, zoom: float, center=None) -> None:
        """Zoom to ``zoom`` (1.0 = fitted) keeping ``center`` (mm; default the view centre)."""
        self.zoom_by(zoom / self.zoom, center)

    def zoom_by(self, factor: float, center=None) -> None:
        """Magnify by ``factor`` (>1 zooms in) about ``center`` = (x_mm, y_mm) or QPointF.

        The point at ``center`` stays where it is on screen; default the view centre.
        The zoom stays within [MIN_ZOOM, MAX_ZOOM].
        """
        zoom = self.zoom
        factor = min(max(zoom * factor, MIN_ZOOM), MAX_ZOOM) / zoom
        if factor <= 0 or abs(factor - 1.0) < 1e-9:
            return
        vr = self.view.viewRect()
        c = vr.center() if center is None else _point(center)
        tl = c + (vr.topLeft() - c) / factor
        br = c + (vr.bottomRight() - c) / factor
        self.view.setRange(QtCore.QRectF(tl, br), padding=0.0)

    def pan_by(self, dx_mm: float, dy_mm: float) -> None:
        """Move the view centre by (dx, dy) mm: +x looks further right, +y further down,
        so the image itself moves left / up on screen."""
        self.view.setRange(self.view.viewRect().translated(dx_mm, dy_mm), padding=0.0)

    def view_center(self) -> tuple[float, float]:
        """The view centre (x_mm, y_mm) in view coordinates."""
        c = self.view.viewRect().center()
        return (c.x(), c.y())

    def _range_changed(self, *_args) -> None:
        self._zoom = self.zoom
        self._update_scale_bar()
        self.view_changed.emit(self._zoom)

    # -- interaction mode ---------------------------------------------------------------------
    @property
    def interaction_mode(self) -> str:
        """Either "navigate" (left-drag = window/level) or "tool" (left button for the tools)."""
        return self._mode

    @interaction_mode.setter
    def interaction_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"interaction_mode must be one of {MODES}, not {mode!r}")
        self._mode = mode

    @property
    def space_held(self) -> bool:
        """Space is down: a left-drag pans (tools that take left drags may want to defer)."""
        return self._space

    # -- mouse ----------------------------------------------------------------------------------
    def _drag_event(self, ev) -> None:
        """A pyqtgraph MouseDragEvent on the ViewBox (called by SliceViewBox.mouseDragEvent)."""
        if ev.isStart():
            self._drag_kind = self._kind_for(ev.button())
            if self._drag_kind == "window":
                self._drag_window = self._current_window()
                if self._drag_window is None:
                    self._drag_kind = "none"  # colour image or nothing shown: nothing to level
            self._set_drag_cursor(self._drag_kind)
        kind = self._drag_kind
        if kind is None:
            ev.ignore()  # not our drag (e.g. left button in tool mode): leave it to others
            return
        ev.accept()
        delta = ev.pos() - ev.lastPos()
        if kind == "pan":
            a = self.view.mapToView(ev.lastPos())
            b = self.view.mapToView(ev.pos())
            self.pan_by(a.x() - b.x(), a.y() - b.y())
        elif kind == "zoom":
            center = self.view.mapToView(ev.buttonDownPos())
            self.zoom_by(DRAG_ZOOM_PER_PIXEL ** (-delta.y()), center)
        elif kind == "window" and (delta.x() or delta.y()):
            center, width = self._drag_window
            width *= 2.0 ** (delta.x() / WL_PIXELS_PER_DOUBLING)
            width = max(width, 1.0 if self._integer else 1e-6)
            center += delta.y() * width / WL_PIXELS_PER_WIDTH
            self._drag_window = (center, width)
            self.window_dragged.emit(center, width)
        if ev.isFinish():
            self._drag_kind = None
            self._drag_window = None
            self._set_drag_cursor(None)

    def _kind_for(self, button) -> str | None:
        if button == Qt.MouseButton.MiddleButton:
            return "pan"
        if button == Qt.MouseButton.RightButton:
            return "zoom"
        if button == Qt.MouseButton.LeftButton:
            if self._space:
                return "pan"
            return "window" if self._mode == "navigate" else None
        return None

    def _current_window(self) -> tuple[float, float] | None:
        if self._colour or self._levels is None:
            return None
        lo, hi = self._levels
        return ((lo + hi) / 2.0, hi - lo)

    def _set_drag_cursor(self, kind: str | None) -> None:
        shapes = {
            "pan": Qt.CursorShape.ClosedHandCursor,
            "zoom": Qt.CursorShape.SizeVerCursor,
            "window": Qt.CursorShape.SizeAllCursor,
        }
        if kind in shapes:
            self.viewport().setCursor(shapes[kind])
        elif self._space:
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.viewport().unsetCursor()

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt name)
        dy = event.angleDelta().y()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            if dy:
                scene = self.mapToScene(event.position().toPoint())
                self.zoom_by(WHEEL_ZOOM_PER_NOTCH ** (dy / 120.0), self.view.mapSceneToView(scene))
            event.accept()
            return
        # accumulate: touchpads send fractions of a 120-unit notch
        self._wheel_rest += dy
        steps = int(self._wheel_rest / 120)  # toward zero
        self._wheel_rest -= steps * 120
        if steps:
            self.scrolled.emit(-steps)
        event.accept()

    def _mouse_moved(self, scene_pos) -> None:
        rc = None
        if self._shape is not None and self.view.sceneBoundingRect().contains(scene_pos):
            p = self.view.mapSceneToView(scene_pos)
            row, col = p.y() / self._spacing[0], p.x() / self._spacing[1]
            if 0.0 <= row < self._shape[0] and 0.0 <= col < self._shape[1]:
                rc = (row, col)
        if rc is None and self._last_cursor is None:
            return
        self._last_cursor = rc
        self.cursor_moved.emit(rc)

    def leaveEvent(self, event) -> None:  # noqa: N802
        super().leaveEvent(event)
        if self._last_cursor is not None:
            self._last_cursor = None
            self.cursor_moved.emit(None)

    # -- keys -------------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        moves = {
            Qt.Key.Key_Up: -1,
            Qt.Key.Key_Down: 1,
            Qt.Key.Key_PageUp: -10,
            Qt.Key.Key_PageDown: 10,
        }
        if key in moves:
            self.scrolled.emit(moves[key])
        elif key == Qt.Key.Key_Home:
            self.jump.emit(0)
        elif key == Qt.Key.Key_End:
            self.jump.emit(-1)
        elif key == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space = True
                if self._drag_kind is None:
                    self._set_drag_cursor(None)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def keyReleaseEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space = False
                if self._drag_kind is None:
                    self._set_drag_cursor(None)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:  # noqa: N802
        self._space = False  # the release may go elsewhere
        if self._drag_kind is None:
            self._set_drag_cursor(None)
        super().focusOutEvent(event)

    # -- overlays ---------------------------------------------------------------------------------
    def set_corner_text(self, texts: dict) -> None:
        """Lines per corner: keys "top_left", "top_right", "bottom_left", "bottom_right".

        Missing keys clear that corner. Unchanged text costs nothing (no re-render).
        """
        for key in texts:
            if key not in self._corners:
                raise KeyError(f"unknown corner {key!r}; use {', '.join(CORNERS)}")
        for key, block in self._corners.items():
            block.set_lines(texts.get(key) or ())
            block.setVisible(self._overlays_visible and block.has_text)

    def corner_lines(self, corner: str) -> tuple[str, ...]:
        """The text lines shown in ``corner`` (for tests and exports)."""
        return self._corners[corner].lines

    def orientation_labels(self) -> dict[str, str]:
        """The letters shown on each edge."""
        return {key: "".join(block.lines) for key, block in self._edges.items()}

    def set_orientation_labels(self, labels: dict) -> None:
        """Letters centred on each edge: keys "left", "right", "top", "bottom" -> str."""
        for key in labels:
            if key not in self._edges:
                raise KeyError(f"unknown edge {key!r}; use {', '.join(EDGES)}")
        for key, block in self._edges.items():
            text = labels.get(key) or ""
            block.set_lines((text,) if text else ())
            block.setVisible(self._overlays_visible and block.has_text)
        self._layout_overlays()

    def set_scale_bar(self, length_mm: float | None = None, visible: bool = True) -> None:
        """A horizontal bar of ``length_mm`` at the bottom; None picks 1/2/5 x 10^n mm, at most a
        quarter of the visible width, again after every zoom."""
        self._scale_bar_fixed_mm = None if length_mm is None else float(length_mm)
        self._scale_bar_wanted = bool(visible)
        self._update_scale_bar()

    @property
    def scale_bar_mm(self) -> float:
        """The length the scale bar stands for (0 when not shown)."""
        return self._scale_bar.length_mm

    @property
    def scale_bar_px(self) -> float:
        """The scale bar's drawn length in screen pixels."""
        return self._scale_bar.length_px

    def set_overlays_visible(self, visible: bool) -> None:
        """Show or hide all corner text, orientation labels and the scale bar at once."""
        self._overlays_visible = bool(visible)
        for block in (*self._corners.values(), *self._edges.values()):
            block.setVisible(self._overlays_visible and block.has_text)
        self._update_scale_bar()

    @property
    def overlays_visible(self) -> bool:
        return self._overlays_visible

    def _update_scale_bar(self) -> None:
        bar = self._scale_bar
        ppm = self.pixels_per_mm()
        show = self._overlays_visible and self._scale_bar_wanted and self._shape is not None
        length = self._scale_bar_fixed_mm
        if length is None and ppm > 0:
            length = nice_length(0.25 * self.view.width() / ppm)
        if not show or not length or ppm <= 0:
            bar.setVisible(False)
            return
        bar.set_bar(length, length * ppm)
        bar.setVisible(True)

    def _layout_overlays(self, *_args) -> None:
        w, h = self.view.width(), self.view.height()
        m = MARGIN
        self._corners["top_left"].setPos(m, m)
        self._corners["top_right"].setPos(w - m, m)
        self._corners["bottom_left"].setPos(m, h - m)
        self._corners["bottom_right"].setPos(w - m, h - m)
        self._edges["left"].setPos(m, h / 2)
        self._edges["right"].setPos(w - m, h / 2)
        self._edges["top"].setPos(w / 2, m)
        bottom = self._edges["bottom"]
        bottom.setPos(w / 2, h - m)
        lift = bottom.boundingRect().height() + 2 if bottom.has_text else 0
        self._scale_bar.setPos(w / 2, h - m - lift)
        self._update_scale_bar()  # a resize changes pixels per mm even when the range stays


def nice_length(max_mm: float) -> float:
    """The largest 1, 2 or 5 x 10^n mm not above ``max_mm`` (0 if ``max_mm`` <= 0)."""
    if not max_mm > 0 or not math.isfinite(max_mm):
        return 0.0
    exp = math.floor(math.log10(max_mm))
    for mantissa in (5.0, 2.0, 1.0):
        value = mantissa * 10.0**exp
        if value <= max_mm * (1 + 1e-9):
            return value
    return 10.0 ** (exp - 1) * 5.0


def format_length(mm: float) -> str:
    """The scale bar's label: 0.5 mm, 5 mm, 2 cm."""
    if mm >= 10:
        return f"{mm / 10:g} cm"
    return f"{mm:g} mm"


def _point(p) -> QtCore.QPointF:
    if isinstance(p, QtCore.QPointF):
        return p
    if isinstance(p, QtCore.QPoint):
        return QtCore.QPointF(p)
    return QtCore.QPointF(float(p[0]), float(p[1]))


_SHADOW = QtGui.QColor(0, 0, 0, 230)
_TEXT = QtGui.QColor(255, 255, 255)
_OUTLINE_OFFSETS = ((-1, 0), (1, 0), (0, -1), (0, 1), (1, 1))


def _outlined_text(p: QtGui.QPainter, x: float, y: float, text: str) -> None:
    p.setPen(_SHADOW)
    for dx, dy in _OUTLINE_OFFSETS:
        p.drawText(QtCore.QPointF(x + dx, y + dy), text)
    p.setPen(_TEXT)
    p.drawText(QtCore.QPointF(x, y), text)


class _TextBlock(QtWidgets.QGraphicsItem):
    """Lines of white outlined text anchored at ``pos()``; ``h``/``v`` 0, 0.5, 1 = left/centre/
    right and top/centre/bottom of the block at the anchor. Cached as a device pixmap."""

    def __init__(self, parent, font: QtGui.QFont, h: float, v: float) -> None:
        super().__init__(parent)
        self._font = font
        self._metrics = QtGui.QFontMetricsF(font)
        self._h, self._v = h, v
        self._lines: tuple[str, ...] = ()
        self._widths: list[float] = []
        self._rect = QtCore.QRectF()
        self.setZValue(OVERLAY_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setVisible(False)

    @property
    def has_text(self) -> bool:
        return bool(self._lines)

    @property
    def lines(self) -> tuple[str, ...]:
        return self._lines

    def set_lines(self, lines) -> None:
        lines = tuple(str(line) for line in lines)
        if lines == self._lines:
            return
        self.prepareGeometryChange()
        self._lines = lines
        self._widths = [self._metrics.horizontalAdvance(line) for line in lines]
        w = max(self._widths, default=0.0) + 2
        h = len(lines) * self._metrics.lineSpacing() + 2
        self._rect = QtCore.QRectF(-self._h * w, -self._v * h, w, h)
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802
        return self._rect

    def paint(self, p, _option=None, _widget=None) -> None:
        if not self._lines:
            return
        p.setFont(self._font)
        inner = self._rect.width() - 2
        step = self._metrics.lineSpacing()
        top = self._rect.top() + 1 + self._metrics.ascent()
        for i, (line, width) in enumerate(zip(self._lines, self._widths)):
            x = self._rect.left() + 1 + self._h * (inner - width)
            _outlined_text(p, x, top + i * step, line)


class _ScaleBar(QtWidgets.QGraphicsItem):
    """A horizontal bar centred on ``pos().x()`` with its bottom at ``pos().y()``, its length
    printed above it."""

    TICK = 5.0

    def __init__(self, parent, font: QtGui.QFont) -> None:
        super().__init__(parent)
        self._font = font
        self._metrics = QtGui.QFontMetricsF(font)
        self.length_mm = 0.0
        self.length_px = 0.0
        self._label = ""
        self._rect = QtCore.QRectF()
        self.setZValue(OVERLAY_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setVisible(False)

    def set_bar(self, length_mm: float, length_px: float) -> None:
        if length_mm == self.length_mm and abs(length_px - self.length_px) < 0.05:
            return
        self.prepareGeometryChange()
        self.length_mm, self.length_px = length_mm, length_px
        self._label = format_length(length_mm)
        label_w = self._metrics.horizontalAdvance(self._label)
        w = max(length_px, label_w) + 4
        h = self._metrics.lineSpacing() + self.TICK + 4
        self._rect = QtCore.QRectF(-w / 2, -h, w, h)
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802
        return self._rect

    def paint(self, p, _option=None, _widget=None) -> None:
        if self.length_px <= 0:
            return
        half = self.length_px / 2
        y = -2.0
        path = QtGui.QPainterPath()
        path.moveTo(-half, y - self.TICK)
        path.lineTo(-half, y)
        path.lineTo(half, y)
        path.lineTo(half, y - self.TICK)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QtGui.QPen(_SHADOW, 3.0))
        p.drawPath(path)
        p.setPen(QtGui.QPen(_TEXT, 1.0))
        p.drawPath(path)
        p.setFont(self._font)
        label_w = self._metrics.horizontalAdvance(self._label)
        baseline = y - self.TICK - 2 - self._metrics.descent()
        _outlined_text(p, -label_w / 2, baseline, self._label)


_INVERTED = np.arange(255, -1, -1, dtype=np.uint8)
