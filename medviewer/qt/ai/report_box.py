"""The AI dock's "DICOM result" box: the finding list of a medviewer classifier SR (model,
weights, series result, flagged slices, labels, disclaimer) and the message for an SR that is
not ours. Widgets and setters only; the texts come from
:mod:`medviewer.session.dicom_results`."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.session.dicom_results import DISCLAIMER

ROW_ROLE = QtCore.Qt.ItemDataRole.UserRole
MAX_ROWS_SHOWN = 8


class FindingList(QtWidgets.QListWidget):
    """Rows of findings; a click (or Enter) emits ``row_chosen(FindingRow)``; it grows with
    its rows up to :data:`MAX_ROWS_SHOWN` (the dock scrolls)."""

    row_chosen = QtCore.Signal(object)

    def __init__(self, name: str, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setAccessibleName(name)
        self.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWordWrap(True)
        self.itemClicked.connect(self._chosen)
        self.itemActivated.connect(self._chosen)

    def set_rows(self, rows) -> None:
        self.clear()
        for row in rows:
            item = QtWidgets.QListWidgetItem(row.text)
            item.setToolTip(row.tooltip)
            item.setData(ROW_ROLE, row)
            self.addItem(item)
        shown = max(1, min(len(rows), MAX_ROWS_SHOWN))
        height = self.sizeHintForRow(0) if rows else self.fontMetrics().height() + 6
        self.setFixedHeight(shown * max(height, 1) + 2 * self.frameWidth() + 2)

    def rows(self) -> list:
        return [self.item(i).data(ROW_ROLE) for i in range(self.count())]

    def _chosen(self, item: QtWidgets.QListWidgetItem) -> None:
        row = item.data(ROW_ROLE)
        if row is not None:
            self.row_chosen.emit(row)


def _label(name: str, rich: bool = False) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(QtCore.Qt.TextFormat.RichText if rich else QtCore.Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class ReportBox(QtWidgets.QGroupBox):
    """The finding list of one report (a choice of report when the study holds several)."""

    report_chosen = QtCore.Signal(int)
    closed = QtCore.Signal()

    def __init__(self, parent=None) -> None:
        super().__init__("DICOM result (SR)", parent)
        self.setObjectName("aiReportBox")
        v = QtWidgets.QVBoxLayout(self)
        self.choice = QtWidgets.QComboBox()
        self.choice.setToolTip("The AI results (DICOM SR) found in the opened study")
        self.choice.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.choice.setMinimumContentsLength(16)
        self.choice.activated.connect(self.report_chosen)
        v.addWidget(self.choice)
        self.title_label = _label("aiReportTitle", rich=True)
        self.weights_label = _label("aiReportWeights")
        self.weights_label.setStyleSheet("QLabel { color: #9e9e9e; }")
        self.series_label = _label("aiReportSeries", rich=True)
        self.flagged_label = _label("aiReportFlaggedTitle")
        self.flagged_list = FindingList("Flagged slices")
        self.regions_label = _label("aiReportRegionsTitle")
        self.regions_label.setText("Labels and regions")
        self.regions_list = FindingList("Labels and regions")
        self.message_label = _label("aiReportMessage")
        self.message_label.setStyleSheet("QLabel { color: #ffb74d; }")
        self.disclaimer_label = _label("aiReportDisclaimer")
        self.disclaimer_label.setStyleSheet("QLabel { color: #ffb74d; font-weight: bold; }")
        self._details = (  # what a report shows, hidden for an SR that is not ours
            self.title_label,
            self.weights_label,
            self.series_label,
            self.flagged_label,
            self.flagged_list,
            self.regions_label,
            self.regions_list,
        )
        for w in (*self._details, self.message_label, self.disclaimer_label):
            v.addWidget(w)
        bottom = QtWidgets.QHBoxLayout()
        self.source_label = _label("aiReportSource")
        self.source_label.setWordWrap(False)  # a file name of UIDs: cut, never widen the dock
        self.source_label.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred
        )
        self.source_label.setStyleSheet("QLabel { color: #9e9e9e; }")
        self.close_button = QtWidgets.QPushButton("Close")
        self.close_button.setToolTip("Close this result (the file is not changed)")
        self.close_button.clicked.connect(self.closed)
        bottom.addWidget(self.source_label, 1)
        bottom.addWidget(self.close_button)
        v.addLayout(bottom)
        self.setVisible(False)

    def set_choices(self, texts: list[str], current: int) -> None:
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItems(texts)
        self.choice.setCurrentIndex(current)
        self.choice.blockSignals(False)
        self.choice.setVisible(len(texts) > 1)

    def show_view(self, view) -> None:
        """Show a ReportView."""
        self.title_label.setText(f"<b>{view.title}</b>")
        self.title_label.setToolTip(view.weights_tip)
        self.weights_label.setText(view.weights)
        self.weights_label.setToolTip(view.weights_tip)
        self.series_label.setText(view.series_text)
        self.series_label.setToolTip(view.series_tip)
        self.flagged_label.setText(view.flagged_title)
        self.flagged_list.set_rows(view.flagged)
        self.flagged_list.setVisible(bool(view.flagged))
        self.regions_list.set_rows(view.regions)
        self.regions_label.setVisible(bool(view.regions))
        self.regions_list.setVisible(bool(view.regions))
        self.disclaimer_label.setText(f"⚠ {view.disclaimer}")
        self._set_source(view.source)
        self.set_message("")
        for w in (self.title_label, self.weights_label, self.series_label, self.flagged_label):
            w.setVisible(True)
        self.disclaimer_label.setVisible(True)
        self.setVisible(True)

    def show_error(self, message: str, source: str) -> None:
        """An SR that is not ours (or cannot be read): only the message."""
        for w in self._details:
            w.setVisible(False)
        self.flagged_list.clear()
        self.regions_list.clear()
        self.disclaimer_label.setText(f"⚠ {DISCLAIMER}")
        self._set_source(source)
        self.set_message(message)
        self.setVisible(True)

    def _set_source(self, path: str) -> None:
        import os

        name = os.path.basename(path)
        if len(name) > 36:  # our files are named by UID: the start and the end tell them apart
            name = f"{name[:18]}…{name[-14:]}"
        self.source_label.setText(f"File: {name}")
        self.source_label.setToolTip(path)

    def set_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))


__all__ = ["FindingList", "ReportBox"]
