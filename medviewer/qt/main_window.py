"""The main window: slice view, slice slider, window presets, messages."""

from __future__ import annotations

import os
from collections.abc import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.dicom import ScanResult, Volume
from medviewer.jobs import Progress
from medviewer.qt.slice_view import SliceView
from medviewer.qt.workers import start_job
from medviewer.session import StudySession


class MainWindow(QtWidgets.QMainWindow):
    """Opens a study in the background and shows its largest series, middle slice first."""

    volume_ready = QtCore.Signal()

    def __init__(self, session: StudySession | None = None) -> None:
        super().__init__()
        self.session = session or StudySession()
        self.setWindowTitle("medviewer")
        self.resize(1100, 800)
        self._worker = None

        self.view = SliceView(self)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Vertical)
        self.slider.setInvertedAppearance(True)
        self.slider.setEnabled(False)
        central = QtWidgets.QWidget()
        layout = QtWidgets.QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.slider)
        self.setCentralWidget(central)

        self.messages = QtWidgets.QListWidget()
        self.messages_dock = QtWidgets.QDockWidget("Messages", self)
        self.messages_dock.setObjectName("messages")
        self.messages_dock.setWidget(self.messages)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, self.messages_dock)
        self.messages_dock.hide()  # shown when there is something to say

        toolbar = self.addToolBar("View")
        toolbar.setObjectName("view-toolbar")
        open_action = QtGui.QAction("Open folder…", self)
        open_action.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._choose_folder)
        toolbar.addAction(open_action)
        toolbar.addWidget(QtWidgets.QLabel("  Window: "))
        self.window_box = QtWidgets.QComboBox()
        self.window_box.setMinimumWidth(190)
        self.window_box.currentIndexChanged.connect(self._window_chosen)
        toolbar.addWidget(self.window_box)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
        self.statusBar().addPermanentWidget(self.progress)

        self.view.scrolled.connect(lambda steps: self.show_slice(self.session.slice_index + steps))
        self.slider.valueChanged.connect(self.show_slice)
        for i in range(9):
            shortcut = QtGui.QShortcut(QtGui.QKeySequence(str(i + 1)), self)
            shortcut.activated.connect(lambda i=i: self._pick_window(i))

    # -- opening ---------------------------------------------------------------------------
    def open_paths(self, paths: Sequence[str]) -> None:
        """Scan ``paths`` in the background, then load the largest series."""
        self.messages.clear()
        self.messages_dock.hide()
        self.statusBar().showMessage(f"Scanning {', '.join(os.fspath(p) for p in paths)}…")
        self.progress.setVisible(True)
        self._worker = start_job(
            self.session.open_iter(paths),
            on_progress=self._on_progress,
            on_done=self._on_scanned,
            on_error=self._on_error,
        )

    def _choose_folder(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open DICOM folder")
        if folder:
            self.open_paths([folder])

    def _on_progress(self, step: Progress) -> None:
        if step.total:
            self.progress.setRange(0, step.total)
            self.progress.setValue(step.done)
        if (
            isinstance(step.detail, Volume)
            and self.slider.maximum() != step.detail.array.shape[0] - 1
        ):
            self._volume_started()
        elif isinstance(step.detail, Volume) and self.session.slice_index == step.done - 1:
            self._refresh()

    def _on_scanned(self, result: ScanResult) -> None:
        for skipped in result.skipped:
            self._message(f"Skipped {skipped.path}: {skipped.reason}", warning=True)
        try:
            series = self.session.default_series()
        except Exception as exc:  # no series: say so
            self._on_error(str(exc))
            return
        for w in series.warnings:
            self._message(f"{w.code}: {w.message}", warning=True)
        self.statusBar().showMessage(f"Loading {series.modality} {series.description}…")
        self._worker = start_job(
            self.session.load_iter(series),
            on_progress=self._on_progress,
            on_done=self._on_loaded,
            on_error=self._on_error,
        )

    def _volume_started(self) -> None:
        volume = self.session.volume
        n = volume.array.shape[0]
        self.slider.blockSignals(True)
        self.slider.setRange(0, n - 1)
        self.slider.setValue(self.session.slice_index)
        self.slider.blockSignals(False)
        self.slider.setEnabled(True)
        self._fill_windows()
        self._refresh()
        self.view.setFocus()

    def _on_loaded(self, volume: Volume) -> None:
        self.progress.setVisible(False)
        if self.slider.maximum() != volume.array.shape[0] - 1:
            self._volume_started()
        extra = [w for w in volume.warnings if w not in self.session.series.warnings]
        for w in extra:
            self._message(f"{w.code}: {w.message}", warning=True)
        self._refresh()
        self.volume_ready.emit()

    def _on_error(self, message: str) -> None:
        self.progress.setVisible(False)
        self._message(message, warning=True)
        self.statusBar().showMessage(message)
        QtWidgets.QMessageBox.warning(self, "medviewer", message)

    def _message(self, text: str, warning: bool = False) -> None:
        item = QtWidgets.QListWidgetItem(text)
        if warning:
            item.setIcon(
                self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MessageBoxWarning)
            )
        self.messages.addItem(item)
        if not self.messages_dock.isVisible():
            self.messages_dock.show()
            self.resizeDocks([self.messages_dock], [120], QtCore.Qt.Orientation.Vertical)

    # -- viewing ---------------------------------------------------------------------------
    def _fill_windows(self) -> None:
        self.window_box.blockSignals(True)
        self.window_box.clear()
        self._windows = self.session.available_windows()
        for i, w in enumerate(self._windows):
            key = f"  [{i + 1}]" if i < 9 else ""
            self.window_box.addItem(f"{w.name} ({w.center:g}/{w.width:g}){key}")
        if self.session.window in self._windows:
            self.window_box.setCurrentIndex(self._windows.index(self.session.window))
        self.window_box.blockSignals(False)

    def _window_chosen(self, index: int) -> None:
        if 0 <= index < len(getattr(self, "_windows", [])):
            self.session.set_window(self._windows[index])
            self._refresh()

    def _pick_window(self, index: int) -> None:
        if index < self.window_box.count():
            self.window_box.setCurrentIndex(index)

    def show_slice(self, index: int) -> None:
        if self.session.volume is None:
            return
        index = self.session.set_slice(index)
        if self.slider.value() != index:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        self._refresh()

    def _refresh(self) -> None:
        volume = self.session.volume
        if volume is None:
            return
        _, row_sp, col_sp = volume.spacing
        self.view.set_slice(
            self.session.current_slice(),
            self.session.window,
            invert=volume.invert,
            spacing=(row_sp, col_sp),
        )
        loaded = volume.loaded is None or bool(volume.loaded[self.session.slice_index])
        self.statusBar().showMessage(self.session.status_text() + ("" if loaded else " | loading…"))
