"""The series browser dock: patient -> study -> series, with previews made in the background."""

from __future__ import annotations

import logging
import weakref

import numpy as np
import shiboken6
from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.dicom import ScanResult, SeriesInfo
from medviewer.jobs import Progress
from medviewer.qt.reading.drop import SeriesTree
from medviewer.qt.workers import start_job
from medviewer.session.priors import studies_by_patient
from medviewer.session.thumbnails import DEFAULT_SIZE, thumbnails_iter

log = logging.getLogger(__name__)

KEY_ROLE = QtCore.Qt.ItemDataRole.UserRole
PLACEHOLDER_GREY = "#3a3c40"


def array_to_pixmap(array: np.ndarray) -> QtGui.QPixmap:
    """A uint8 (h, w) greyscale or (h, w, 3) RGB array as a QPixmap (copied)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    h, w = array.shape[:2]
    if array.ndim == 2:
        fmt, per_line = QtGui.QImage.Format.Format_Grayscale8, w
    elif array.ndim == 3 and array.shape[2] == 3:
        fmt, per_line = QtGui.QImage.Format.Format_RGB888, 3 * w
    else:
        raise ValueError(f"cannot show an array of shape {array.shape} as an image")
    image = QtGui.QImage(array.tobytes(), w, h, per_line, fmt)
    return QtGui.QPixmap.fromImage(image.copy())


def _date(text: str) -> str:
    text = (text or "").strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text or "no date"


def _person(name: str) -> str:
    parts = [p.strip() for p in (name or "").split("^") if p.strip()]
    if not parts:
        return "Unnamed patient"
    return ", ".join(parts[:2]) + (" " + " ".join(parts[2:]) if len(parts) > 2 else "")


def _series_sort_key(series: SeriesInfo):
    return (series.series_number is None, series.series_number or 0, series.stack_index)


def series_label(series: SeriesInfo) -> str:
    """Two lines: "CT 3 · Head 5 mm" and "120 images"."""
    number = f" {series.series_number}" if series.series_number is not None else ""
    title = f"{series.modality or '?'}{number} · {series.description or 'no description'}"
    if series.n_stacks > 1:
        title += f" (part {series.stack_index + 1} of {series.n_stacks})"
    n = series.n_frames
    return f"{title}\n{n} image{'s' if n != 1 else ''}"


def series_tooltip(series: SeriesInfo) -> str:
    fmt = series.pixel_format
    z, y, x = series.geometry.spacing
    number = series.series_number if series.series_number is not None else "?"
    lines = [
        series.description or "(no description)",
        f"{series.modality}, series {number}",
        f"{series.n_frames} images of {fmt.cols} x {fmt.rows} pixels, "
        f"{x:.3g} x {y:.3g} x {z:.3g} mm, {series.geometry.orientation}",
    ]
    if series.warnings:
        lines.append("")
        lines += [f"⚠ {w.message}" for w in series.warnings]
    return "\n".join(lines)


def _quit_all(workers: list) -> None:
    while workers:
        worker = workers.pop()
        try:
            worker.quit()  # the job stops at its next step
        except RuntimeError:  # already finished and deleted
            pass


class _SmallIcon(QtWidgets.QStyledItemDelegate):
    """Draws a column's icon at ``size`` px, not at the tree's (thumbnail) icon size."""

    def __init__(self, size: int, parent=None) -> None:
        super().__init__(parent)
        self._size = QtCore.QSize(size, size)

    def initStyleOption(self, option, index) -> None:  # noqa: N802 (Qt name)
        super().initStyleOption(option, index)
        option.decorationSize = self._size


class SeriesBrowser(QtWidgets.QWidget):
    """Every series of a scan, grouped by patient and study, with a preview of each.

    Click, double-click or Enter on a series emits :attr:`series_activated` with its
    :attr:`SeriesInfo.key` (not again for the series already marked current). Previews are
    made on a worker thread; a grey placeholder shows until each arrives. A series drags its
    key onto a viewport; its context menu offers "Compare with prior"
    (:attr:`compare_requested`).
    """

    series_activated = QtCore.Signal(str)
    compare_requested = QtCore.Signal(str)
    thumbnails_finished = QtCore.Signal()

    def __init__(
        self,
        parent: QtWidgets.QWidget | None = None,
        *,
        thumbnail_size: int = DEFAULT_SIZE,
        icon_size: int = 64,
    ) -> None:
        super().__init__(parent)
        self._thumbnail_size = thumbnail_size
        self._icon_size = icon_size
        self._items: dict[str, QtWidgets.QTreeWidgetItem] = {}
        self._series: dict[str, SeriesInfo] = {}
        self._thumbs: dict[str, QtGui.QPixmap] = {}
        self._thumb_errors: dict[str, str] = {}
        self._current: str | None = None
        self._worker = None
        self._generation = 0
        # A destroyed browser stops its preview job (the closure holds the list, not self).
        self._running: list = []
        self.destroyed.connect(lambda *_args, running=self._running: _quit_all(running))

        self.tree = SeriesTree(KEY_ROLE, self)
        self.tree.compare_requested.connect(self.compare_requested)
        self.tree.setColumnCount(2)
        self.tree.setHeaderHidden(True)
        self.tree.setIconSize(QtCore.QSize(icon_size, icon_size))
        self.tree.setUniformRowHeights(False)
        self.tree.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.tree.setAccessibleName("Series")
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Fixed)
        header.resizeSection(1, 24)
        self.tree.setItemDelegateForColumn(1, _SmallIcon(20, self.tree))  # not the 64 px thumbnail
        self.tree.itemActivated.connect(self._item_chosen)
        self.tree.itemClicked.connect(self._item_chosen)

        self._placeholder = QtGui.QPixmap(icon_size, icon_size)
        self._placeholder.fill(QtGui.QColor(PLACEHOLDER_GREY))
        self._warning_icon = self.style().standardIcon(
            QtWidgets.QStyle.StandardPixmap.SP_MessageBoxWarning
        )

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        self.setFocusProxy(self.tree)

    # -- content --------------------------------------------------------------------------
    def set_scan_result(self, result: ScanResult | None) -> None:
        """Show the studies of ``result`` (None clears) and start making their previews."""
        self.cancel_thumbnails()
        self._generation += 1
        self.tree.clear()
        self._items.clear()
        self._series.clear()
        self._thumbs.clear()
        self._thumb_errors.clear()
        self._current = None
        if result is None:
            return
        for _label, studies in studies_by_patient(result.studies):  # studies newest first
            patient_id, patient_name = studies[0].patient_id, studies[0].patient_name
            patient = QtWidgets.QTreeWidgetItem([_person(patient_name), ""])
            patient.setToolTip(0, f"{_person(patient_name)}\nID: {patient_id or '(none)'}")
            if patient_id:
                patient.setText(0, f"{_person(patient_name)} — {patient_id}")
            self.tree.addTopLevelItem(patient)
            for study in studies:
                study_item = QtWidgets.QTreeWidgetItem(
                    [f"{_date(study.study_date)}  {study.description or 'no description'}", ""]
                )
                study_item.setToolTip(0, f"Study {study.study_uid}")
                patient.addChild(study_item)
                for series in sorted(study.series, key=_series_sort_key):
                    study_item.addChild(self._series_item(series))
        self.tree.expandAll()
        keys = list(self._series)
        if keys:
            self._start_thumbnails([self._series[k] for k in keys])

    def _series_item(self, series: SeriesInfo) -> QtWidgets.QTreeWidgetItem:
        item = QtWidgets.QTreeWidgetItem([series_label(series), ""])
        item.setData(0, KEY_ROLE, series.key)
        item.setIcon(0, QtGui.QIcon(self._placeholder))
        item.setToolTip(0, series_tooltip(series))
        if series.warnings:
            item.setIcon(1, self._warning_icon)
            item.setToolTip(1, "\n".join(w.message for w in series.warnings))
        self._items[series.key] = item
        self._series[series.key] = series
        return item

    # -- previews -------------------------------------------------------------------------
    def _start_thumbnails(self, series: list[SeriesInfo]) -> None:
        generation = self._generation
        ref = weakref.ref(self)

        def alive():
            me = ref()
            if me is None or not shiboken6.isValid(me) or me._generation != generation:
                return None
            return me

        def progress(step: Progress) -> None:
            me = alive()
            if me is not None and isinstance(step.detail, tuple):
                me._thumbnail_arrived(*step.detail)

        def done(_result) -> None:
            me = alive()
            if me is not None:
                me._worker = None
                me.thumbnails_finished.emit()

        def failed(message: str) -> None:
            log.debug("series previews failed: %s", message)
            done(None)

        self._worker = start_job(
            thumbnails_iter(series, self._thumbnail_size),
            on_progress=progress,
            on_done=done,
            on_error=failed,
        )
        self._running[:] = [self._worker]

    def _thumbnail_arrived(self, key: str, array: np.ndarray | None, error: str | None) -> None:
        item = self._items.get(key)
        if item is None:
            return
        if array is None:
            self._thumb_errors[key] = error or "no preview"
            item.setToolTip(0, f"{series_tooltip(self._series[key])}\n\n{self._thumb_errors[key]}")
            return
        pixmap = array_to_pixmap(array)
        self._thumbs[key] = pixmap
        item.setIcon(0, QtGui.QIcon(pixmap))

    def cancel_thumbnails(self) -> None:
        """Stop making previews (between two series)."""
        self._worker = None
        _quit_all(self._running)

    def thumbnails_pending(self) -> bool:
        return self._worker is not None

    def thumbnail_for(self, key: str) -> QtGui.QPixmap | None:
        """The preview of series ``key`` once it has arrived, else None."""
        return self._thumbs.get(key)

    def thumbnail_error(self, key: str) -> str | None:
        return self._thumb_errors.get(key)

    # -- current series ---------------------------------------------------------------------
    def series_keys(self) -> list[str]:
        """Keys of the listed series, in display order."""
        keys = []
        iterator = QtWidgets.QTreeWidgetItemIterator(self.tree)
        while iterator.value() is not None:
            key = iterator.value().data(0, KEY_ROLE)
            if key:
                keys.append(key)
            iterator += 1
        return keys

    def item_for(self, key: str) -> QtWidgets.QTreeWidgetItem | None:
        return self._items.get(key)

    def current_key(self) -> str | None:
        return self._current

    def set_current(self, series_key: str | None) -> None:
        """Mark ``series_key`` as the one shown (bold, selected); emits nothing."""
        previous = self._items.get(self._current) if self._current else None
        if previous is not None:
            self._set_bold(previous, False)
        self._current = series_key if series_key in self._items else None
        item = self._items.get(series_key) if series_key else None
        if item is None:
            return
        self._set_bold(item, True)
        self.tree.setCurrentItem(item)
        self.tree.scrollToItem(item)

    @staticmethod
    def _set_bold(item: QtWidgets.QTreeWidgetItem, bold: bool) -> None:
        font = item.font(0)
        font.setBold(bold)
        item.setFont(0, font)

    def _item_chosen(self, item: QtWidgets.QTreeWidgetItem, _column: int = 0) -> None:
        key = item.data(0, KEY_ROLE)
        if not key or key == self._current:
            return  # a patient / study row, or the series already shown
        self.set_current(key)
        self.series_activated.emit(key)


__all__ = ["SeriesBrowser", "array_to_pixmap", "series_label"]
