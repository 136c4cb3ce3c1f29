"""A secondary viewport of the reading area: one PlaneView and the measurement tools bound to
its own :class:`~medviewer.session.viewport.ViewportSession`, loaded on a worker.

The session holds the state (series, volume, window, cursor, slab); this widget draws it and
writes the user's changes back through the session's setters, then says so with a signal.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.dicom import SeriesInfo, StudyInfo, Volume, Window
from medviewer.qt.plane_view import PlaneView
from medviewer.qt.tools import MeasurementTools
from medviewer.qt.workers import start_job
from medviewer.session import mpr
from medviewer.session.slab import Slab
from medviewer.session.viewport import ViewportSession

HINT = "Drop a series here\nor right-click to choose one"


def on_right_click(plane_view: PlaneView, callback) -> None:
    """Call ``callback(global QPoint)`` on a right click (not a right-drag zoom) that no
    item on the view (a measurement) took."""

    def clicked(event) -> None:
        if event.button() != QtCore.Qt.MouseButton.RightButton or event.isAccepted():
            return
        callback(event.screenPos().toPoint())

    plane_view.view.view.scene().sigMouseClicked.connect(clicked)


class ViewportWidget(QtWidgets.QFrame):
    """Viewport ``number`` (1..3) of the grid, showing one series of the open scan."""

    activated = QtCore.Signal(int)
    index_changed = QtCore.Signal(int)  # the user moved to another slice (not a linked move)
    window_changed = QtCore.Signal(object)  # the user changed W/L here
    view_changed = QtCore.Signal(int)  # zoom or pan changed
    loaded = QtCore.Signal(int)  # a new series shows its first slice
    finished = QtCore.Signal(int)  # the series is loaded completely
    failed = QtCore.Signal(int, str)
    context_menu = QtCore.Signal(int, object)  # viewport, global QPoint

    def __init__(self, number: int, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.number = number
        self.session = ViewportSession()
        self.wanted_plane = "acquired"
        self._worker = None
        self._shown: Volume | None = None
        self.plane_view = PlaneView("axial", self.session, self)
        self.tools = MeasurementTools(self.plane_view, self.session)
        self.hint = QtWidgets.QLabel(HINT)
        self.hint.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.hint.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        self.hint.customContextMenuRequested.connect(
            lambda pos: self.context_menu.emit(self.number, self.hint.mapToGlobal(pos))
        )
        self.stack = QtWidgets.QStackedLayout(self)
        self.stack.addWidget(self.hint)
        self.stack.addWidget(self.plane_view)

        view = self.plane_view
        view.index_changed.connect(self._index_changed)
        view.activated.connect(lambda _plane: self.activated.emit(self.number))
        view.view.window_dragged.connect(
            lambda c, w: self.set_window(Window(c, max(w, 1.0), "Custom"), by_user=True)
        )
        view.view.view_changed.connect(self._view_changed)
        on_right_click(view, lambda pos: self.context_menu.emit(self.number, pos))

    # -- loading ------------------------------------------------------------------------------
    def load(self, study: StudyInfo | None, series: SeriesInfo, window=None) -> None:
        """Load ``series`` on a worker; the middle slice shows first, the GUI never waits."""
        self.cancel()
        self._shown = None
        current: dict = {}

        def guard(callback):
            def call(value):
                if self._worker is not None and self._worker is current.get("worker"):
                    callback(value)

            return call

        job = self.session.load_iter(study, series, window=window)
        worker = start_job(
            job,
            on_progress=guard(self._progress),
            on_done=guard(self._done),
            on_error=guard(self._failed),
        )
        current["worker"] = self._worker = worker

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.quit()
            self._worker = None

    def clear(self) -> None:
        """Show nothing (the hint); a load under way no longer changes the viewport."""
        self.cancel()
        self.session.clear()
        self._shown = None
        self.plane_view.image = None
        self.plane_view.set_reference_line(None)
        self.stack.setCurrentWidget(self.hint)

    @property
    def loading(self) -> bool:
        return self._worker is not None

    def _progress(self, step) -> None:
        volume = self.session.volume
        if volume is None:
            return
        if volume is not self._shown:
            self._started()
        else:
            self.plane_view.refresh()

    def _done(self, _volume) -> None:
        self._worker = None
        if self.session.volume is not None and self.session.volume is not self._shown:
            self._started()
        else:
            self.plane_view.refresh()
        self.finished.emit(self.number)

    def _failed(self, message: str) -> None:
        self._worker = None
        self.failed.emit(self.number, message)

    def _started(self) -> None:
        volume = self._shown = self.session.volume
        view = self.plane_view
        view.plane = _plane_for(volume, self.wanted_plane)
        view._fitted_shape = None
        view.index = mpr.from_index(volume, view.plane, self.session.cursor)[0]
        view.blank, view.notice = False, ""
        self.stack.setCurrentWidget(view)
        view.refresh()
        self.tools.sync()
        self.loaded.emit(self.number)

    # -- state set from outside (links, menus) ----------------------------------------------
    @property
    def volume(self) -> Volume | None:
        return self.session.volume

    def set_plane(self, plane: str) -> None:
        """Show ``plane`` ("acquired", "axial", "coronal", "sagittal") of the series."""
        self.wanted_plane = plane
        volume = self.session.volume
        if volume is None:
            return
        view = self.plane_view
        view.plane = _plane_for(volume, plane)
        view._fitted_shape = None
        view.index = mpr.from_index(volume, view.plane, self.session.cursor)[0]
        view.blank, view.notice = False, ""
        view.refresh()
        self.tools.sync()

    def set_slab(self, slab: Slab) -> None:
        self.session.set_slab(slab)
        self.plane_view.refresh()

    def set_window(self, window: Window, by_user: bool = False) -> None:
        if self.session.volume is None:
            return
        self.session.set_window(window)
        self.plane_view.view.set_window(window)
        self.plane_view.update_corner_text()
        if by_user:
            self.window_changed.emit(window)

    def follow(self, index: int | None, notice: str = "") -> None:
        """A linked move: show plane ``index`` (None: no slice there, only the notice)."""
        view = self.plane_view
        if self.session.volume is None:
            return
        view.show_linked(index, notice)
        if index is not None:
            self._move_cursor(view.index)
        self.tools.sync()

    def refresh(self) -> None:
        if self.session.volume is not None:
            self.plane_view.refresh()
            self.tools.sync()

    # -- what the user does here ------------------------------------------------------------
    def _index_changed(self, _plane: str, index: int) -> None:
        self._move_cursor(index)
        self.tools.sync()
        self.index_changed.emit(index)

    def _move_cursor(self, index: int) -> None:
        volume = self.session.volume
        plane = self.plane_view.plane
        _, row, col = mpr.from_index(volume, plane, self.session.cursor)
        self.session.set_cursor(*mpr.to_index(volume, plane, index, row, col))

    def _view_changed(self, _zoom: float) -> None:
        self.plane_view.update_corner_text()
        self.view_changed.emit(self.number)


__all__ = ["ViewportWidget", "on_right_click"]


def _plane_for(volume: Volume, wanted: str) -> str:
    """``wanted`` resolved; the acquired plane where the series cannot be reformatted."""
    if wanted != mpr.ACQUIRED and mpr.reformat_problem(volume) is not None:
        return mpr.acquired_plane(volume)
    return mpr.resolve_plane(volume, wanted)
