"""Step 1, Data: base model, which labels, the validation split, where the images are, and
"Check data" with its outcome (:mod:`~medviewer.qt.dialogs.finetune.plan_box`).

The page only couples widgets to values: the dialog fills it and reads it back; ``changed``
says a data setting changed (so the checked plan is stale).
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.jobs import Progress
from medviewer.qt.dialogs.finetune.choices import REVIEW_CHOICES
from medviewer.qt.dialogs.finetune.data_view import ClassChoice, model_label, model_tip
from medviewer.qt.dialogs.finetune.plan_box import MappingBox, PlanBox
from medviewer.qt.dialogs.finetune.style import AMBER, ERROR_STYLE, WARN_STYLE
from medviewer.qt.dialogs.finetune.widgets import (
    checkable_item,
    choice_combo,
    muted_label,
    select_data,
)

CHECKED = QtCore.Qt.CheckState.Checked
UNCHECKED = QtCore.Qt.CheckState.Unchecked
USER_ROLE = QtCore.Qt.ItemDataRole.UserRole


class DataPage(QtWidgets.QWidget):
    """The Data page's widgets and their values."""

    changed = QtCore.Signal()
    """A label filter, split option or data folder changed."""
    base_changed = QtCore.Signal()
    """The user picked another base model."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        col = QtWidgets.QVBoxLayout(self)
        col.setContentsMargins(0, 4, 6, 4)
        self.store_label = QtWidgets.QLabel("")
        self.store_label.setWordWrap(True)
        self.store_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        col.addWidget(self.store_label)
        top = QtWidgets.QHBoxLayout()
        left = QtWidgets.QVBoxLayout()
        right = QtWidgets.QVBoxLayout()
        top.addLayout(left, 5)
        top.addSpacing(8)
        top.addLayout(right, 6)
        col.addLayout(top, 1)
        left.addWidget(self._build_base_box())
        left.addWidget(self._build_filters_box())
        left.addWidget(self._build_split_box())
        left.addWidget(self._build_folders_box())
        left.addStretch(1)
        self._build_outcome(right)

    # -- construction -----------------------------------------------------------------------------
    def _build_base_box(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Base model")
        form = QtWidgets.QFormLayout(box)
        self.base_box = QtWidgets.QComboBox()
        self.base_box.setMinimumContentsLength(24)
        self.base_box.currentIndexChanged.connect(lambda _i: self.base_changed.emit())
        form.addRow("Start from", self.base_box)
        self.base_info = muted_label("")
        form.addRow(self.base_info)
        return box

    def _build_filters_box(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Which labels")
        form = QtWidgets.QFormLayout(box)
        self.annotator_list = QtWidgets.QListWidget()
        self.annotator_list.setFixedHeight(50)
        self.annotator_list.setToolTip("Labels of the ticked annotators only")
        self.annotator_list.itemChanged.connect(self._changed)
        form.addRow("Annotators", self.annotator_list)
        self.review_box = choice_combo(REVIEW_CHOICES)
        self.review_box.currentIndexChanged.connect(self._changed)
        form.addRow("Review", self.review_box)
        self.label_set_box = QtWidgets.QComboBox()
        self.label_set_box.addItem("any label set", None)
        self.label_set_box.currentIndexChanged.connect(self._changed)
        form.addRow("Label set", self.label_set_box)
        self.class_list = QtWidgets.QListWidget()
        self.class_list.setFixedHeight(64)
        self.class_list.setToolTip(
            "Untick a class to leave its labels out (e.g. one with too few labels yet)"
        )
        self.class_list.itemChanged.connect(self._changed)
        form.addRow("Classes", self.class_list)
        form.addRow(
            muted_label(
                "Only final labels are used; “uncertain” and “exclude” never train a class."
            )
        )
        return box

    def _build_split_box(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Validation split (by patient)")
        form = QtWidgets.QFormLayout(box)
        self.val_spin = QtWidgets.QSpinBox()
        self.val_spin.setRange(5, 50)
        self.val_spin.setValue(25)
        self.val_spin.setSuffix(" % of the patients")
        self.val_spin.valueChanged.connect(self._changed)
        form.addRow("Validation", self.val_spin)
        folds = QtWidgets.QHBoxLayout()
        self.kfold_spin = QtWidgets.QSpinBox()
        self.kfold_spin.setRange(1, 10)
        self.kfold_spin.setValue(1)
        self.kfold_spin.setSpecialValueText("off")
        self.kfold_spin.setToolTip(
            "Split the patients into K groups; the chosen fold validates, the others train"
        )
        self.fold_spin = QtWidgets.QSpinBox()
        self.fold_spin.setRange(1, 1)
        self.fold_spin.setPrefix("fold ")
        self.kfold_spin.valueChanged.connect(self._folds_changed)
        self.fold_spin.valueChanged.connect(self._changed)
        folds.addWidget(self.kfold_spin)
        folds.addWidget(self.fold_spin)
        form.addRow("K-fold", folds)
        self.split_seed = QtWidgets.QSpinBox()
        self.split_seed.setRange(0, 999_999)
        self.split_seed.valueChanged.connect(self._changed)
        form.addRow("Shuffle seed", self.split_seed)
        self.single_patient_check = QtWidgets.QCheckBox("Allow a single patient")
        self.single_patient_check.setToolTip(
            "Validate on other slices of the same patient (split by slice ranges)"
        )
        self.single_patient_check.toggled.connect(self._changed)
        form.addRow(self.single_patient_check)
        self.single_patient_warning = QtWidgets.QLabel(
            "⚠ Training and validation slices then come from the same patient: the scores "
            "will look better than they will be on new patients. Use it to try the workflow, "
            "not to judge a model."
        )
        self.single_patient_warning.setWordWrap(True)
        self.single_patient_warning.setStyleSheet(WARN_STYLE)
        self.single_patient_warning.setVisible(False)
        form.addRow(self.single_patient_warning)
        return box

    def _build_folders_box(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Where the images are")
        v = QtWidgets.QVBoxLayout(box)
        v.addWidget(
            muted_label(
                "Found by DICOM UID where the labels were made; add folders if studies moved "
                "or labels were imported."
            )
        )
        self.folder_list = QtWidgets.QListWidget()
        self.folder_list.setFixedHeight(44)
        v.addWidget(self.folder_list)
        row = QtWidgets.QHBoxLayout()
        self.add_folder_button = QtWidgets.QPushButton("Add folder…")
        self.add_folder_button.clicked.connect(lambda: self.add_data_folder())
        self.remove_folder_button = QtWidgets.QPushButton("Remove")
        self.remove_folder_button.clicked.connect(self._remove_folder)
        row.addWidget(self.add_folder_button)
        row.addWidget(self.remove_folder_button)
        row.addStretch(1)
        v.addLayout(row)
        return box

    def _build_outcome(self, right: QtWidgets.QVBoxLayout) -> None:
        row = QtWidgets.QHBoxLayout()
        self.check_button = QtWidgets.QPushButton("Check data")
        self.check_button.setToolTip(
            "Find the labeled images, split them and count what there is (nothing is trained)"
        )
        self.check_button.setDefault(True)
        self.check_progress = QtWidgets.QProgressBar()
        self.check_progress.setRange(0, 1)
        self.check_progress.setValue(0)
        self.check_progress.setTextVisible(True)
        self.check_progress.setFormat("")
        row.addWidget(self.check_button)
        row.addWidget(self.check_progress, 1)
        right.addLayout(row)
        self.error_label = QtWidgets.QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.error_label.setVisible(False)
        right.addWidget(self.error_label)
        self.mapping_box = MappingBox()
        self.mapping_box.setVisible(False)
        right.addWidget(self.mapping_box)
        self.plan_box = PlanBox()
        self.plan_box.setVisible(False)
        right.addWidget(self.plan_box)
        self.plan_placeholder = muted_label(
            "Press Check data: the labeled images are found and split, and the counts per "
            "class and split show here before anything is trained."
        )
        right.addWidget(self.plan_placeholder)
        right.addStretch(1)

    # -- the store and the models -----------------------------------------------------------------
    def set_overview(self, text: str, annotators, classes: list[ClassChoice], label_sets) -> None:
        """The store's summary and its annotators, label classes and label sets, all ticked."""
        self.store_label.setText(text)
        self.annotator_list.blockSignals(True)
        self.annotator_list.clear()
        for name in annotators:
            self.annotator_list.addItem(checkable_item(name))
        self.annotator_list.blockSignals(False)
        self.class_list.blockSignals(True)
        self.class_list.clear()
        for choice in classes:
            item = checkable_item(choice.text, choice.name)
            if choice.short:
                item.setForeground(QtGui.QColor(AMBER))
                item.setToolTip(choice.tip)
            self.class_list.addItem(item)
        self.class_list.blockSignals(False)
        self.label_set_box.blockSignals(True)
        self.label_set_box.clear()
        self.label_set_box.addItem("any label set", None)
        for name in label_sets:
            self.label_set_box.addItem(name, name)
        self.label_set_box.blockSignals(False)

    def set_models(self, entries, select: str | None, *, quiet: bool = False) -> None:
        """List the model entries and select ``select``; ``quiet``: without ``base_changed``."""
        self.base_box.blockSignals(True)
        try:
            self.base_box.clear()
            for e in entries:
                self.base_box.addItem(model_label(e), e.ref)
                self.base_box.setItemData(
                    self.base_box.count() - 1, model_tip(e), QtCore.Qt.ItemDataRole.ToolTipRole
                )
            if select and quiet:
                select_data(self.base_box, select)
        finally:
            self.base_box.blockSignals(False)
        if select and not quiet:
            select_data(self.base_box, select)

    @property
    def base_ref(self) -> str | None:
        return self.base_box.currentData()

    def set_base(self, ref: str) -> bool:
        i = self.base_box.findData(ref)
        if i >= 0:
            self.base_box.setCurrentIndex(i)
        return i >= 0

    def set_inputs_enabled(self, on: bool) -> None:
        for w in (
            self.base_box,
            self.review_box,
            self.label_set_box,
            self.annotator_list,
            self.class_list,
        ):
            w.setEnabled(on)

    # -- data settings ----------------------------------------------------------------------------
    def _folds_changed(self, k: int) -> None:
        self.fold_spin.setRange(1, max(k, 1))
        self.fold_spin.setEnabled(k >= 2)
        self.val_spin.setEnabled(k < 2)
        self._changed()

    def _changed(self, *_args) -> None:
        self.single_patient_warning.setVisible(self.single_patient_check.isChecked())
        self.changed.emit()

    def annotators(self) -> tuple[str, ...]:
        """The ticked annotators; () when all are ticked (= every annotator)."""
        items = [self.annotator_list.item(i) for i in range(self.annotator_list.count())]
        ticked = tuple(i.text() for i in items if i.checkState() == CHECKED)
        return () if len(ticked) == len(items) else ticked

    def no_annotator_ticked(self) -> bool:
        """Annotators are listed and none is ticked (nothing to train on)."""
        n = self.annotator_list.count()
        return bool(n) and not any(
            self.annotator_list.item(i).checkState() == CHECKED for i in range(n)
        )

    def set_annotators(self, names) -> None:
        names = set(names)
        for i in range(self.annotator_list.count()):
            item = self.annotator_list.item(i)
            item.setCheckState(CHECKED if not names or item.text() in names else UNCHECKED)

    def left_out_classes(self) -> list[str]:
        """The label classes unticked under "Classes" (their labels are left out)."""
        items = [self.class_list.item(i) for i in range(self.class_list.count())]
        return [i.data(USER_ROLE) for i in items if i.checkState() != CHECKED]

    def set_left_out(self, names) -> None:
        names = set(names)
        for i in range(self.class_list.count()):
            item = self.class_list.item(i)
            item.setCheckState(UNCHECKED if item.data(USER_ROLE) in names else CHECKED)

    def data_folders(self) -> list[str]:
        return [self.folder_list.item(i).text() for i in range(self.folder_list.count())]

    def add_data_folder(self, folder: str | None = None) -> None:
        """Add a folder to search for the labeled images (asked for when None)."""
        if folder is None:
            folder = QtWidgets.QFileDialog.getExistingDirectory(
                self, "A folder to search for the labeled images"
            )
            if not folder:
                return
        if folder not in self.data_folders():
            self.folder_list.addItem(str(folder))
            self._changed()

    def _remove_folder(self) -> None:
        for item in self.folder_list.selectedItems():
            self.folder_list.takeItem(self.folder_list.row(item))
        self._changed()

    def filters(self):
        """The label filters shown, as the core's ``DataFilters``."""
        from medviewer.ai.datasets import DataFilters

        return DataFilters(
            annotators=self.annotators(),
            review=self.review_box.currentData(),
            label_set=self.label_set_box.currentData(),
        )

    def split_options(self):
        """The split shown, as the core's ``SplitOptions``."""
        from medviewer.ai.datasets import SplitOptions

        k = self.kfold_spin.value()
        return SplitOptions(
            val_fraction=self.val_spin.value() / 100.0,
            k_folds=k if k >= 2 else 0,
            fold=self.fold_spin.value() - 1 if k >= 2 else 0,
            seed=self.split_seed.value(),
            allow_single_patient=self.single_patient_check.isChecked(),
        )

    # -- the check and its outcome ----------------------------------------------------------------
    def show_checking(self) -> None:
        self.error_label.setVisible(False)
        self.plan_box.setVisible(False)
        self.check_progress.setRange(0, 0)
        self.check_progress.setFormat("checking…")

    def set_check_progress(self, step: Progress) -> None:
        if step.total:
            self.check_progress.setRange(0, int(step.total))
            self.check_progress.setValue(int(step.done))
        else:
            self.check_progress.setRange(0, 0)
        if step.message:
            self.check_progress.setFormat(step.message)

    def check_ended(self, ok: bool, text: str = "") -> None:
        """The progress bar after a check: full when ``ok``, else empty; with ``text``."""
        self.check_progress.setRange(0, 1)
        self.check_progress.setValue(1 if ok else 0)
        self.check_progress.setFormat(text)

    def show_error(self, html: str) -> None:
        """Why there is no plan (instead of the plan)."""
        self.error_label.setText(html)
        self.error_label.setVisible(True)
        self.plan_box.setVisible(False)
        self.plan_placeholder.setVisible(False)

    def show_plan(self, *args) -> None:
        """:meth:`PlanBox.show_plan`, shown instead of an error or the placeholder."""
        self.error_label.setVisible(False)
        self.plan_box.show_plan(*args)
        self.plan_box.setVisible(True)
        self.plan_placeholder.setVisible(False)
