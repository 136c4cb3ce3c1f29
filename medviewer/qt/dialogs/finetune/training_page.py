"""Step 3, Training: live loss and metric curves, progress with the time left, a log and
Cancel. It draws the steps :class:`~medviewer.qt.dialogs.finetune.training_view.
TrainingProgress` computes; ``cancel_button`` is wired by the dialog."""

from __future__ import annotations

import time

import pyqtgraph as pg
from PySide6 import QtGui, QtWidgets

from medviewer.qt.dialogs.finetune.style import MUTED
from medviewer.qt.dialogs.finetune.training_view import PROGRESS_STEPS, BatchStep, EpochStep
from medviewer.qt.dialogs.finetune.widgets import (
    BATCH_PEN,
    METRIC_PEN,
    TRAIN_PEN,
    VAL_PEN,
    make_plot,
)


class TrainingPage(QtWidgets.QWidget):
    """The Training page's curves, progress bar, time left, log and outcome."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        col = QtWidgets.QVBoxLayout(self)
        col.setContentsMargins(0, 4, 0, 4)
        self.snapshot_note = QtWidgets.QLabel("")
        self.snapshot_note.setWordWrap(True)
        self.snapshot_note.setStyleSheet(MUTED)
        col.addWidget(self.snapshot_note)
        plots = QtWidgets.QHBoxLayout()
        self.loss_plot = make_plot("Loss", "epoch", "loss")
        self.loss_plot.addLegend(offset=(-6, 6), labelTextSize="8pt")
        self.batch_curve = self.loss_plot.plot([], [], pen=BATCH_PEN, name="batch loss")
        self.train_curve = self.loss_plot.plot(
            [],
            [],
            pen=TRAIN_PEN,
            symbol="o",
            symbolSize=6,
            symbolBrush=TRAIN_PEN.color(),
            name="training loss",
        )
        self.val_curve = self.loss_plot.plot(
            [],
            [],
            pen=VAL_PEN,
            symbol="s",
            symbolSize=6,
            symbolBrush=VAL_PEN.color(),
            name="validation loss",
        )
        self.metric_plot = make_plot("Validation metric", "epoch", "macro F1")
        self.metric_curve = self.metric_plot.plot(
            [], [], pen=METRIC_PEN, symbol="o", symbolSize=6, symbolBrush=METRIC_PEN.color()
        )
        self.best_marker = pg.ScatterPlotItem(
            size=14, symbol="star", brush=pg.mkBrush(255, 235, 90), pen=pg.mkPen(None)
        )
        self.metric_plot.addItem(self.best_marker)
        plots.addWidget(self.loss_plot, 3)
        plots.addWidget(self.metric_plot, 2)
        col.addLayout(plots, 3)
        row = QtWidgets.QHBoxLayout()
        self.train_progress = QtWidgets.QProgressBar()
        self.train_progress.setRange(0, PROGRESS_STEPS)
        self.train_progress.setValue(0)
        self.train_progress.setTextVisible(True)
        self.train_progress.setFormat("")
        self.cancel_button = QtWidgets.QPushButton("Cancel training")
        self.cancel_button.setToolTip("Stop after the current batch; no new version is saved")
        row.addWidget(self.train_progress, 1)
        row.addWidget(self.cancel_button)
        col.addLayout(row)
        self.eta_label = QtWidgets.QLabel("")
        col.addWidget(self.eta_label)
        self.log_view = QtWidgets.QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.setMinimumHeight(110)
        font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        self.log_view.setFont(font)
        col.addWidget(self.log_view, 2)
        self.training_outcome = QtWidgets.QLabel("")
        self.training_outcome.setWordWrap(True)
        self.training_outcome.setVisible(False)
        col.addWidget(self.training_outcome)

    def start(self, epochs: int, monitor_key: str, monitor: str, note: str) -> None:
        """Empty curves sized for ``epochs``, the metric axis named ``monitor``; ``note``
        above the curves."""
        for curve in (self.batch_curve, self.train_curve, self.val_curve, self.metric_curve):
            curve.setData([], [])
        self.best_marker.setData([], [])
        span = max(int(epochs), 1)
        self.loss_plot.getPlotItem().enableAutoRange()
        self.loss_plot.getPlotItem().setXRange(0, span, padding=0.02)
        metric_item = self.metric_plot.getPlotItem()
        metric_item.enableAutoRange()
        metric_item.setXRange(0.5, span + 0.5, padding=0)
        if monitor_key != "val_loss":
            metric_item.setYRange(0.0, 1.0, padding=0.02)
        metric_item.setLabel("left", monitor)
        metric_item.setTitle(f"Validation {monitor}", size="10pt")
        self.log_view.clear()
        self.training_outcome.setVisible(False)
        self.train_progress.setValue(0)
        self.train_progress.setFormat("starting…")
        self.eta_label.setText("")
        self.snapshot_note.setText(note)

    def show_batch(self, step: BatchStep, xs, ys) -> None:
        """A batch: its loss point (``xs``, ``ys``: all so far), the progress, the time left."""
        if step.point_added:
            self.batch_curve.setData(xs, ys)
        self.train_progress.setValue(step.value)
        self.train_progress.setFormat(step.text)
        self.eta_label.setText(step.eta)

    def show_epoch(self, step: EpochStep) -> None:
        """An epoch: the loss and metric curves, the best epoch's star, progress and log."""
        self.train_curve.setData(step.xs, step.train)
        self.val_curve.setData(step.xs, step.val)
        self.metric_curve.setData(step.xs, step.values)
        if step.best is not None:
            self.best_marker.setData([step.xs[step.best]], [step.values[step.best]])
        self.train_progress.setValue(step.value)
        self.train_progress.setFormat(step.text)
        self.log(step.log)

    def set_progress_text(self, text: str) -> None:
        self.train_progress.setFormat(text)

    def finish(self, text: str) -> None:
        """The run saved a version: a full bar reading ``text``, no time left."""
        self.train_progress.setValue(PROGRESS_STEPS)
        self.train_progress.setFormat(text)
        self.eta_label.setText("")

    def log(self, text: str) -> None:
        """Append a time-stamped line to the log."""
        stamp = time.strftime("%H:%M:%S")
        self.log_view.appendPlainText(f"{stamp}  {text}")

    def stop(self, progress_text: str, text: str, style: str) -> None:
        """The run ended without a version: the bar reads ``progress_text``; ``text`` goes to
        the log and the outcome line."""
        self.train_progress.setFormat(progress_text)
        self.log(text)
        self.show_outcome(text, style)
        self.eta_label.setText("")

    def show_outcome(self, text: str, style: str) -> None:
        self.training_outcome.setText(text)
        self.training_outcome.setStyleSheet(style)
        self.training_outcome.setVisible(True)


__all__ = ["TrainingPage"]
