"""The central area: one view (1x1) or axial / coronal / sagittal (1x3) with a crosshair."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.dicom import Window
from medviewer.qt.plane_view import PlaneView
from medviewer.qt.tools import MeasurementTools
from medviewer.session import mpr
from medviewer.session.measure import calibrated

PLANES = ("axial", "coronal", "sagittal")


class ViewerArea(QtWidgets.QWidget):
    """Owns the plane views, their layout, the crosshair link, W/L drag, cine and tools."""

    primary_index_changed = QtCore.Signal(int)
    window_changed = QtCore.Signal(object)
    cursor_info = QtCore.Signal(str)
    mpr_refused = QtCore.Signal(str)
    """MPR is chosen but this series cannot be reformatted: why (shown as a message)."""

    def __init__(self, session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.layout_name = "1x1"
        self.overlays_visible = True
        self.primary_plane = "axial"
        self.views = {p: PlaneView(p, session, self) for p in PLANES}
        self.tools = {p: MeasurementTools(v, session) for p, v in self.views.items()}
        grid = QtWidgets.QHBoxLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        for plane in PLANES:
            self.splitter.addWidget(self.views[plane])
            view = self.views[plane]
            view.index_changed.connect(self._index_changed)
            view.crosshair_moved.connect(self.set_cursor)
            view.view.window_dragged.connect(self._window_dragged)
            view.view.cursor_moved.connect(lambda rc, v=view: self._cursor_moved(v, rc))
            view.view.view_changed.connect(lambda _z, v=view: v.update_corner_text())
            view.activated.connect(self._plane_activated)
        grid.addWidget(self.splitter)
        self._active_plane: str | None = None  # the plane last clicked (cine plays it)
        self.cine_source = None
        """A callable giving the PlaneView cine plays (the reading area's active viewport),
        or None for this area's own active plane."""
        self.cine = QtCore.QTimer(self)
        self.cine.timeout.connect(self._cine_step)
        self.cine_fps = 10
        self.apply_layout()

    # -- volume lifecycle ------------------------------------------------------------------
    def volume_started(self) -> None:
        """A new volume is current (middle slice ready): set planes and indices."""
        volume = self.session.volume
        self.primary_plane = mpr.acquired_plane(volume)
        for plane, view in self.views.items():
            view._fitted_shape = None
            plane_index, _, _ = mpr.from_index(volume, plane, self.session.cursor)
            view.index = plane_index
        self.apply_layout()
        self.refresh()
        self._say_why_no_mpr()

    def refresh(self) -> None:
        for view in self.visible_views():
            view.refresh()
        for plane in PLANES:
            self.tools[plane].sync()

    @property
    def primary(self) -> PlaneView:
        return self.views[self.primary_plane]

    def visible_views(self) -> list[PlaneView]:
        if not self.mpr_shown:
            return [self.primary]
        return [self.views[p] for p in PLANES]

    @property
    def mpr_shown(self) -> bool:
        """The three planes are on screen: MPR chosen, and the series can be reformatted."""
        volume = self.session.volume
        chosen = self.layout_name == "1x3"
        return chosen and (volume is None or mpr.reformat_problem(volume) is None)

    # -- layout -----------------------------------------------------------------------------
    def set_layout(self, name: str) -> None:
        if name not in ("1x1", "1x3"):
            raise ValueError(f"unknown layout {name!r}")
        self.layout_name = name
        self.apply_layout()
        self.refresh()
        self._say_why_no_mpr()

    def _say_why_no_mpr(self) -> None:
        volume = self.session.volume
        if self.layout_name == "1x3" and volume is not None:
            problem = mpr.reformat_problem(volume)
            if problem:
                self.mpr_refused.emit(f"No MPR for this series: {problem}.")

    def apply_layout(self) -> None:
        mpr_on = self.mpr_shown
        for plane, view in self.views.items():
            view.setVisible(mpr_on or plane == self.primary_plane)
            view.show_crosshair(mpr_on)
            view.view.set_overlays_visible(self.overlays_visible)

    def set_overlays_visible(self, visible: bool) -> None:
        self.overlays_visible = visible
        for view in self.views.values():
            view.view.set_overlays_visible(visible)

    # -- navigation ---------------------------------------------------------------------------
    def set_primary_index(self, index: int) -> None:
        self.primary.set_index(index)

    def _index_changed(self, plane: str, index: int) -> None:
        volume = self.session.volume
        if volume is None:
            return
        k, j, i = self.session.cursor
        _, row, col = mpr.from_index(volume, plane, self.session.cursor)
        self.set_cursor(mpr.to_index(volume, plane, index, row, col), source=plane)

    def set_cursor(self, kji, source: str | None = None) -> None:
        volume = self.session.volume
        if volume is None:
            return
        self.session.set_cursor(*kji)
        for plane, view in self.views.items():
            plane_index, _, _ = mpr.from_index(volume, plane, self.session.cursor)
            if plane != source and plane_index != view.index:
                view.index = plane_index
        self.refresh()
        self.primary_index_changed.emit(self.primary.index)

    # -- window / level -----------------------------------------------------------------------
    def _window_dragged(self, center: float, width: float) -> None:
        self.set_window(Window(center, max(width, 1.0), "Custom"))

    def set_window(self, window: Window) -> None:
        self.session.set_window(window)
        for view in self.visible_views():
            view.view.set_window(window)
            view.update_corner_text()
        self.window_changed.emit(window)

    # -- cine ---------------------------------------------------------------------------------
    def set_cine(self, playing: bool) -> None:
        if playing and self.session.volume is not None:
            self.cine.start(int(1000 / max(1, self.cine_fps)))
        else:
            self.cine.stop()

    def set_cine_fps(self, fps: int) -> None:
        self.cine_fps = int(min(max(fps, 1), 60))
        if self.cine.isActive():
            self.cine.start(int(1000 / self.cine_fps))

    def _plane_activated(self, plane: str) -> None:
        self._active_plane = plane

    def cine_view(self) -> PlaneView:
        """The view cine plays: the active viewport's, as RadiAnt and Horos do."""
        chosen = self.cine_source() if self.cine_source is not None else None
        if chosen is not None:
            return chosen
        active = self.views.get(self._active_plane or "")
        return active if active is not None and active.isVisible() else self.primary

    def _cine_step(self) -> None:
        view = self.cine_view()
        n = view.count()
        if n:
            view.set_index((view.index + 1) % n)

    # -- tools / probe ----------------------------------------------------------------------
    def set_tool(self, tool: str | None) -> None:
        for t in self.tools.values():
            t.set_tool(tool)

    def delete_selected_measurement(self) -> bool:
        return any(t.remove() for t in self.tools.values())

    def _cursor_moved(self, view: PlaneView, rc) -> None:
        if rc is None or view.image is None or self.session.volume is None:
            self.cursor_info.emit("")
            return
        row, col = int(rc[0]), int(rc[1])
        values = view.image.values
        if not (0 <= row < values.shape[0] and 0 <= col < values.shape[1]):
            self.cursor_info.emit("")
            return
        value = values[row, col]
        units = self.session.volume.units
        k, j, i = mpr.to_index(self.session.volume, view.plane, view.index, row, col)
        x, y, z = self.session.volume.index_to_patient(k, j, i)
        shown = (
            "/".join(str(int(v)) for v in value)
            if getattr(value, "ndim", 0)
            else f"{float(value):g}"
        )
        where = (
            f"({x:.1f}, {y:.1f}, {z:.1f}) mm"
            if calibrated(self.session.volume)
            else f"pixel ({col}, {row}), no Pixel Spacing"
        )
        self.cursor_info.emit(f"{shown} {units}".strip() + f"  at {where}  [{view.plane}]")
