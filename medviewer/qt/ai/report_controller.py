"""The finding list of medviewer classifier SRs in the AI dock: looking for them in each
newly opened study (on a worker), opening one explicitly ("Open AI result (DICOM SR)…"),
showing one in the dock's :class:`~medviewer.qt.ai.report_box.ReportBox`, and going to the
slice of a finding when it is clicked (loading its series first when another one is shown).

What is shown is computed in :mod:`medviewer.session.dicom_results`.
"""

from __future__ import annotations

import logging
import os

from PySide6 import QtCore, QtWidgets

from medviewer.qt.ai import jobs
from medviewer.qt.ai.report_box import ReportBox
from medviewer.session import dicom_results as dr

log = logging.getLogger(__name__)
FILE_FILTER = "DICOM files (*.dcm *.DCM);;All files (*)"


class ReportController(QtCore.QObject):
    """Finds, opens and shows SRs for a MainWindow's AI dock (``window.ai_panel``)."""

    report_shown = QtCore.Signal(object)
    """The FoundReport now shown (ours or not), or None when the box was closed."""
    search_finished = QtCore.Signal(int)
    """How many SRs the search in a newly opened scan found."""

    def __init__(self, window, panel) -> None:
        super().__init__(panel)
        self.window = window
        self.panel = panel
        self.box = ReportBox()
        column = panel.results_box.parentWidget().layout()
        column.insertWidget(0, self.box)  # a result opened is what the reader looks at first
        self.found: list[dr.FoundReport] = []
        self.shown: dr.FoundReport | None = None
        self._scan = None
        self._worker = None
        self._pending: tuple[str, int] | None = None
        self.box.report_chosen.connect(self.show_found)
        self.box.closed.connect(self.close_report)
        self.box.flagged_list.row_chosen.connect(self.go_to)
        self.box.regions_list.row_chosen.connect(self.go_to)

    # -- a study was opened -------------------------------------------------------------------
    def volume_started(self) -> None:
        """A new volume is current: a new scan is searched for SRs; a slice asked for by a
        click in another series is shown once its series is."""
        session = self.window.session
        scan = session.scan_result
        if scan is not None and scan is not self._scan:
            self._scan = scan
            self.search(scan)
        pending, self._pending = self._pending, None
        volume = session.volume
        if pending is not None and volume is not None and volume.series.key == pending[0]:
            self.window.viewer.set_primary_index(pending[1])
        self.volume_changed()

    def search(self, scan) -> None:
        """Look for SRs among the files ``scan`` skipped (objects without pixel data)."""
        if self._worker is not None:
            self._worker.quit()
            self._worker = None
        candidates = dr.report_candidates(scan)
        studies = {s.study_uid for s in scan.all_series()}
        # reports opened before, about a study of this scan, stay; the others go
        kept = [
            f for f in self.found
            if f.report is not None and f.report.study_uid in studies and f.path not in candidates
        ]  # fmt: skip
        if kept != self.found:
            self._set_found(kept)
        if not candidates:
            self.search_finished.emit(0)
            return
        current: dict = {}

        def done(found):
            if self._worker is current.get("worker"):
                self._worker = None
                self._found(found)

        def failed(message):
            if self._worker is current.get("worker"):
                self._worker = None
                log.info("looking for AI results failed: %s", message)
                self.search_finished.emit(0)

        current["worker"] = self._worker = jobs.start(
            dr.find_reports_iter(candidates), lambda _s: None, done, failed
        )

    def _found(self, found: list[dr.FoundReport]) -> None:
        if found:
            volume = self.window.session.volume
            series_uid = volume.series.series_uid if volume is not None else None
            study_uid = volume.series.study_uid if volume is not None else None
            self.shown = None  # show the best match
            self._set_found(dr.order_reports([*self.found, *found], series_uid, study_uid))
        self.search_finished.emit(len(found))

    def _set_found(self, found: list[dr.FoundReport]) -> None:
        """List ``found``; show the one shown before when it is still there, else the first."""
        if not found:
            self.close_report()
            return
        self.found = found
        self._fill_choices()
        self.show_found(self.found.index(self.shown) if self.shown in self.found else 0)

    def _fill_choices(self) -> None:
        scan = self.window.session.scan_result
        descriptions = {}
        for s in scan.all_series() if scan is not None else []:
            descriptions.setdefault(s.series_uid, f"{s.modality} {s.description}".strip())
        current = self.found.index(self.shown) if self.shown in self.found else 0
        self.box.set_choices([dr.choice_text(f, descriptions) for f in self.found], current)

    # -- opening an SR file -------------------------------------------------------------------
    def open_report(self, path: str | None = None) -> bool:
        """AI > Open AI result (DICOM SR)…: read ``path`` (asked for when None) on a worker
        and show it. Returns False when the user chose nothing."""
        if path is None:
            start = self.window.settings.last_folder or ""
            path, _ = QtWidgets.QFileDialog.getOpenFileName(
                self.window, "Open AI result (DICOM SR)", start, FILE_FILTER
            )
            if not path:
                return False
        path = os.fspath(path)

        def job():
            return dr.read_report(path)
            yield  # a generator: read on the worker

        def done(found):
            self.shown = found
            self._set_found([found, *(f for f in self.found if f.path != found.path)])

        self.window.ai_dock.show()
        self.window.ai_dock.raise_()
        self.box.setVisible(True)
        self.box.show_error(f"Reading {path}…", path)
        jobs.start(job(), lambda _s: None, done, lambda m: self.box.show_error(m, path))
        return True

    # -- showing one -------------------------------------------------------------------------
    def show_found(self, i: int) -> None:
        if not 0 <= i < len(self.found):
            return
        found = self.shown = self.found[i]
        self.box.choice.setCurrentIndex(i)
        if found.report is None:
            self.box.show_error(found.error or "This file is not a medviewer AI result", found.path)
        else:
            self.box.show_view(dr.report_view(found))
            self._say_where()
            self._say_not_rerun(found.report)
        QtCore.QTimer.singleShot(0, self._scroll_to_box)
        self.report_shown.emit(found)

    def _say_not_rerun(self, report) -> None:
        """Under a saved result of the series shown, the Results box says what it lacks (not a
        bare "Not run yet" as if there were no result at all)."""
        volume = self.window.session.volume
        panel = self.panel
        if volume is None or volume.series.series_uid != report.series_uid:
            return
        if panel.runs.results.run_info is not None or panel.runs.running:
            return
        panel.series_label.setText(
            f"The saved result above ({report.model} {report.version}) is shown; run the "
            "model here (Ctrl+R) for the per-slice plot and heat maps"
        )

    def _scroll_to_box(self) -> None:
        """Bring the box's top into the dock's view (the dock scrolls)."""
        area = self.box.parentWidget()
        while area is not None and not isinstance(area, QtWidgets.QScrollArea):
            area = area.parentWidget()
        if area is not None and self.box.isVisible():
            area.verticalScrollBar().setValue(self.box.y())

    def _say_where(self) -> None:
        """Tell when the report is about a series other than the one shown."""
        report = self.shown.report if self.shown is not None else None
        volume = self.window.session.volume
        if report is None or (volume is not None and volume.series.series_uid == report.series_uid):
            self.box.set_message("")
            return
        scan = self.window.session.scan_result
        known = any(s.series_uid == report.series_uid for s in scan.all_series()) if scan else False
        self.box.set_message(
            "This result is about another series of the study: click a slice to show it"
            if known
            else f"The series of this result (UID {report.series_uid}) is not open: open its "
            "study to go to the slices"
        )

    def close_report(self) -> None:
        self.shown = None
        self.found = []
        self.box.setVisible(False)
        self.report_shown.emit(None)

    def go_to(self, row: dr.FindingRow) -> None:
        """Show the slice of ``row``: in the series shown, or after loading its series."""
        if self.shown is None or self.shown.report is None:
            return
        session = self.window.session
        volume = session.volume
        target = dr.locate(
            row, self.shown.report, session.scan_result, volume.series if volume else None
        )
        if target.series_key is None:
            self.box.set_message(target.message)
            return
        if volume is not None and volume.series.key == target.series_key:
            self._say_where()
            self.window.viewer.set_primary_index(target.index)
            return
        self._pending = (target.series_key, target.index)
        self.box.set_message("Opening the series of this result…")
        self.window.load_series(target.series_key)

    def volume_changed(self) -> None:
        """Re-say where the shown report lies against the series now shown."""
        if self.shown is not None and self.shown.report is not None:
            self._say_where()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.quit()
            self._worker = None


__all__ = ["FILE_FILTER", "ReportController"]
