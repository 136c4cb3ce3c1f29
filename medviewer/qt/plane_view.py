"""One anatomical plane of the open volume: a SliceView plus its overlays and crosshair.

In a reading layout it also draws a thick slab (``session.slab.reformat_slab``) when one is
active, a reference line where another viewport's slice cuts it, and a notice (in the corner
text) when a linked viewport has no slice at the linked position.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from medviewer.qt.slice_view import SliceView
from medviewer.session import mpr, overlay
from medviewer.session.measure import calibrated
from medviewer.session.slab import reformat_slab, slab_corner_text, slab_indices

CROSSHAIR_PEN = pg.mkPen((80, 200, 255, 160), width=1)
REFERENCE_PEN = pg.mkPen((255, 200, 40, 200), width=1)


class PlaneView(QtWidgets.QFrame):
    """Shows ``plane`` of the session's volume at ``index``; emits what the user does."""

    index_changed = QtCore.Signal(str, int)
    crosshair_moved = QtCore.Signal(object)  # (k, j, i) volume indices
    activated = QtCore.Signal(str)

    def __init__(self, plane: str, session, parent=None) -> None:
        super().__init__(parent)
        self.plane = plane
        self.session = session
        self.index = 0
        self.image: mpr.PlaneImage | None = None
        self.crosshair_visible = False
        self.slab = None
        """A :class:`~medviewer.session.slab.Slab` for this view; None: the session's own."""
        self.notice = ""
        self.blank = False
        """True while a linked position has no slice here: nothing is drawn, the notice is."""
        self.setFrameShape(QtWidgets.QFrame.Shape.Box)
        self.setObjectName("planeView")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        self.view = SliceView(self)
        layout.addWidget(self.view)
        self._hline = pg.InfiniteLine(angle=0, pen=CROSSHAIR_PEN, movable=False)
        self._vline = pg.InfiniteLine(angle=90, pen=CROSSHAIR_PEN, movable=False)
        for line in (self._hline, self._vline):
            line.setZValue(20)
            line.setVisible(False)
            self.view.view.addItem(line, ignoreBounds=True)
        self.reference = pg.PlotCurveItem(pen=REFERENCE_PEN)
        self.reference.setZValue(19)
        self.reference.setVisible(False)
        self.view.view.addItem(self.reference, ignoreBounds=True)
        self.view.scrolled.connect(lambda steps: self.set_index(self.index + steps))
        self.view.jump.connect(lambda where: self.set_index(0 if where == 0 else self.count() - 1))
        self.view.view.scene().sigMouseClicked.connect(self._clicked)
        self._fitted_shape = None
        self._scale_bar_shown = True

    # -- state ------------------------------------------------------------------------------
    def count(self) -> int:
        volume = self.session.volume
        return 0 if volume is None else mpr.plane_count(volume, self.plane)

    def set_index(self, index: int, *, emit: bool = True) -> None:
        n = self.count()
        if n == 0:
            return
        index = int(min(max(index, 0), n - 1))
        changed = index != self.index or self.blank
        self.index = index
        self.blank = False
        self.notice = ""
        self.refresh()
        if changed and emit:
            self.index_changed.emit(self.plane, index)

    def refresh(self) -> None:
        """Redraw from the session: image, window, overlays, crosshair."""
        volume = self.session.volume
        if volume is None:
            return
        slab = self.active_slab()
        if slab is None:
            self.image = img = mpr.reformat(volume, self.plane, self.index)
        else:
            self.image = img = reformat_slab(volume, self.plane, self.index, slab)
        self.view.image.setVisible(not self.blank)
        self.view.set_slice(
            img.values,
            self.session.window,
            invert=self.session.inverted,
            spacing=(img.row_spacing, img.col_spacing),
        )
        if self._fitted_shape != img.values.shape[:2]:
            self._fitted_shape = img.values.shape[:2]
            self.view.fit()
        if calibrated(volume) != self._scale_bar_shown:  # no mm scale bar on pixel units
            self._scale_bar_shown = calibrated(volume)
            self.view.set_scale_bar(visible=self._scale_bar_shown)
        self.view.set_orientation_labels(overlay.edge_labels(volume, img))
        self.update_corner_text()
        self._place_crosshair()

    def update_corner_text(self) -> None:
        if self.image is None or self.session.volume is None:
            return
        volume = self.session.volume
        texts = overlay.corner_texts(
            self.session.study,
            volume.series,
            volume,
            self.index,
            None if volume.is_color else self.session.window,  # no W/L line on colour
            self.view.zoom,
            self.session.deidentified,
            plane=self.plane,
        )
        loaded = self.session.volume.loaded
        if loaded is not None and not loaded.all():
            texts.setdefault("bottom_left", []).append("loading…")
        slab = self.active_slab()
        if slab is not None and not self.blank:
            n = len(slab_indices(self.session.volume, self.plane, self.index, slab.thickness_mm))
            texts.setdefault("bottom_left", []).append(slab_corner_text(slab, n))
        if self.blank:  # nothing drawn: no image number, position or thickness of a slice
            texts["bottom_left"] = []
        if self.notice:
            texts.setdefault("bottom_left", []).append(self.notice)
        self.view.set_corner_text(texts)

    # -- reading layouts: slab, linked position, reference line ----------------------------
    def active_slab(self):
        """The slab drawn (this view's, else the session's), or None when none is active."""
        slab = self.slab if self.slab is not None else getattr(self.session, "slab", None)
        if slab is None or not slab.active():
            return None
        volume = self.session.volume
        if volume is None or volume.is_color:
            return None
        return slab

    def show_linked(self, index: int | None, notice: str = "") -> None:
        """Go to ``index`` without emitting (a linked move), or, for None, draw nothing but
        the ``notice`` (no slice at the linked position)."""
        if index is None:
            self.blank = True
            self.notice = notice
            self.set_reference_line(None)
            self.refresh()
            return
        n = self.count()
        if n:
            self.index = int(min(max(index, 0), n - 1))
        self.blank = False
        self.notice = notice
        self.refresh()

    def set_reference_line(self, points) -> None:
        """A thin line through two (row, col) float pixel points of this image; None hides."""
        if points is None or self.image is None or self.blank:
            self.reference.setVisible(False)
            return
        (r0, c0), (r1, c1) = points
        rs, cs = self.image.row_spacing, self.image.col_spacing
        self.reference.setData([c0 * cs, c1 * cs], [r0 * rs, r1 * rs])
        self.reference.setVisible(True)

    def reference_line_mm(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """The shown reference line's ends as (x_mm, y_mm) view points (for tests)."""
        if not self.reference.isVisible():
            return None
        xs, ys = self.reference.getData()
        return ((float(xs[0]), float(ys[0])), (float(xs[1]), float(ys[1])))

    # -- crosshair --------------------------------------------------------------------------
    def show_crosshair(self, visible: bool) -> None:
        self.crosshair_visible = visible
        self._place_crosshair()

    def _place_crosshair(self) -> None:
        volume = self.session.volume
        show = self.crosshair_visible and volume is not None and self.image is not None
        self._hline.setVisible(show)
        self._vline.setVisible(show)
        if not show:
            return
        _, row, col = mpr.from_index(volume, self.plane, self.session.cursor)
        self._hline.setValue((row + 0.5) * self.image.row_spacing)
        self._vline.setValue((col + 0.5) * self.image.col_spacing)

    def _clicked(self, event) -> None:
        self.activated.emit(self.plane)
        if not self.crosshair_visible or self.image is None or event.button() != 1:
            return
        if self.view.interaction_mode != "navigate":
            return
        point = self.view.view.mapSceneToView(event.scenePos())
        row = int(np.floor(point.y() / self.image.row_spacing))
        col = int(np.floor(point.x() / self.image.col_spacing))
        rows, cols = self.image.values.shape[:2]
        if 0 <= row < rows and 0 <= col < cols:
            self.crosshair_moved.emit(
                mpr.to_index(self.session.volume, self.plane, self.index, row, col)
            )
