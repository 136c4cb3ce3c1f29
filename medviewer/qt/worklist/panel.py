"""The worklist dock's widget: the "not for diagnosis" notice, the buttons (Open results…,
Start triage…, Pause / Resume, Cancel), the filters (class, not yet reviewed), the table and
the status lines. Widgets and setters only; the texts come from
:mod:`medviewer.session.worklist_view`.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.qt.ai.panel import RESEARCH_NOTICE, RESEARCH_TIP
from medviewer.qt.worklist.table import WorklistTable
from medviewer.session import worklist_view as view

NOTICE_STYLE = (
    "QLabel { color: #ffb74d; font-weight: bold; border: 1px solid #ffb74d;"
    " border-radius: 3px; padding: 2px 6px; }"
)


class WorklistPanel(QtWidgets.QWidget):
    """Buttons, filters, table and status of the triage worklist."""

    filters_changed = QtCore.Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.setSpacing(4)

        # The notice has a row of its own and long texts wrap or elide: the dock must fit the
        # width of the window's centre column, or it is drawn over the docks beside it.
        self.notice = QtWidgets.QLabel(f"⚠ {RESEARCH_NOTICE}")
        self.notice.setObjectName("worklistResearchNotice")
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.notice.setToolTip(RESEARCH_TIP)
        self.notice.setWordWrap(True)
        outer.addWidget(self.notice)

        top = QtWidgets.QHBoxLayout()
        self.open_button = QtWidgets.QPushButton("Open results…")
        self.open_button.setToolTip("Show the results of a triage (a .sqlite results file)")
        self.start_button = QtWidgets.QPushButton("Start triage…")
        self.start_button.setToolTip(
            "Classify every series of some folders in the background; the most suspicious "
            "come first. Resumable: series already in the results file are not repeated"
        )
        self.pause_button = QtWidgets.QPushButton("Pause")
        self.pause_button.setToolTip("Pause the triage between two series / go on")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current series (what is stored is kept)")
        for button in (self.open_button, self.start_button, self.pause_button):
            top.addWidget(button)
        top.addWidget(self.cancel_button)
        top.addStretch(1)
        outer.addLayout(top)

        filters = QtWidgets.QHBoxLayout()
        filters.addWidget(QtWidgets.QLabel("Class"))
        self.class_filter = QtWidgets.QComboBox()
        self.class_filter.setMinimumContentsLength(14)
        self.class_filter.setToolTip("Only the series whose result is this class")
        filters.addWidget(self.class_filter)
        self.unreviewed_check = QtWidgets.QCheckBox("Not yet reviewed")
        self.unreviewed_check.setToolTip(
            "Only the series not labeled on every slice in the Labels dock"
        )
        filters.addWidget(self.unreviewed_check)
        filters.addSpacing(16)
        self.summary_label = QtWidgets.QLabel(view.NO_RESULTS)
        self.summary_label.setObjectName("worklistSummary")
        self.summary_label.setWordWrap(True)
        self.summary_label.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred
        )
        filters.addWidget(self.summary_label, 1)
        outer.addLayout(filters)

        self.table = WorklistTable()
        outer.addWidget(self.table, 1)

        bottom = QtWidgets.QHBoxLayout()
        self.status_label = QtWidgets.QLabel("")
        self.status_label.setObjectName("worklistStatus")
        self.status_label.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred
        )
        self.status_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setVisible(False)
        bottom.addWidget(self.status_label, 1)
        bottom.addWidget(self.progress)
        outer.addLayout(bottom)

        self.class_filter.activated.connect(lambda _i: self.filters_changed.emit())
        self.unreviewed_check.toggled.connect(lambda _on: self.filters_changed.emit())
        self.set_controls(view.controls(running=False, paused=False))

    # -- values -------------------------------------------------------------------------------
    @property
    def class_value(self) -> str | None:
        return self.class_filter.currentData()

    @property
    def unreviewed_only(self) -> bool:
        return self.unreviewed_check.isChecked()

    # -- setters ------------------------------------------------------------------------------
    def set_class_choices(self, choices, current: str | None) -> None:
        """The class filter's (text, class) entries, ``current`` chosen; without signals."""
        box = self.class_filter
        box.blockSignals(True)
        box.clear()
        for text, value in choices:
            box.addItem(text, value)
        i = box.findData(current) if current is not None else 0
        box.setCurrentIndex(max(i, 0))
        box.blockSignals(False)

    def set_controls(self, controls: view.Controls) -> None:
        self.start_button.setEnabled(controls.start)
        self.open_button.setEnabled(controls.open_results)
        self.pause_button.setEnabled(controls.pause)
        self.pause_button.setText(controls.pause_text)
        self.cancel_button.setEnabled(controls.cancel)

    def set_summary(self, text: str, tip: str = "") -> None:
        self.summary_label.setText(text)
        self.summary_label.setToolTip(tip)

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def set_progress(self, done: int | None, total: int | None) -> None:
        """A busy bar (``total`` None), a fraction, or hidden (``done`` None)."""
        if done is None:
            self.progress.setVisible(False)
            return
        self.progress.setVisible(True)
        self.progress.setRange(0, max(int(total or 0), 0))
        self.progress.setValue(int(done) if total else 0)


__all__ = ["WorklistPanel"]
