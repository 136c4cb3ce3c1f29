"""Step 2, Options: the training mode and epochs, and an "Advanced" view of every option of
the core's ``TrainOptions`` (imported when first needed: the core loads on a worker)."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.qt.dialogs.finetune.choices import (
    DEVICES,
    LOSSES,
    MODES,
    MONITORS,
    OPTIMIZERS,
    mode_help,
)
from medviewer.qt.dialogs.finetune.widgets import choice_combo, muted_label, select_data


class OptionsPage(QtWidgets.QWidget):
    """The Options page's widgets and the TrainOptions they show."""

    mode_changed = QtCore.Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        col = QtWidgets.QVBoxLayout(self)
        col.setContentsMargins(0, 4, 6, 4)
        box = QtWidgets.QGroupBox("Training")
        form = QtWidgets.QFormLayout(box)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.mode_box = choice_combo(MODES, tip_index=2)
        self.mode_box.currentIndexChanged.connect(self._mode_changed)
        form.addRow("Mode", self.mode_box)
        self.mode_help = muted_label("")
        form.addRow(self.mode_help)
        self.epochs_spin = QtWidgets.QSpinBox()
        self.epochs_spin.setMinimumWidth(120)
        self.epochs_spin.setRange(1, 500)
        self.epochs_spin.setToolTip(
            "Passes over the training slices (early stopping may end sooner)"
        )
        form.addRow("Epochs", self.epochs_spin)
        self.advanced_check = QtWidgets.QCheckBox("Advanced options")
        self.advanced_check.toggled.connect(self._advanced_toggled)
        form.addRow(self.advanced_check)
        col.addWidget(box)

        self.advanced_box = QtWidgets.QGroupBox("Advanced")
        grid = QtWidgets.QGridLayout(self.advanced_box)
        left = QtWidgets.QFormLayout()
        right = QtWidgets.QFormLayout()
        for form in (left, right):
            form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        grid.setColumnStretch(2, 1)
        grid.addLayout(left, 0, 0)
        grid.addLayout(right, 0, 1)
        self.lr_spin = QtWidgets.QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 1.0)
        self.lr_spin.setSingleStep(1e-4)
        self.lr_spin.setToolTip("Step size; two stages use a tenth of it for all layers")
        left.addRow("Learning rate", self.lr_spin)
        self.head_epochs_spin = QtWidgets.QSpinBox()
        self.head_epochs_spin.setRange(0, 100)
        self.head_epochs_spin.setToolTip("Two stages: epochs of the output layer alone first")
        left.addRow("Head-only epochs", self.head_epochs_spin)
        self.batch_spin = QtWidgets.QSpinBox()
        self.batch_spin.setRange(1, 1024)
        self.batch_spin.setToolTip("Slices per step (halved automatically when memory runs out)")
        left.addRow("Batch size", self.batch_spin)
        self.optimizer_box = choice_combo(OPTIMIZERS)
        left.addRow("Optimizer", self.optimizer_box)
        self.wd_spin = QtWidgets.QDoubleSpinBox()
        self.wd_spin.setDecimals(6)
        self.wd_spin.setRange(0.0, 1.0)
        self.wd_spin.setSingleStep(1e-4)
        left.addRow("Weight decay", self.wd_spin)
        self.loss_box = choice_combo(LOSSES)
        left.addRow("Loss", self.loss_box)
        self.smoothing_spin = QtWidgets.QDoubleSpinBox()
        self.smoothing_spin.setDecimals(2)
        self.smoothing_spin.setRange(0.0, 0.5)
        self.smoothing_spin.setSingleStep(0.05)
        left.addRow("Label smoothing", self.smoothing_spin)
        self.augment_check = QtWidgets.QCheckBox("Augment (flips, rotation, shift, intensity)")
        right.addRow(self.augment_check)
        self.patience_spin = QtWidgets.QSpinBox()
        self.patience_spin.setRange(0, 100)
        self.patience_spin.setSpecialValueText("off")
        self.patience_spin.setSuffix(" epochs")
        self.patience_spin.setToolTip(
            "Stop when the monitored metric has not improved for this many epochs; the best "
            "epoch's weights are kept"
        )
        right.addRow("Early stopping", self.patience_spin)
        self.monitor_box = choice_combo(MONITORS)
        right.addRow("Monitor", self.monitor_box)
        self.seed_spin = QtWidgets.QSpinBox()
        self.seed_spin.setRange(0, 999_999)
        right.addRow("Seed", self.seed_spin)
        self.train_device_box = QtWidgets.QComboBox()
        for d in DEVICES:
            self.train_device_box.addItem(d, d)
        right.addRow("Device", self.train_device_box)
        for w in (
            self.lr_spin,
            self.head_epochs_spin,
            self.batch_spin,
            self.optimizer_box,
            self.wd_spin,
            self.loss_box,
            self.smoothing_spin,
            self.patience_spin,
            self.monitor_box,
            self.seed_spin,
            self.train_device_box,
        ):
            w.setMinimumWidth(150)
        row = QtWidgets.QHBoxLayout()
        self.defaults_button = QtWidgets.QPushButton("Restore defaults")
        self.defaults_button.clicked.connect(self.restore_defaults)
        row.addStretch(1)
        row.addWidget(self.defaults_button)
        grid.addLayout(row, 1, 0, 1, 3)
        self.advanced_box.setVisible(False)
        col.addWidget(self.advanced_box)
        self.options_summary = muted_label("")
        col.addWidget(self.options_summary)
        col.addStretch(1)

    def restore_defaults(self) -> None:
        """Show the core's default options."""
        from medviewer.ai.train import TrainOptions

        self.set_options(TrainOptions())

    def set_options(self, o) -> None:
        select_data(self.mode_box, o.mode)
        self.epochs_spin.setValue(int(o.epochs))
        self.head_epochs_spin.setValue(int(o.head_epochs))
        self.lr_spin.setValue(float(o.lr))
        self.batch_spin.setValue(int(o.batch_size))
        select_data(self.optimizer_box, o.optimizer)
        self.wd_spin.setValue(float(o.weight_decay))
        select_data(self.loss_box, o.loss)
        self.smoothing_spin.setValue(float(o.label_smoothing))
        self.augment_check.setChecked(bool(o.augment))
        self.patience_spin.setValue(int(o.early_stopping))
        select_data(self.monitor_box, o.monitor)
        self.seed_spin.setValue(int(o.seed))
        select_data(self.train_device_box, o.device)
        self._mode_changed()

    def options(self):
        """The TrainOptions the page shows (the advanced ones too, hidden or not)."""
        from medviewer.ai.train import TrainOptions

        return TrainOptions(
            mode=self.mode_box.currentData(),
            epochs=self.epochs_spin.value(),
            head_epochs=self.head_epochs_spin.value(),
            lr=self.lr_spin.value(),
            batch_size=self.batch_spin.value(),
            optimizer=self.optimizer_box.currentData(),
            weight_decay=self.wd_spin.value(),
            loss=self.loss_box.currentData(),
            label_smoothing=self.smoothing_spin.value(),
            augment=self.augment_check.isChecked(),
            early_stopping=self.patience_spin.value(),
            monitor=self.monitor_box.currentData(),
            seed=self.seed_spin.value(),
            device=self.train_device_box.currentData(),
        )

    def _mode_changed(self, *_args) -> None:
        self.mode_help.setText(mode_help(self.mode_box.currentIndex()))
        self.head_epochs_spin.setEnabled(self.mode_box.currentData() == "two_stage")
        self.mode_changed.emit()

    def _advanced_toggled(self, on: bool) -> None:
        self.advanced_box.setVisible(on)

    def set_summary(self, text: str) -> None:
        self.options_summary.setText(text)


__all__ = ["OptionsPage"]
