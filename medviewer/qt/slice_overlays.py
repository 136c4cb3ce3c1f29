"""The screen overlays of a :class:`~medviewer.qt.slice_view.SliceView`: corner text,
orientation letters on the edges and the scale bar.

They are children of the ViewBox itself, not of its transformed child group: they sit in screen
pixels, do not scale with zoom, and are drawn from a per-item pixmap cache that is refreshed
only when their content changes. :class:`SliceOverlaysMixin` holds the view's overlay API.
"""

from __future__ import annotations

import math

from PySide6 import QtCore, QtGui, QtWidgets

Qt = QtCore.Qt

OVERLAY_Z = 1e5
MARGIN = 6
MIN_TEXT_SCALE = 0.5  # corner text of a narrow view shrinks, never below half size
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
EDGES = ("left", "right", "top", "bottom")


class SliceOverlaysMixin:
    """Corner text, orientation labels and the scale bar of a SliceView (``self.view`` is its
    ViewBox; ``pixels_per_mm()`` and ``_shape`` come from the view)."""

    def _build_overlays(self) -> None:
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
        self._fit_corners()

    def _fit_corners(self) -> None:
        """Shrink the corner text of a narrow view (a cell of a 2x2 grid, a side-by-side view)
        until the left and right blocks of the top and of the bottom no longer overlap; never
        below half size. Unchanged sizes cost nothing."""
        room = self.view.width() - 3 * MARGIN
        need = max(
            self._corners[left].natural_width + self._corners[right].natural_width
            for left, right in (("top_left", "top_right"), ("bottom_left", "bottom_right"))
        )
        scale = 1.0 if need <= room or need <= 0 else max(MIN_TEXT_SCALE, room / need)
        # still too wide at the smallest size: each block its half, long lines shortened (…)
        limit = room / 2 / scale if need * scale > room else None
        for block in self._corners.values():
            if block.scale() != scale:
                block.setScale(scale)
            block.set_max_width(limit)
        self._clear_letters()

    def _clear_letters(self) -> None:
        """Move the top (bottom) orientation letter below (above) a corner block it would
        sit on: corner text and letter both readable, the text kept at its size."""
        w, h = self.view.width(), self.view.height()
        for edge, corners, down in (
            ("top", ("top_left", "top_right"), True),
            ("bottom", ("bottom_left", "bottom_right"), False),
        ):
            letter = self._edges[edge]
            letter.setPos(w / 2, MARGIN if down else h - MARGIN)
            if not letter.has_text:
                continue
            rect = letter.sceneBoundingRect()
            blocks = [
                self._corners[c].sceneBoundingRect()
                for c in corners
                if self._corners[c].has_text and self._corners[c].isVisible()
            ]
            hit = [b for b in blocks if b.left() < rect.right() and rect.left() < b.right()]
            if hit and down:
                letter.setPos(w / 2, max(b.bottom() for b in hit) + 2)
            elif hit:
                letter.setPos(w / 2, min(b.top() for b in hit) - 2)
            if not down:  # the scale bar stays just above the bottom letter
                self._scale_bar.setPos(w / 2, letter.sceneBoundingRect().top() - 2)

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
        return self._scale_bar.length_mm if self._scale_bar.isVisible() else 0.0

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
        self._fit_corners()


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
        self._shown: tuple[str, ...] = ()  # the lines as drawn: shortened to _max_width
        self._widths: list[float] = []
        self._natural = 0.0
        self._max_width: float | None = None
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

    @property
    def natural_width(self) -> float:
        """The width of the block with no line shortened (item units, before scaling)."""
        return self._natural

    def set_lines(self, lines) -> None:
        lines = tuple(str(line) for line in lines)
        if lines == self._lines:
            return
        self._lines = lines
        self._natural = max((self._metrics.horizontalAdvance(x) for x in lines), default=0.0) + 2
        self._layout()

    def set_max_width(self, width: float | None) -> None:
        """Shorten lines wider than ``width`` (item units) with an ellipsis; None: none."""
        if width != self._max_width:
            self._max_width = width
            self._layout()

    def _layout(self) -> None:
        self.prepareGeometryChange()
        limit = self._max_width
        elide = QtCore.Qt.TextElideMode.ElideRight
        self._shown = tuple(
            self._metrics.elidedText(line, elide, max(limit - 2, 8.0)) if limit else line
            for line in self._lines
        )
        self._widths = [self._metrics.horizontalAdvance(line) for line in self._shown]
        w = max(self._widths, default=0.0) + 2
        h = len(self._shown) * self._metrics.lineSpacing() + 2
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
        for i, (line, width) in enumerate(zip(self._shown, self._widths)):
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
