"""Agreement between two annotators: Cohen's kappa, the slices they disagree on, and
adjudication into a consensus label (the two originals are kept)."""

from __future__ import annotations

import math

from PySide6 import QtWidgets

from medviewer.errors import LabelStoreError


class AgreementDialog(QtWidgets.QDialog):
    """Pick annotators A and B; click a disagreement to see the slice; adjudicate it."""

    def __init__(self, dock, parent=None) -> None:
        super().__init__(parent)
        self.dock = dock
        self.setWindowTitle("Agreement between annotators")
        self.resize(620, 460)
        self._disagreements: list = []
        layout = QtWidgets.QVBoxLayout(self)
        row = QtWidgets.QHBoxLayout()
        self.a_box = QtWidgets.QComboBox()
        self.b_box = QtWidgets.QComboBox()
        self.series_only = QtWidgets.QCheckBox("This series only")
        self.series_only.setChecked(True)
        row.addWidget(QtWidgets.QLabel("A"))
        row.addWidget(self.a_box, 1)
        row.addWidget(QtWidgets.QLabel("B"))
        row.addWidget(self.b_box, 1)
        row.addWidget(self.series_only)
        layout.addLayout(row)
        self.summary = QtWidgets.QLabel("")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.table = QtWidgets.QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Slice", "A", "B"])
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellClicked.connect(self._clicked)
        layout.addWidget(self.table, 1)
        row = QtWidgets.QHBoxLayout()
        self.consensus_box = QtWidgets.QComboBox()
        self.adjudicate_button = QtWidgets.QPushButton("Adjudicate the selected slice")
        self.adjudicate_button.setToolTip(
            "Store the chosen label as the consensus (annotator 'consensus'); A and B are kept"
        )
        self.adjudicate_button.clicked.connect(lambda: self.adjudicate())
        row.addWidget(QtWidgets.QLabel("Consensus"))
        row.addWidget(self.consensus_box, 1)
        row.addWidget(self.adjudicate_button)
        layout.addLayout(row)
        for name in dock.session.label_set.names:
            self.consensus_box.addItem(name, name)
        names = [n for n in dock.store.annotators() if n != "consensus"]
        for box in (self.a_box, self.b_box):
            for name in names:
                box.addItem(name, name)
        if len(names) > 1:
            self.b_box.setCurrentIndex(1)
        for box in (self.a_box, self.b_box):
            box.currentIndexChanged.connect(self.compute)
        self.series_only.toggled.connect(self.compute)
        self.compute()

    def set_pair(self, a: str, b: str) -> None:
        self.a_box.setCurrentIndex(self.a_box.findData(a))
        self.b_box.setCurrentIndex(self.b_box.findData(b))
        self.compute()

    def compute(self, *_args) -> None:
        from medviewer.labels.agreement import agreement

        a, b = self.a_box.currentData(), self.b_box.currentData()
        self.table.setRowCount(0)
        self._disagreements = []
        if not a or not b or a == b:
            self.summary.setText("Choose two different annotators")
            return
        series = self.dock.session.series_uid if self.series_only.isChecked() else None
        try:
            result = agreement(self.dock.store, a, b, series_uid=series or None)
        except LabelStoreError as exc:
            self.summary.setText(str(exc))
            return
        kappa = "undefined" if math.isnan(result.kappa) else f"{result.kappa:.3f}"
        self.summary.setText(
            f"{result.n_common} slices labeled by both; observed agreement "
            f"{result.observed:.1%}; Cohen's kappa {kappa}; "
            f"{len(result.disagreements)} disagreements"
        )

        # in slice order (this series' slices by their number, other series after them)
        def order(entry):
            index = self.dock.session.index_of(entry[0])
            return (index is None, index if index is not None else 0, entry[0].sop_uid)

        self._disagreements = sorted(result.disagreements, key=order)
        self.table.setRowCount(len(self._disagreements))
        for r, (key, la, lb) in enumerate(self._disagreements):
            index = self.dock.session.index_of(key)
            where = str(index + 1) if index is not None else f"{key.sop_uid[-12:]} (other series)"
            for c, text in enumerate((where, la, lb)):
                self.table.setItem(r, c, QtWidgets.QTableWidgetItem(text))
        self.table.resizeColumnsToContents()  # class names whole, not "hyperdense_l…"

    @property
    def kappa_text(self) -> str:
        return self.summary.text()

    def _clicked(self, row: int, _col: int) -> None:
        key, la, _lb = self._disagreements[row]
        i = self.consensus_box.findData(la)
        if i >= 0:
            self.consensus_box.setCurrentIndex(i)
        index = self.dock.session.index_of(key)
        if index is not None:
            self.dock.go_to(index)

    def adjudicate(self, row: int | None = None, label: str | None = None) -> bool:
        from medviewer.labels.agreement import adjudicate

        row = self.table.currentRow() if row is None else row
        if not 0 <= row < len(self._disagreements):
            self.summary.setText("Select a disagreement first")
            return False
        key = self._disagreements[row][0]
        label = label or self.consensus_box.currentData()
        adjudicator = self.dock.session.annotator
        if not adjudicator and not self.dock.change_annotator():
            return False
        try:
            adjudicate(self.dock.store, key, label, adjudicator=self.dock.session.annotator)
        except LabelStoreError as exc:
            self.dock.show_error(str(exc))
            return False
        self.dock._reload("after adjudication")
        self.compute()
        return True


__all__ = ["AgreementDialog"]
