"""The main window: series browser, reading area (viewers), menus, status bar; open and load."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Sequence

from PySide6 import QtCore, QtWidgets

from medviewer.dicom import ScanResult, Volume
from medviewer.dicom.model import NO_PIXEL_DATA
from medviewer.jobs import Progress
from medviewer.qt import actions
from medviewer.qt.ai import AIDock
from medviewer.qt.commands import CommandsMixin
from medviewer.qt.network import NetworkMenu
from medviewer.qt.panels.labeling import LabelingDock
from medviewer.qt.reading import compare, protocols
from medviewer.qt.reading.area import ReadingArea
from medviewer.qt.series_browser import SeriesBrowser
from medviewer.qt.viewer_area import ViewerArea
from medviewer.qt.workers import start_job
from medviewer.qt.worklist import WorklistDock
from medviewer.session import StudySession
from medviewer.session.layout import layout_from_settings, store_in_settings
from medviewer.session.study import no_images_message
from medviewer.settings import Settings, load_settings, save_settings

log = logging.getLogger(__name__)


STARTUP = "startup"
"""What the Messages list marks start-up messages with: opening a study keeps them."""

EMPTY_VIEW_LINES = (
    "No study open",
    "Ctrl+O  open a folder",
    "Ctrl+Shift+O  open files",
    "Ctrl+Shift+D  open a DICOMDIR",
    "or drop DICOM files or folders here",
    "F1  every shortcut",
)


class MainWindow(CommandsMixin, QtWidgets.QMainWindow):
    """Opens studies in the background and shows them; the middle slice comes first."""

    volume_ready = QtCore.Signal()
    series_loading = QtCore.Signal(str)

    def __init__(self, session: StudySession | None = None, settings: Settings | None = None):
        super().__init__()
        self.session = session or StudySession()
        if settings is None:
            settings, problems = load_settings()
        else:
            problems = []
        self.settings = settings
        self.setWindowTitle("medviewer")
        self.resize(1280, 860)
        self.setAcceptDrops(True)
        self._worker = None
        self._windows = []
        self._wanted_series: str | None = None
        self.opened_paths: list[str] = []  # what the browser shows (the network adds to it)

        self.viewer = ViewerArea(self.session, self)
        self.reading = ReadingArea(self.viewer, layout_from_settings(settings), self)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Vertical)
        self.slider.setInvertedAppearance(True)
        self.slider.setEnabled(False)
        self.slider.setToolTip("Slice")
        central = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.reading, 1)
        row.addWidget(self.slider)
        self.setCentralWidget(central)

        self.browser = SeriesBrowser(self)
        self.browser_dock = self._dock("Series", "series", self.browser, "Left")
        self.messages = QtWidgets.QListWidget()
        self.messages_dock = self._dock("Messages", "messages", self.messages, "Bottom")
        self.messages_dock.hide()  # shown when there is something to say

        self.window_box = QtWidgets.QComboBox()
        self.window_box.setMinimumWidth(200)
        self.window_box.currentIndexChanged.connect(self._window_chosen)
        self.fps_box = QtWidgets.QSpinBox()
        self.fps_box.setRange(1, 60)
        self.fps_box.setSuffix(" fps")
        self.fps_box.setValue(self.settings.cine_fps)
        self.fps_box.valueChanged.connect(self._fps_changed)
        self.viewer.set_cine_fps(self.settings.cine_fps)
        self.actions = actions.build(self)
        self.ai = AIDock(self)  # the "AI" dock and menu; no model is loaded until Run
        self.labeling = LabelingDock(self)  # the "Labels" dock and menu; the store opens lazily
        self.worklist = WorklistDock(self)  # the triage "Worklist" dock and menu
        self.network = NetworkMenu(self)  # the "Network" menu and Query / Retrieve dock

        self.cursor_label = QtWidgets.QLabel()
        self.statusBar().addWidget(self.cursor_label, 1)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(200)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_job)
        for widget in (self.progress, self.cancel_button):
            widget.setVisible(False)
            self.statusBar().addPermanentWidget(widget)

        self.browser.series_activated.connect(self.load_series)
        self.browser.compare_requested.connect(lambda key: compare.compare_with_prior(self, key))
        self.reading.primary_requested.connect(self.load_series)
        self.reading.message.connect(self._message)
        self.reading.message.connect(lambda text, _w: self.statusBar().showMessage(text, 8000))
        self.slider.valueChanged.connect(self._slider_moved)
        self.viewer.primary_index_changed.connect(lambda i: self._sync_slider(i, 0))
        # the slider drives (and follows) the active viewport, as the keys do
        self.reading.active_changed.connect(lambda _n: self._slider_follows_active())
        self.reading.active_changed.connect(lambda _n: self._invert_follows_active())
        for vp in self.reading.viewports:
            vp.plane_view.index_changed.connect(lambda _p, i, n=vp.number: self._sync_slider(i, n))
            vp.loaded.connect(lambda _n: self._slider_follows_active())
        self.viewer.cursor_info.connect(self.cursor_label.setText)
        self.viewer.mpr_refused.connect(lambda text: self._message(text, warning=True))
        self.viewer.mpr_refused.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.viewer.window_changed.connect(lambda _w: self._select_window_entry())
        self._apply_settings()
        self._show_how_to_open()
        for problem in problems:
            self._message(problem, warning=True)
        for i in range(self.messages.count()):  # settings, nodes, layouts: kept past opening
            self.messages.item(i).setData(QtCore.Qt.ItemDataRole.UserRole, STARTUP)
        if self.messages.count():
            self.messages_dock.show()

    def _dock(self, title, name, widget, area) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        where = getattr(QtCore.Qt.DockWidgetArea, f"{area}DockWidgetArea")
        self.addDockWidget(where, dock)
        return dock

    # -- opening ----------------------------------------------------------------------------
    def open_paths(self, paths: Sequence[str | os.PathLike], series_key: str | None = None):
        """Scan ``paths`` in the background, list the series, load ``series_key`` (when it
        is found) or the largest."""
        paths = [os.fspath(p) for p in paths]
        self.cancel_job()
        self._wanted_series = series_key
        self._opening_paths = list(paths)
        # the last study's messages go; what start-up said (a damaged settings or nodes
        # file, set aside as .bad) stays until read
        for i in reversed(range(self.messages.count())):
            if self.messages.item(i).data(QtCore.Qt.ItemDataRole.UserRole) != STARTUP:
                self.messages.takeItem(i)
        if not self.messages.count():
            self.messages_dock.hide()
        self.settings.last_folder = os.path.dirname(os.path.abspath(paths[0])) if paths else ""
        self.statusBar().showMessage(f"Scanning {', '.join(paths)}…")
        self._run(self.session.open_iter(paths), self._on_scanned)

    def _run(self, job, on_done) -> None:
        """Run ``job`` on a worker; callbacks from a worker that is no longer current are
        dropped, so a cancelled load can never overwrite what the user asked for next."""
        current: dict = {}

        def guard(callback):
            def call(value):
                if self._worker is not None and self._worker is current.get("worker"):
                    callback(value)

            return call

        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        worker = start_job(
            job,
            on_progress=guard(self._on_progress),
            on_done=guard(on_done),
            on_error=guard(self._on_error),
        )
        current["worker"] = self._worker = worker
        worker.finished.connect(self._job_finished)

    def cancel_job(self) -> None:
        if self._worker is not None:
            self._worker.quit()
            self._worker = None
            self.statusBar().showMessage("Cancelled", 3000)
        self._job_finished()

    def _job_finished(self) -> None:
        if self._worker is None or not self._worker.is_running:
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)

    def _on_progress(self, step: Progress) -> None:
        if step.total:
            self.progress.setRange(0, step.total)
            self.progress.setValue(step.done)
        if isinstance(step.detail, Volume):
            if step.detail is not getattr(self, "_shown_volume", None):
                self._shown_volume = step.detail
                self._volume_started()
            else:
                self.viewer.refresh()

    def _on_scanned(self, result: ScanResult) -> None:
        self._worker = None
        paths = getattr(self, "_opening_paths", [])
        for skipped in result.skipped:
            if skipped.code == NO_PIXEL_DATA:  # reports, key objects: not a fault of the file
                hint = ""
                if " SR " in f" {skipped.reason} " or "Key Object" in skipped.reason:
                    hint = " (a medviewer AI result among them is read into the AI dock)"
                self._message(f"Not an image, not shown{hint}: {skipped.path}: {skipped.reason}")
            else:
                self._message(f"Skipped {skipped.path}: {skipped.reason}", warning=True)
        if result.largest_series() is None:
            # nothing to show: the study open before stays, browser and viewer untouched
            kept = ""
            if self.session.volume is not None:
                study = self.session.study
                name = study.description if study and study.description else ""
                kept = "The study that was open" + (f" ({name})" if name else "")
            self._on_error(no_images_message(result, paths, kept))
            return
        self.opened_paths = list(paths)
        for p in paths:
            self.settings.remember(p)
        self._rebuild_recent()
        self.browser.set_scan_result(result)
        try:
            series = self.session.default_series()
        except Exception as exc:
            self._on_error(str(exc))
            return
        self.reading.scan_changed()
        key = protocols.apply_matching(self, series) or series.key
        wanted, self._wanted_series = self._wanted_series, None
        if wanted and any(s.key == wanted for s in result.all_series()):
            key = wanted
        self.load_series(key)

    def load_series(self, key: str) -> None:
        """Load the series (stack) with this key from the current scan."""
        if self.session.scan_result is None:
            return
        series = self.session.scan_result.find_series(key)
        self.cancel_job()
        self.browser.set_current(key)
        self._forget_messages(key)  # a reload (files still arriving) says it all afresh
        for w in series.warnings:
            text = f"{series.description or series.modality}: {w.message}"
            self._message(text, warning=True, about=key)
        self.statusBar().showMessage(f"Loading {series.modality} {series.description}…")
        self.series_loading.emit(key)
        self._run(self.session.load_iter(series), self._on_loaded)

    def _show_how_to_open(self) -> None:
        """No study yet: the empty view says how to open one (not a black rectangle)."""
        if self.session.volume is None:
            self.viewer.primary.view.set_corner_text({"top_left": list(EMPTY_VIEW_LINES)})

    def _volume_started(self) -> None:
        volume = self.session.volume
        self.viewer.volume_started()
        n = self.viewer.primary.count()
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(n - 1, 0))
        self.slider.setValue(self.viewer.primary.index)
        self.slider.blockSignals(False)
        self.slider.setEnabled(n > 1)
        self._fill_windows()
        study = self.session.study
        title = study.description if study and study.description else volume.series.modality
        self.setWindowTitle(f"medviewer — {title}")
        self.viewer.primary.view.setFocus()
        self.ai.volume_started()
        self.labeling.volume_started()
        self.reading.primary_changed()

    def _on_loaded(self, volume: Volume) -> None:
        self._worker = None
        if volume is not getattr(self, "_shown_volume", None):
            self._shown_volume = volume
            self._volume_started()
        for w in volume.warnings:
            if w not in self.session.scan_result.find_series(volume.series.key).warnings:
                self._message(w.message, warning=True, about=volume.series.key)
        self.viewer.refresh()
        self.reading.primary_changed()
        self.statusBar().showMessage(self.session.status_text(), 5000)
        self.volume_ready.emit()

    def _on_error(self, message: str) -> None:
        self._worker = None
        self._job_finished()
        self._message(message, warning=True)
        self.statusBar().showMessage(message)
        self.messages_dock.raise_()

    def _forget_messages(self, about: str) -> None:
        """Drop the messages about series ``about`` (its last load's)."""
        for i in reversed(range(self.messages.count())):
            if self.messages.item(i).data(QtCore.Qt.ItemDataRole.UserRole) == about:
                self.messages.takeItem(i)

    def _message(self, text: str, warning: bool = False, about: str | None = None) -> None:
        item = QtWidgets.QListWidgetItem(text)
        if about is not None:
            item.setData(QtCore.Qt.ItemDataRole.UserRole, about)
        if warning:
            icon = QtWidgets.QStyle.StandardPixmap.SP_MessageBoxWarning
            item.setIcon(self.style().standardIcon(icon))
        self.messages.addItem(item)
        if self.messages_dock.isHidden():
            self.messages_dock.show()
            self.resizeDocks([self.messages_dock], [110], QtCore.Qt.Orientation.Vertical)

    def _first_dock_sizes(self) -> None:
        docks = [self.ai_dock, self.labeling_dock]
        if all(d.isVisible() and not d.isFloating() for d in docks):
            height = sum(d.height() for d in docks)
            sizes = [int(height * 0.62), height - int(height * 0.62)]
            self.resizeDocks(docks, sizes, QtCore.Qt.Orientation.Vertical)

    def _slider_moved(self, value: int) -> None:
        n = self.reading.active
        if n == 0:
            self.viewer.set_primary_index(value)
        else:
            self.reading.main_view(n).set_index(value)

    def _slider_follows_active(self) -> None:
        n = self.reading.active
        view = self.reading.main_view(n)
        count = view.count() if (n == 0 or self.reading.volume(n) is not None) else 0
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(count - 1, 0))
        self.slider.setValue(view.index)
        self.slider.blockSignals(False)
        self.slider.setEnabled(count > 1)

    def _sync_slider(self, index: int, viewport: int = 0) -> None:
        if viewport == self.reading.active and self.slider.value() != index:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)

    # -- drag and drop ----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_paths(paths)
            event.acceptProposedAction()

    # -- settings -----------------------------------------------------------------------------
    def _apply_settings(self) -> None:
        s = self.settings
        if s.window_geometry:
            self.restoreGeometry(QtCore.QByteArray(base64.b64decode(s.window_geometry)))
        if s.window_state:
            self.restoreState(QtCore.QByteArray(base64.b64decode(s.window_state)))
            self.messages_dock.hide()
        else:  # first start: the AI dock gets most of the right column (its results, plot
            # and heat-map controls); the labels scroll
            QtCore.QTimer.singleShot(0, self._first_dock_sizes)
        self.actions["view.overlays"].setChecked(s.overlays_visible)
        self.viewer.set_overlays_visible(s.overlays_visible)
        self.actions["view.deidentify"].setChecked(s.deidentified)
        self.session.deidentified = s.deidentified
        self.actions["view.layout"].setChecked(s.layout == "1x3")
        self.viewer.set_layout(s.layout)
        self._rebuild_recent()

    def save_settings(self) -> None:
        s = self.settings
        s.window_geometry = base64.b64encode(bytes(self.saveGeometry())).decode("ascii")
        s.window_state = base64.b64encode(bytes(self.saveState())).decode("ascii")
        s.overlays_visible = self.viewer.overlays_visible
        s.deidentified = self.session.deidentified
        s.layout = self.viewer.layout_name
        s.cine_fps = self.viewer.cine_fps
        store_in_settings(self.reading.layout_state, s)
        try:
            save_settings(s)
        except Exception as exc:  # never lose the session over a settings file
            log.warning("settings not saved: %s", exc)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.cancel_job()
        self.ai.close()
        self.labeling.close()
        self.worklist.close()
        self.network.close()
        self.browser.cancel_thumbnails()
        self.reading.close_viewports()
        self.viewer.set_cine(False)
        self.save_settings()
        super().closeEvent(event)
