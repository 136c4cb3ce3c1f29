"""The Query / Retrieve dock's widget: node chooser, query fields, Search / Cancel, the studies
found, the series of the chosen study, Retrieve buttons and the list of retrieves. Widgets and
setters only; :class:`~medviewer.qt.network.query_dock.QueryDock` runs the jobs."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.net.query import Query
from medviewer.qt.network.retrievals import RetrieveList
from medviewer.qt.network.widgets import RowsModel, selected_items, table_view
from medviewer.session.network import (
    DATE_PRESETS,
    SERIES_COLUMNS,
    STUDY_COLUMNS,
    date_range,
    series_row,
    study_row,
)

MODALITIES = ("", "CT", "MR", "CR", "DX", "US", "PT", "NM", "MG", "XA", "RF", "SR")


class QueryPanel(QtWidgets.QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.node_box = QtWidgets.QComboBox()
        self.node_box.setMinimumWidth(160)
        self.node_box.setToolTip("The node to query and retrieve from")
        self.nodes_button = QtWidgets.QPushButton("Nodes…")
        self.nodes_button.setToolTip("Add or change DICOM nodes (Network > DICOM nodes…)")
        self.name_edit = QtWidgets.QLineEdit()
        self.name_edit.setPlaceholderText("Patient name (* and ? wildcards)")
        self.id_edit = QtWidgets.QLineEdit()
        self.id_edit.setPlaceholderText("Patient ID")
        self.accession_edit = QtWidgets.QLineEdit()
        self.accession_edit.setPlaceholderText("Accession")
        self.description_edit = QtWidgets.QLineEdit()
        self.description_edit.setPlaceholderText("Study description")
        self.modality_box = QtWidgets.QComboBox()
        self.modality_box.setEditable(True)
        self.modality_box.addItems(MODALITIES)
        self.modality_box.lineEdit().setPlaceholderText("Any modality")
        self.date_box = QtWidgets.QComboBox()
        self.date_box.addItems([*DATE_PRESETS, "Between…"])
        self.from_edit = QtWidgets.QLineEdit()
        self.from_edit.setPlaceholderText("from YYYYMMDD")
        self.to_edit = QtWidgets.QLineEdit()
        self.to_edit.setPlaceholderText("to YYYYMMDD")
        for edit in (self.from_edit, self.to_edit):
            edit.setMaximumWidth(110)
            edit.setEnabled(False)
        self.date_box.currentTextChanged.connect(self._date_chosen)
        self.search_button = QtWidgets.QPushButton("Search")
        self.search_button.setDefault(True)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        for edit in (self.name_edit, self.id_edit, self.accession_edit, self.description_edit):
            edit.returnPressed.connect(self.search_button.click)

        grid = QtWidgets.QGridLayout()
        grid.addWidget(QtWidgets.QLabel("Node"), 0, 0)
        grid.addWidget(self.node_box, 0, 1)
        grid.addWidget(self.nodes_button, 0, 2)
        grid.addWidget(self.name_edit, 0, 3)
        grid.addWidget(self.id_edit, 0, 4)
        grid.addWidget(self.accession_edit, 0, 5)
        grid.addWidget(self.modality_box, 1, 1)
        grid.addWidget(self.date_box, 1, 2)
        dates = QtWidgets.QHBoxLayout()
        dates.addWidget(self.from_edit)
        dates.addWidget(self.to_edit)
        grid.addLayout(dates, 1, 3)
        grid.addWidget(self.description_edit, 1, 4)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.search_button)
        buttons.addWidget(self.cancel_button)
        grid.addLayout(buttons, 1, 5)
        for c, stretch in ((3, 2), (4, 2), (5, 1)):
            grid.setColumnStretch(c, stretch)

        self.studies = RowsModel(STUDY_COLUMNS, study_row, self)
        self.study_table = table_view(self.studies)
        self.study_table.setToolTip("Double-click a study to retrieve it")
        self.series = RowsModel(SERIES_COLUMNS, series_row, self)
        self.series_table = table_view(self.series, multi=True)
        self.series_table.setToolTip("Select series and Retrieve series to bring only those")
        self.status = QtWidgets.QLabel("Choose a node and search.")
        self.status.setWordWrap(True)
        self.retrieve_study_button = QtWidgets.QPushButton("Retrieve study")
        self.retrieve_series_button = QtWidgets.QPushButton("Retrieve series")
        self.show_check = QtWidgets.QCheckBox("Show as it arrives")
        self.show_check.setChecked(True)
        self.show_check.setToolTip(
            "Open the retrieved study in the viewer with its first images, while the rest "
            "is still arriving"
        )
        self.retrieves = RetrieveList()

        series_box = QtWidgets.QWidget()
        col = QtWidgets.QVBoxLayout(series_box)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.series_table, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.retrieve_study_button)
        row.addWidget(self.retrieve_series_button)
        row.addWidget(self.show_check)
        row.addStretch(1)
        col.addLayout(row)
        # the studies get the width (seven columns); the chosen study's series sit above the
        # retrieves, which are empty most of the time
        side = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        side.addWidget(series_box)
        side.addWidget(self.retrieves)
        side.setStretchFactor(0, 3)
        side.setStretchFactor(1, 2)
        side.setChildrenCollapsible(False)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        split.addWidget(self.study_table)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([600, 400])
        split.setChildrenCollapsible(False)
        self.splitter = split

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(grid)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        self.set_searching(False)
        self.update_retrieve_buttons()
        self.study_table.selectionModel().selectionChanged.connect(self.update_retrieve_buttons)
        self.series_table.selectionModel().selectionChanged.connect(self.update_retrieve_buttons)

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 (Qt's name)
        # the dock opens this tall (the tables scroll), leaving the image its height
        hint = super().sizeHint()
        return QtCore.QSize(hint.width(), min(hint.height(), 300))

    def _date_chosen(self, text: str) -> None:
        custom = text == "Between…"
        for edit in (self.from_edit, self.to_edit):
            edit.setEnabled(custom)
        if not custom:
            start, end = date_range(text)
            self.from_edit.setText(start)
            self.to_edit.setText(end)

    def set_nodes(self, names: list[str], current: str = "") -> None:
        self.node_box.blockSignals(True)
        self.node_box.clear()
        self.node_box.addItems(names)
        if current in names:
            self.node_box.setCurrentIndex(names.index(current))
        self.node_box.blockSignals(False)
        self.node_box.setEnabled(bool(names))
        if not names:
            self.status.setText(
                "No DICOM node is configured: add your PACS in Network > DICOM nodes… (Nodes…)."
            )

    def query(self) -> Query:
        return Query(
            patient_name=self.name_edit.text().strip(),
            patient_id=self.id_edit.text().strip(),
            accession=self.accession_edit.text().strip(),
            date_from=self.from_edit.text().strip(),
            date_to=self.to_edit.text().strip(),
            modality=self.modality_box.currentText().strip().upper(),
            description=self.description_edit.text().strip(),
        )

    def set_searching(self, on: bool) -> None:
        self.search_button.setEnabled(not on and self.node_box.count() > 0)
        self.cancel_button.setEnabled(on)

    def current_study(self):
        found = selected_items(self.study_table)
        return found[0] if found else None

    def selected_series(self) -> list:
        return selected_items(self.series_table)

    def update_retrieve_buttons(self, *_args) -> None:
        self.retrieve_study_button.setEnabled(self.current_study() is not None)
        self.retrieve_series_button.setEnabled(bool(self.selected_series()))
