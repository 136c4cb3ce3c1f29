"""Step 4, Result: base and new model on the same validation slices, side by side (metrics
with their change, per-class scores, confusion matrices, calibration) and the buttons Activate,
Keep current, Export package, Model card (wired by the dialog). What it shows is computed by
:mod:`~medviewer.qt.dialogs.finetune.result_view`."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.qt.dialogs.finetune import result_view as view
from medviewer.qt.dialogs.finetune.formatting import METRIC_ROWS
from medviewer.qt.dialogs.finetune.style import DIM, ERROR_STYLE, WARN_STYLE
from medviewer.qt.dialogs.finetune.widgets import (
    BASE_PEN,
    NEW_PEN,
    ConfusionTable,
    bold_label,
    fit_table_height,
    make_plot,
    make_table,
    stretch_first_column,
    table_item,
)


class ResultPage(QtWidgets.QWidget):
    """The Result page's tables, plot, buttons and message line."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        col = QtWidgets.QVBoxLayout(self)
        col.setContentsMargins(0, 4, 6, 4)
        self.result_title = QtWidgets.QLabel("")
        self.result_title.setWordWrap(True)
        self.result_title.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        col.addWidget(self.result_title)

        row = QtWidgets.QHBoxLayout()
        left = QtWidgets.QVBoxLayout()
        left.addWidget(bold_label("On the same validation slices"))
        self.metrics_table = make_table(len(METRIC_ROWS) + 1, ("Metric", "Base", "New", "Change"))
        stretch_first_column(self.metrics_table)
        left.addWidget(self.metrics_table)
        left.addWidget(bold_label("Per class"))
        self.class_table = make_table(
            0,
            ("Class", "n", "Base P", "Base R", "Base F1", "New P", "New R", "New F1"),
        )
        self.class_table.setToolTip("P precision, R recall, F1 their harmonic mean; n slices")
        stretch_first_column(self.class_table)
        left.addWidget(self.class_table)
        self.result_notes = QtWidgets.QLabel("")
        self.result_notes.setWordWrap(True)
        self.result_notes.setStyleSheet(WARN_STYLE)
        self.result_notes.setContentsMargins(0, 2, 0, 6)
        left.addWidget(self.result_notes)
        left.addStretch(1)
        row.addLayout(left, 3)
        right = QtWidgets.QVBoxLayout()
        self.reliability_plot = make_plot("Calibration", "confidence", "accuracy")
        self.reliability_plot.setMinimumHeight(260)
        self.reliability_plot.setMaximumHeight(330)
        self.reliability_plot.setMinimumWidth(340)
        item = self.reliability_plot.getPlotItem()
        item.setXRange(0, 1, padding=0.02)
        item.setYRange(0, 1, padding=0.02)
        item.setMouseEnabled(x=False, y=False)
        self.reliability_legend = item.addLegend(offset=(6, 6), labelTextSize="8pt")
        item.plot(
            [0, 1],
            [0, 1],
            pen=pg.mkPen((160, 160, 160), style=QtCore.Qt.PenStyle.DashLine),
            name="perfectly calibrated",
        )
        self.base_reliability = item.plot(
            [],
            [],
            pen=BASE_PEN,
            symbol="o",
            symbolSize=6,
            symbolBrush=BASE_PEN.color(),
            name="base",
        )
        self.new_reliability = item.plot(
            [], [], pen=NEW_PEN, symbol="o", symbolSize=6, symbolBrush=NEW_PEN.color(), name="new"
        )
        self.reliability_plot.setToolTip(
            "Per confidence bin, how often the model was right: on the diagonal, a confidence "
            "of 0.8 is right 8 times in 10 (after temperature scaling)"
        )
        right.addWidget(self.reliability_plot)
        right.addStretch(1)
        row.addLayout(right, 2)
        col.addLayout(row)

        cm = QtWidgets.QHBoxLayout()
        self.base_cm_title = bold_label("Base — confusion (rows: label, columns: predicted)")
        self.new_cm_title = bold_label("New — confusion (rows: label, columns: predicted)")
        self.base_confusion = ConfusionTable()
        self.new_confusion = ConfusionTable()
        for title, table in (
            (self.base_cm_title, self.base_confusion),
            (self.new_cm_title, self.new_confusion),
        ):
            v = QtWidgets.QVBoxLayout()
            v.addWidget(title)
            v.addWidget(table)
            v.addStretch(1)
            cm.addLayout(v, 1)
        col.addLayout(cm)

        row = QtWidgets.QHBoxLayout()
        self.activate_button = QtWidgets.QPushButton("Activate new model")
        self.activate_button.setToolTip(
            "Use the new version for this modality from now on (you can roll back in AI > Models…)"
        )
        self.keep_button = QtWidgets.QPushButton("Keep current")
        self.keep_button.setToolTip("Keep the active model; the new version stays installed")
        self.export_button = QtWidgets.QPushButton("Export package…")
        self.export_button.setToolTip("Copy the new version's folder (weights, manifest, card)")
        self.card_button = QtWidgets.QPushButton("Model card…")
        for b in (self.activate_button, self.keep_button, self.export_button, self.card_button):
            row.addWidget(b)
        row.addStretch(1)
        col.addLayout(row)
        self.result_status = QtWidgets.QLabel("")
        self.result_status.setWordWrap(True)
        self.result_status.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        col.addWidget(self.result_status)
        col.addStretch(1)

    def show_result(self, result) -> None:
        """Fill the tables, matrices, calibration plot and notes from a FinetuneResult."""
        base, new = result.base_metrics or {}, result.new_metrics or {}
        new_ref = result.entry.ref
        t = self.metrics_table
        t.setHorizontalHeaderLabels(
            ["Metric", f"Base {result.base_ref}", f"New {new_ref}", "Change"]
        )
        for r, row in enumerate(view.metric_rows(base, new)):
            t.setItem(r, 0, table_item(row.label, tip=row.tip))
            t.setItem(r, 1, table_item(row.base, align_right=True))
            t.setItem(r, 2, table_item(row.new, align_right=True))
            item = table_item(row.change, align_right=bool(row.change), tip=row.tip)
            if row.colour:
                item.setForeground(QtGui.QColor(row.colour))
            t.setItem(r, 3, item)
        fit_table_height(t)

        classes = list(new.get("classes") or result.plan.classes)
        c = self.class_table
        rows = view.class_rows(classes, base, new)
        c.setRowCount(len(rows))
        for r, row in enumerate(rows):
            c.setItem(r, 0, table_item(row.name))
            c.setItem(r, 1, table_item(row.support, align_right=True))
            for i, (b, n, colour) in enumerate(zip(row.base, row.new, row.new_colours)):
                c.setItem(r, 2 + i, table_item(b, align_right=True))
                item = table_item(n, align_right=True)
                if colour:
                    item.setForeground(QtGui.QColor(colour))
                c.setItem(r, 5 + i, item)
            if not row.measured:  # no validation slice of this class: nothing measured
                for col in range(c.columnCount()):
                    c.item(r, col).setForeground(QtGui.QColor(DIM))
                c.item(r, 0).setToolTip(f"no {row.name} slice among the validation slices")
        fit_table_height(c)

        self.base_confusion.set_matrix(base.get("classes") or classes, base.get("confusion"))
        self.new_confusion.set_matrix(classes, new.get("confusion"))
        self.base_cm_title.setText(view.confusion_title("Base", result.base_ref))
        self.new_cm_title.setText(view.confusion_title("New", new_ref))
        self.base_reliability.setData(*view.reliability_points(base))
        self.new_reliability.setData(*view.reliability_points(new))
        self.reliability_plot.getPlotItem().setTitle(view.calibration_title(base, new), size="10pt")
        notes = view.result_notes(result)
        self.result_notes.setText("\n".join(f"⚠ {n}" for n in notes))
        self.result_notes.setVisible(bool(notes))
        self.result_status.setText("")

    def metric_columns(self) -> dict[str, tuple[str, str]]:
        """What the metrics table shows: row label -> (base, new)."""
        t = self.metrics_table
        return {
            t.item(r, 0).text(): (t.item(r, 1).text(), t.item(r, 2).text())
            for r in range(t.rowCount())
        }

    def set_actions(self, has_result: bool, activate: bool, activate_text: str, export: bool):
        """Enable the buttons: Keep current and Model card with a result, Activate and
        Export when ``activate`` / ``export``."""
        for b in (self.keep_button, self.card_button):
            b.setEnabled(has_result)
        self.activate_button.setEnabled(activate)
        self.activate_button.setText(activate_text)
        self.export_button.setEnabled(export)

    def set_message(self, text: str, error: bool = False) -> None:
        self.result_status.setText(text)
        self.result_status.setStyleSheet(ERROR_STYLE if error else "")


__all__ = ["ResultPage"]
