"""Studies that fill up while they are shown: instances retrieved or received land in the
study folder one file at a time; :class:`LiveStudies` rescans their study folders (on a worker,
throttled by :class:`~medviewer.session.network.RescanThrottle`) and puts the series in the
series browser beside what is open, without reloading the series on screen. A retrieve asks
for its study to be opened: its first series is loaded as soon as the first instances are
here, so the first slice shows while the rest is still coming; a series on screen that grew
is reloaded when it has doubled, at most every few seconds otherwise, and once at the end,
on the same slice."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from PySide6 import QtCore

from medviewer.dicom.scan import scan_iter
from medviewer.qt.workers import start_job
from medviewer.session.network import RescanThrottle, merged_paths

log = logging.getLogger(__name__)
RELOAD_S = 4.0
"""A series on screen that grew is reloaded at most this often while files arrive."""


class LiveStudies(QtCore.QObject):
    """Follows study folders for ``window`` (a MainWindow). ``refreshed(ScanResult)`` after a
    rescan was put in the browser; ``opened(str)`` with the series key a retrieve opened."""

    refreshed = QtCore.Signal(object)
    opened = QtCore.Signal(str)

    def __init__(self, window, interval_s: float = 1.5) -> None:
        super().__init__(window)
        self.window = window
        self.throttle = RescanThrottle(interval_s)
        self._to_open: dict[str, str] = {}
        self._finished: set[str] = set()
        self._worker = None
        self._last_reload = 0.0
        self._keep_sop: str | None = None
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._rescan)
        self._recheck = QtCore.QTimer(self)  # a series on screen that grew, reloaded later
        self._recheck.setSingleShot(True)
        self._recheck_folder = ""
        self._recheck.timeout.connect(lambda: self._schedule(self._recheck_folder))
        window.volume_ready.connect(self._volume_ready)

    # -- what arrives ---------------------------------------------------------------------------
    def open_when_here(self, study_folder: str | os.PathLike, series_uid: str = "") -> None:
        """Load this study's series (``series_uid``, else its largest) once it has files."""
        self._to_open[os.path.abspath(study_folder)] = series_uid

    def note(self, path: str | os.PathLike) -> None:
        """An instance was stored at ``ROOT/STUDY/SERIES/SOP.dcm``."""
        self._schedule(os.path.abspath(Path(path).parent.parent))

    def finish(self, study_folder: str | os.PathLike) -> None:
        """No more files for this folder (a retrieve ended): one last rescan, and the series
        on screen reloaded if it grew."""
        folder = os.path.abspath(study_folder)
        if not Path(folder).is_dir():  # nothing arrived: nothing to open
            self._to_open.pop(folder, None)
            return
        self._finished.add(folder)
        self._schedule(folder)

    def _schedule(self, folder: str) -> None:
        delay = self.throttle.note(folder, time.monotonic())
        ms = int(delay * 1000)
        if not self._timer.isActive() or self._timer.remainingTime() > ms:
            self._timer.start(ms)

    @property
    def busy(self) -> bool:
        return self._worker is not None or self._timer.isActive() or self.throttle.pending

    # -- rescans ------------------------------------------------------------------------------
    def _rescan(self) -> None:
        w = self.window
        if self._worker is not None or w._worker is not None:
            self._timer.start(150)  # the window is scanning or loading: after it
            return
        folders = self.throttle.take(time.monotonic())
        if not folders:
            return
        paths = list(getattr(w, "opened_paths", []) or [])
        for folder in folders:
            paths = merged_paths(paths, folder)
        opened_before = list(getattr(w, "opened_paths", []) or [])
        finished = [f for f in folders if f in self._finished]
        self._finished.difference_update(finished)

        def done(result) -> None:
            self._worker = None
            self._apply(result, paths, opened_before, finished)

        def failed(message: str) -> None:
            self._worker = None
            log.warning("rescanning %s failed: %s", ", ".join(paths), message)

        self._worker = start_job(scan_iter(paths), on_done=done, on_error=failed)

    def _apply(self, result, paths, opened_before, finished) -> None:
        w = self.window
        if list(getattr(w, "opened_paths", []) or []) != opened_before or w._worker is not None:
            for folder in paths:  # the user opened something meanwhile: again, after it
                if folder not in opened_before:
                    self._schedule(folder)
            self._finished.update(finished)
            return
        current = w.browser.current_key()
        w.session.scan_result = result
        w.opened_paths = list(paths)
        w.browser.set_scan_result(result)
        if current:
            w.browser.set_current(current)
        self.refreshed.emit(result)
        if self._open_pending(result):
            return
        self._reload_if_grown(result, bool(finished))

    def _study_folder_of(self, study) -> str | None:
        for folder in self._to_open:
            if Path(folder).name == study.study_uid:
                return folder
        return None

    def _open_pending(self, result) -> bool:
        w = self.window
        for study in result.studies:
            folder = self._study_folder_of(study)
            nothing_shown = w.session.volume is None and not self._to_open
            if folder is None and not nothing_shown:
                continue
            wanted = self._to_open.pop(folder, "") if folder else ""
            series = [s for s in study.series if not wanted or s.series_uid == wanted]
            if not series:
                continue
            best = max(series, key=lambda s: s.n_frames * s.pixel_format.rows * s.pixel_format.cols)
            self._last_reload = time.monotonic()
            w.load_series(best.key)
            self.opened.emit(best.key)
            return True
        return False

    def _reload_if_grown(self, result, final: bool) -> None:
        w = self.window
        volume = w.session.volume
        if volume is None:
            return
        key = volume.series.key
        now_series = next((s for s in result.all_series() if s.key == key), None)
        if now_series is None or now_series.n_frames <= len(volume.series.slices):
            return
        since = time.monotonic() - self._last_reload
        doubled = now_series.n_frames >= 2 * len(volume.series.slices) and since >= 0.5
        if not final and not doubled and since < RELOAD_S:
            self._schedule_recheck()
            return
        index = w.viewer.primary.index  # the primary plane is the acquired one
        slices = volume.series.slices
        if 0 <= index < len(slices) and index != len(slices) // 2:  # the user moved
            self._keep_sop = slices[index].sop_instance_uid
        self._last_reload = time.monotonic()
        w.load_series(key)

    def _schedule_recheck(self) -> None:
        """Come back when a reload is allowed (files may have stopped arriving meanwhile)."""
        volume = self.window.session.volume
        folder = None
        if volume is not None and volume.series.slices:
            folder = os.path.abspath(Path(volume.series.slices[0].path).parent.parent)
        if folder:
            wait = RELOAD_S - (time.monotonic() - self._last_reload)
            self._recheck_folder = folder
            self._recheck.start(int(max(wait, 0.2) * 1000))

    def _volume_ready(self) -> None:
        sop, self._keep_sop = self._keep_sop, None
        volume = self.window.session.volume
        if not sop or volume is None:
            return
        for i, s in enumerate(volume.series.slices):
            if s.sop_instance_uid == sop:
                self.window.viewer.set_primary_index(i)
                return

    def close(self) -> None:
        self._timer.stop()
        self._recheck.stop()
        if self._worker is not None:
            self._worker.quit()
            self._worker = None
