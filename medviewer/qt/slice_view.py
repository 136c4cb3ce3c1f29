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

This module holds the image, its levels and the zoom / pan geometry (the frame path);
:mod:`medviewer.qt.slice_interaction` the mouse and keys, :mod:`medviewer.qt.slice_overlays`
the overlays. Their names are re-exported here.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from medviewer.dicom import Window
from medviewer.qt.slice_interaction import (
    DRAG_ZOOM_PER_PIXEL,
    MODES,
    WHEEL_ZOOM_PER_NOTCH,
    WL_PIXELS_PER_DOUBLING,
    WL_PIXELS_PER_WIDTH,
    SliceInteractionMixin,
)
from medviewer.qt.slice_overlays import (
    CORNERS,
    EDGES,
    MARGIN,
    OVERLAY_Z,
    SliceOverlaysMixin,
    _ScaleBar,
    _TextBlock,
    format_length,
    nice_length,
)

Qt = QtCore.Qt

MIN_ZOOM = 0.05
MAX_ZOOM = 64.0


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


class SliceView(SliceInteractionMixin, SliceOverlaysMixin, pg.GraphicsLayoutWidget):
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
        self._invert = False
        self._window: Window | None = None
        self._levels: tuple[float, float] | None = None
        self._integer = True
        self._zoom = 1.0
        self._init_interaction()
        self._build_overlays()

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
            self._invert = invert
            self.image.setLookupTable(_lookup_table(window, invert), update=False)
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
        self.image.setLookupTable(_lookup_table(window, self._invert), update=False)
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


def _point(p) -> QtCore.QPointF:
    if isinstance(p, QtCore.QPointF):
        return p
    if isinstance(p, QtCore.QPoint):
        return QtCore.QPointF(p)
    return QtCore.QPointF(float(p[0]), float(p[1]))


_INVERTED = np.arange(255, -1, -1, dtype=np.uint8)


def _lookup_table(window: Window | None, invert: bool) -> np.ndarray | None:
    """The grey levels a window draws with: its own table (a VOI LUT, SIGMOID), else the
    linear ramp; reversed when inverted."""
    if window is not None and window.lut is not None:
        return 255 - window.lut if invert else window.lut
    return _INVERTED if invert else None


__all__ = [
    "CORNERS",
    "DRAG_ZOOM_PER_PIXEL",
    "EDGES",
    "MARGIN",
    "MAX_ZOOM",
    "MIN_ZOOM",
    "MODES",
    "OVERLAY_Z",
    "WHEEL_ZOOM_PER_NOTCH",
    "WL_PIXELS_PER_DOUBLING",
    "WL_PIXELS_PER_WIDTH",
    "SliceView",
    "SliceViewBox",
    "_ScaleBar",
    "_TextBlock",
    "format_length",
    "nice_length",
]
