"""Heat maps on screen: colour lookup tables, colouring once per map, and a colour bar.

A saliency map is float (rows, cols) in [0, 1], normalised per image. :func:`colorize` turns it
into the (rows, cols, 4) uint8 RGBA layer :meth:`SliceView.set_overlay_rgba` draws; values
below the threshold are fully transparent. :class:`HeatmapCache` keeps the coloured layer per
(map, colour map, threshold), so scrolling back to a slice or changing the opacity never
recolours: opacity is the overlay item's, not baked into the pixels.

numpy and Qt only (no torch).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.qt.slice_view import SliceView

COLORMAPS: tuple[str, ...] = ("jet", "inferno", "hot")
NORMALISED_NOTE = "normalised per image"

# Piecewise-linear (position, value) per channel, as matplotlib defines "jet" and "hot"
# (matplotlib is not a dependency; pyqtgraph bundles "inferno" itself).
_SEGMENTS = {
    "jet": (
        ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
        ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
        ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
    ),
    "hot": (
        ((0.0, 0.0416), (0.365079, 1.0), (1.0, 1.0)),
        ((0.0, 0.0), (0.365079, 0.0), (0.746032, 1.0), (1.0, 1.0)),
        ((0.0, 0.0), (0.746032, 0.0), (1.0, 1.0)),
    ),
}


@functools.cache
def lookup_table(name: str) -> np.ndarray:
    """The (256, 3) uint8 RGB table of colour map ``name`` (one of :data:`COLORMAPS`)."""
    if name not in COLORMAPS:
        raise ValueError(f"unknown colour map {name!r}: use one of {', '.join(COLORMAPS)}")
    if name in _SEGMENTS:
        x = np.linspace(0.0, 1.0, 256)
        channels = []
        for segments in _SEGMENTS[name]:
            pos, val = zip(*segments)
            channels.append(np.interp(x, pos, val))
        table = np.round(np.stack(channels, axis=1) * 255.0)
    else:
        table = pg.colormap.get(name).getLookupTable(0.0, 1.0, nPts=256, alpha=False)
    table = np.ascontiguousarray(np.clip(table, 0, 255).astype(np.uint8)[:, :3])
    table.setflags(write=False)
    return table


def colorize(
    map01: np.ndarray, cmap: str = "jet", threshold: float = 0.0, alpha: float = 1.0
) -> np.ndarray:
    """(rows, cols) values in [0, 1] -> (rows, cols, 4) uint8 RGBA.

    Values are clipped to [0, 1]; those below ``threshold`` (and NaN) are fully transparent,
    the rest have alpha ``alpha`` x 255. The overlay's opacity is applied on top when drawn.
    """
    values = np.asarray(map01, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"expected a (rows, cols) map, got shape {values.shape}")
    table = lookup_table(cmap)
    finite = np.isfinite(values)
    clipped = np.clip(np.where(finite, values, 0.0), 0.0, 1.0)
    index = (clipped * 255.0 + 0.5).astype(np.uint8)
    rgba = np.empty(values.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = table[index]
    a = int(round(min(max(float(alpha), 0.0), 1.0) * 255.0))
    rgba[..., 3] = np.where(finite & (clipped >= float(threshold)), a, 0).astype(np.uint8)
    return rgba


class HeatmapCache:
    """Coloured layers per (map, colour map, threshold[, alpha]); LRU, ``max_items`` entries.

    The map is identified by ``key`` (default ``id(map01)``; the cache keeps a reference to the
    map, so an id is never reused for another array while its entry lives). The RGBA returned
    for the same map and settings is the same object: it is coloured once, not per frame.
    """

    def __init__(self, max_items: int = 128) -> None:
        self.max_items = int(max_items)
        self._items: OrderedDict[Hashable, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.computed = 0
        """How many layers were coloured (for tests and benchmarks)."""

    def get(
        self,
        map01: np.ndarray,
        cmap: str = "jet",
        threshold: float = 0.0,
        alpha: float = 1.0,
        key: Hashable | None = None,
    ) -> np.ndarray:
        ident = (id(map01) if key is None else key, cmap, float(threshold), float(alpha))
        hit = self._items.get(ident)
        if hit is not None and hit[0] is map01:
            self._items.move_to_end(ident)
            return hit[1]
        rgba = colorize(map01, cmap, threshold, alpha)
        rgba.setflags(write=False)
        self.computed += 1
        self._items[ident] = (map01, rgba)
        self._items.move_to_end(ident)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)
        return rgba

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class ColorBar(QtWidgets.QWidget):
    """A vertical gradient 0 (bottom) .. 1 (top) with labels and a "normalised per image" note.

    The part below the threshold is drawn hatched: those values are not shown on the image.
    """

    def __init__(self, cmap: str = "jet", parent=None) -> None:
        super().__init__(parent)
        self._cmap = cmap
        self._threshold = 0.0
        self._image: QtGui.QImage | None = None
        self.setMinimumSize(72, 120)
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Expanding
        )
        self.setToolTip(
            "Colours are normalised per image: the most relevant region of this slice is at "
            "the top of the scale, whatever its absolute score"
        )
        self._make_image()

    @property
    def cmap(self) -> str:
        return self._cmap

    @property
    def threshold(self) -> float:
        return self._threshold

    def set_colormap(self, name: str) -> None:
        lookup_table(name)  # validates
        if name != self._cmap:
            self._cmap = name
            self._make_image()
            self.update()

    def set_threshold(self, threshold: float) -> None:
        threshold = float(min(max(threshold, 0.0), 1.0))
        if threshold != self._threshold:
            self._threshold = threshold
            self.update()

    def _make_image(self) -> None:
        table = lookup_table(self._cmap)[::-1]  # top row = 1.0
        rgb = np.ascontiguousarray(np.repeat(table[:, None, :], 2, axis=1))
        self._rgb = rgb  # QImage does not own the buffer
        self._image = QtGui.QImage(rgb.data, 2, 256, 6, QtGui.QImage.Format.Format_RGB888)

    def caption(self) -> str:
        return NORMALISED_NOTE

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt name)
        p = QtGui.QPainter(self)
        metrics = p.fontMetrics()
        line = metrics.lineSpacing()
        top, bottom = line // 2 + 2, self.height() - 2 * line - 8
        bar = QtCore.QRect(4, top, 18, max(bottom - top, 10))
        p.drawImage(bar, self._image)
        if self._threshold > 0:
            h = int(round(bar.height() * self._threshold))
            cut = QtCore.QRect(bar.left(), bar.bottom() - h + 1, bar.width(), h)
            p.fillRect(cut, QtGui.QBrush(QtGui.QColor(0, 0, 0, 170)))
            hatch = QtGui.QBrush(QtGui.QColor(128, 128, 128), QtCore.Qt.BrushStyle.BDiagPattern)
            p.fillRect(cut, hatch)
        p.setPen(self.palette().color(QtGui.QPalette.ColorRole.Mid))
        p.drawRect(bar.adjusted(0, 0, -1, -1))
        p.setPen(self.palette().color(QtGui.QPalette.ColorRole.WindowText))
        x = bar.right() + 8
        for value in (1.0, 0.5, 0.0):
            y = bar.bottom() - value * bar.height()
            p.drawLine(bar.right() + 1, int(y), bar.right() + 4, int(y))
            p.drawText(QtCore.QPointF(x, y + metrics.ascent() / 2 - 1), f"{value:g}")
        caption = QtCore.QRectF(2, bar.bottom() + 4, self.width() - 4, 2 * line + 2)
        flags = QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.TextFlag.TextWordWrap
        p.drawText(caption, int(flags), self.caption())
        p.end()

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802
        return QtCore.QSize(120, 160)


class SideBySideView(SliceView):
    """The primary plane's slice once more, beside the plain one, carrying the heat map.

    :meth:`show_plane` copies what a PlaneView shows (values, window, invert, spacing) and
    its zoom and pan; :meth:`follow` keeps following the view's zoom and pan.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("heatmapSideView")
        self._followed: SliceView | None = None

    def show_plane(self, plane_view, title: str = "") -> None:
        """Show what ``plane_view`` shows, with its orientation letters and image number;
        ``title`` names the map (method and class)."""
        image = plane_view.image
        if image is None:
            return
        self.set_slice(
            image.values,
            plane_view.view.window,
            invert=plane_view.session.inverted,
            spacing=(image.row_spacing, image.col_spacing),
        )
        shown = plane_view.view
        self.set_corner_text(
            {
                "top_left": ["Heat map", title] if title else ["Heat map"],
                "bottom_left": list(shown.corner_lines("bottom_left"))[:1],  # "Im k/n"
            }
        )
        self.set_orientation_labels(shown.orientation_labels())
        self.follow(shown)

    def follow(self, view: SliceView) -> None:
        """Show the same region as ``view`` now and whenever it zooms or pans."""
        if self._followed is not view:
            if self._followed is not None:
                try:
                    self._followed.view_changed.disconnect(self._copy_range)
                except (RuntimeError, TypeError):
                    pass
            self._followed = view
            view.view_changed.connect(self._copy_range)
        self._copy_range()

    def _copy_range(self, *_args) -> None:
        view = self._followed
        if view is not None and self.isVisible() and view.image_rect() is not None:
            self.view.setRange(view.view.viewRect(), padding=0.0)


__all__ = ["COLORMAPS", "ColorBar", "HeatmapCache", "SideBySideView", "colorize", "lookup_table"]
