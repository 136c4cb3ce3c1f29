"""The reading area: a grid of viewports (1x1, 1x2, 2x1, 2x2, 1x3) with an active one.

Viewport 0 is the existing :class:`~medviewer.qt.viewer_area.ViewerArea` (the main session's
primary series, with the AI heat map, labels, MPR and tools); viewports 1..3 are
:class:`~medviewer.qt.reading.viewport.ViewportWidget` s with sessions of their own. What each
viewport shows, the grid, the active viewport and the links live in a Qt-free
:class:`~medviewer.session.layout.ReadingLayout`; this widget lays the cells out from it and
writes the user's choices back through its setters.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6 import QtCore, QtWidgets

from medviewer.dicom import SeriesInfo, StudyInfo
from medviewer.errors import DicomError
from medviewer.qt.reading.drop import SeriesDropFilter
from medviewer.qt.reading.links import LinkController
from medviewer.qt.reading.viewport import ViewportWidget, on_right_click
from medviewer.session import mpr
from medviewer.session.layout import GRIDS, ReadingLayout
from medviewer.session.slab import Slab

ACTIVE_COLOUR = "#f0a030"
MAX_VIEWPORTS = max(rows * cols for rows, cols in GRIDS.values())
_CELL_STYLE = "QFrame#readingCell {{ border: 2px solid {}; }}"


class ReadingArea(QtWidgets.QWidget):
    """The central widget's grid; ``layout_state`` is the model, ``viewer`` viewport 0."""

    active_changed = QtCore.Signal(int)
    grid_changed = QtCore.Signal(str)
    links_changed = QtCore.Signal()  # the link options were replaced (a hanging layout)
    primary_requested = QtCore.Signal(str)  # a series key for viewport 0 (the window loads it)
    message = QtCore.Signal(str, bool)  # text, warning
    context_menu = QtCore.Signal(int, object)  # viewport, global QPoint

    def __init__(self, viewer, layout: ReadingLayout, parent=None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.session = viewer.session
        self.layout_state = layout
        self.viewports = [ViewportWidget(n, self) for n in range(1, MAX_VIEWPORTS)]
        self.cells: list[QtWidgets.QFrame] = []
        self._owner: dict[QtCore.QObject, int] = {}
        self.grid = QtWidgets.QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        for n, widget in enumerate([viewer, *self.viewports]):
            cell = QtWidgets.QFrame(self)
            cell.setObjectName("readingCell")
            box = QtWidgets.QVBoxLayout(cell)
            box.setContentsMargins(0, 0, 0, 0)
            box.addWidget(widget)
            self.cells.append(cell)
            drops = SeriesDropFilter(lambda key, n=n: self.assign(n, key), self)
            for view in self.plane_views(n, visible_only=False):
                drops.watch(view.view, view.view.viewport())
                view.view.installEventFilter(self)
                self._owner[view.view] = n
                if n == 0:
                    view.activated.connect(lambda _plane: self.set_active(0))
                    on_right_click(view, lambda pos: self.context_menu.emit(0, pos))
            if n:
                drops.watch(widget.hint)
                widget.activated.connect(self.set_active)
                widget.context_menu.connect(self.context_menu)
                widget.failed.connect(lambda _n, text: self.message.emit(text, True))
        self.links = LinkController(self)
        viewer.cine_source = lambda: self.main_view(self.active) if self.active else None
        self.apply_grid()

    # -- the grid -----------------------------------------------------------------------------
    @property
    def grid_name(self) -> str:
        return self.layout_state.grid

    @property
    def active(self) -> int:
        return self.layout_state.active

    def count(self) -> int:
        """Viewports in the current grid."""
        return self.layout_state.capacity

    def set_grid(self, name: str) -> None:
        """Switch the grid (ValueError if unknown); surviving viewports keep their series."""
        self.layout_state.set_grid(name)
        for widget in self.viewports[self.count() - 1 :]:
            widget.clear()
        self.apply_grid()
        self.grid_changed.emit(name)
        self.links.sync()

    def apply_grid(self) -> None:
        rows, cols = self.layout_state.shape
        for cell in self.cells:
            self.grid.removeWidget(cell)
        for n, cell in enumerate(self.cells):
            shown = n < rows * cols
            cell.setVisible(shown)
            if shown:
                self.grid.addWidget(cell, n // cols, n % cols)
        for r in range(MAX_VIEWPORTS):
            self.grid.setRowStretch(r, 1 if r < rows else 0)
            self.grid.setColumnStretch(r, 1 if r < cols else 0)
        self._paint_frames()

    def set_active(self, n: int) -> None:
        if not 0 <= n < self.count() or n == self.active:
            return
        self.layout_state.set_active(n)
        self._paint_frames()
        self.active_changed.emit(n)
        self.links.sync(move=False)

    def step_active(self, step: int) -> None:
        """Make the next (``step`` +1) or previous (-1) viewport of the grid the active one
        and give it the keys (F6 / Shift+F6: the grid without the mouse)."""
        n = self.count()
        if n > 1:
            self.set_active((self.active + step) % n)
        self.main_view(self.active).view.setFocus()

    def set_frames_visible(self, visible: bool) -> None:
        """Show or hide the viewports' frames (hidden while the grid is exported as PNG)."""
        self._frames_hidden = not visible
        self._paint_frames()

    def _paint_frames(self) -> None:
        single = self.count() == 1
        if getattr(self, "_frames_hidden", False):
            for cell in self.cells:
                cell.setStyleSheet("" if single else _CELL_STYLE.format("black"))
            return
        for n, cell in enumerate(self.cells):
            colour = ACTIVE_COLOUR if n == self.active and not single else "transparent"
            cell.setStyleSheet("" if single else _CELL_STYLE.format(colour))

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QtCore.QEvent.Type.FocusIn and watched in self._owner:
            self.set_active(self._owner[watched])
        return False

    # -- what each viewport shows -------------------------------------------------------------
    def series_list(self) -> list[tuple[StudyInfo, SeriesInfo]]:
        """Every series of the open scan with its study (for the viewport menu)."""
        scan = self.session.scan_result
        if scan is None:
            return []
        return [(study, series) for study in scan.studies for series in study.series]

    def study_of(self, series: SeriesInfo) -> StudyInfo | None:
        return next((st for st, se in self.series_list() if se.key == series.key), None)

    def assign(self, n: int, key: str, window=None) -> None:
        """Show series ``key`` of the open scan in viewport ``n`` (loaded on a worker)."""
        scan = self.session.scan_result
        if scan is None or not 0 <= n < self.count():
            return
        try:
            series = scan.find_series(key)
        except DicomError as exc:
            self.message.emit(str(exc), True)
            return
        self.layout_state.assign(n, series.key)
        if n == 0:
            if self.session.series is None or self.session.series.key != series.key:
                self.primary_requested.emit(series.key)
            return
        state = self.layout_state.viewports[n]
        widget = self.viewports[n - 1]
        widget.wanted_plane = state.plane
        widget.session.set_slab(state.slab)
        widget.session.deidentified = self.session.deidentified
        widget.load(self.study_of(series), series, window=window or state.window)

    def clear_viewport(self, n: int) -> None:
        if 0 < n < self.count():
            self.layout_state.assign(n, None)
            self.viewports[n - 1].clear()

    def scan_changed(self) -> None:
        """A new scan is open: the other viewports' series are gone with the old one."""
        for n in range(1, self.count()):
            self.clear_viewport(n)
        self.layout_state.assign(0, None)

    def apply_layout(self, layout: ReadingLayout) -> None:
        """Take grid, links, planes, slabs and series from ``layout`` (a hanging layout);
        the remembered offsets stay. Viewport 0's series is the window's to load."""
        self.set_grid(layout.grid)
        self.layout_state.links = replace(layout.links)
        self.links_changed.emit()
        for n, state in enumerate(layout.viewports[: self.count()]):
            self.layout_state.viewports[n] = replace(state)
            if n == 0:
                continue
            if state.series_key:
                self.assign(n, state.series_key, window=state.window)
            else:
                self.clear_viewport(n)

    def primary_changed(self) -> None:
        """The main session shows a (new) volume: apply viewport 0's slab and wanted window,
        follow the links."""
        if self.session.series is not None:
            self.layout_state.assign(0, self.session.series.key)
        state = self.layout_state.viewports[0]
        if state.window is not None and self.session.volume is not None:
            self.layout_state.viewports[0] = replace(state, window=None)
            self.viewer.set_window(state.window)
        self._apply_primary_slab()
        self.links.sync()

    def set_plane(self, n: int, plane: str) -> None:
        if 0 < n < self.count():
            volume = self.viewports[n - 1].volume
            problem = mpr.reformat_problem(volume) if volume is not None else None
            if problem and plane != mpr.ACQUIRED:
                self.message.emit(f"Viewport {n + 1} stays as acquired: {problem}.", True)
            self.layout_state.set_plane(n, plane)
            self.viewports[n - 1].set_plane(plane)
            self.links.sync()

    def set_slab(self, n: int, slab: Slab) -> None:
        self.layout_state.set_slab(n, slab)
        if n == 0:
            self._apply_primary_slab()
        elif n < self.count():
            self.viewports[n - 1].set_slab(slab)

    def _apply_primary_slab(self) -> None:
        slab = self.layout_state.viewports[0].slab
        for view in self.viewer.views.values():
            view.slab = slab
        self.viewer.refresh()

    # -- one face for every viewport ------------------------------------------------------------
    def volume(self, n: int):
        return self.session.volume if n == 0 else self.viewports[n - 1].volume

    def viewport_session(self, n: int):
        return self.session if n == 0 else self.viewports[n - 1].session

    def main_view(self, n: int):
        """The PlaneView that leads viewport ``n`` (viewport 0: the primary plane)."""
        return self.viewer.primary if n == 0 else self.viewports[n - 1].plane_view

    def plane_views(self, n: int, visible_only: bool = True) -> list:
        if n == 0:
            views = self.viewer.visible_views() if visible_only else self.viewer.views.values()
            return list(views)
        return [self.viewports[n - 1].plane_view]

    def loaded(self) -> list[int]:
        """Viewports of the grid that show a volume."""
        return [n for n in range(self.count()) if self.volume(n) is not None]

    def refresh(self) -> None:
        self.viewer.refresh()
        for widget in self.viewports[: self.count() - 1]:
            widget.session.deidentified = self.session.deidentified
            widget.refresh()
        self.links.sync(move=False)

    def set_inverted(self, inverted: bool) -> list[int]:
        """Invert the grey scale of the active viewport and, when window / level is linked,
        of the linked viewports of the same modality (as a window preset goes); return the
        viewports changed. Each viewport keeps its own choice, as in Weasis and RadiAnt."""
        active = self.active
        targets = [active]
        volume = self.volume(active)
        if self.layout_state.links.window and volume is not None:
            modality = volume.series.modality
            targets += [
                n
                for n in self.loaded()
                if n != active and self.volume(n).series.modality == modality
            ]
        for n in targets:
            self.viewport_session(n).user_invert = inverted
            if n == 0:
                self.viewer.refresh()
            else:
                self.viewports[n - 1].refresh()
        return targets

    def inverted(self, n: int | None = None) -> bool:
        """Whether the user inverted viewport ``n`` (default: the active one)."""
        return self.viewport_session(self.active if n is None else n).user_invert

    def set_overlays_visible(self, visible: bool) -> None:
        self.viewer.set_overlays_visible(visible)
        for widget in self.viewports:
            widget.plane_view.view.set_overlays_visible(visible)

    def set_tool(self, tool: str | None) -> None:
        self.viewer.set_tool(tool)
        for widget in self.viewports:
            widget.tools.set_tool(tool)

    def delete_selected_measurement(self) -> bool:
        if self.viewer.delete_selected_measurement():
            return True
        return any(widget.tools.remove() for widget in self.viewports)

    def fit(self) -> None:
        for n in self.loaded():
            for view in self.plane_views(n):
                view.view.fit()

    def close_viewports(self) -> None:
        for widget in self.viewports:
            widget.cancel()


__all__ = ["ACTIVE_COLOUR", "MAX_VIEWPORTS", "ReadingArea"]
