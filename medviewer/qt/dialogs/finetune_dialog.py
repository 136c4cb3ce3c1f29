"""AI > Fine-tune model…: from the label store to a validated, versioned model, in four pages.

1. **Data** — base model, label filters, split, extra folders; "Check data" runs
   :func:`medviewer.ai.datasets.prepare_iter` on a worker and shows the plan (counts per class
   and split, patients, missing images, warnings) or, when the data cannot train a model, what
   is missing in plain words. Label classes the base model does not know can become new outputs
   or be mapped to a base class (or left out), then the data is checked again.
2. **Options** — mode and epochs, with an "Advanced" view of every training option.
3. **Training** — :func:`medviewer.ai.train.finetune_iter` on a worker: live loss and metric
   curves, progress with an estimate of the time left, a log, Cancel (no version is written).
4. **Result** — base and new model on the same validation cases, side by side: metrics,
   per-class scores, confusion matrices, calibration; Activate, Keep current, Export package.

The GUI thread only draws: checking, training, exporting run as jobs
(:func:`medviewer.qt.workers.start_job`). torch is never imported here.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.errors import Cancelled, MedviewerError
from medviewer.jobs import CancelToken, Progress
from medviewer.qt.workers import start_job

log = logging.getLogger(__name__)

DEFAULT_BASE = "headct-lesions"
STEPS = ("1  Data", "2  Options", "3  Training", "4  Result")
REVIEW_CHOICES = (
    ("not_flagged", "Every final label not flagged by a reviewer"),
    ("approved", "Only labels a reviewer approved"),
    ("any", "Every final label (flagged ones too)"),
)
MODES = (
    (
        "two_stage",
        "Two stages (recommended)",
        "First the new output layer alone, then every layer at a tenth of the learning rate",
    ),
    (
        "probe",
        "Linear probe (fastest)",
        "Only the output layer learns; the rest of the network stays as it is",
    ),
    ("full", "Full fine-tune", "Every layer learns from the start"),
)
MONITORS = (
    ("macro_f1", "macro F1"),
    ("val_loss", "validation loss"),
    ("macro_auc", "macro AUC"),
    ("accuracy", "accuracy"),
)
OPTIMIZERS = (("adamw", "AdamW"), ("sgd", "SGD with momentum 0.9"))
LOSSES = (
    ("ce_weighted", "Cross-entropy, classes weighted by rarity"),
    ("ce", "Cross-entropy"),
    ("focal", "Focal loss"),
)
DEVICES = ("auto", "cpu", "cuda", "mps")
LEAVE_OUT = "\x00leave-out"
"""Combo data of the "leave out" choice of a class mapping."""
TRAIN_PEN = pg.mkPen((255, 170, 60), width=2)
BATCH_PEN = pg.mkPen((255, 170, 60, 90), width=1)
VAL_PEN = pg.mkPen((80, 200, 255), width=2)
METRIC_PEN = pg.mkPen((120, 230, 120), width=2)
BASE_PEN = pg.mkPen((200, 160, 255), width=2)
NEW_PEN = pg.mkPen((120, 230, 120), width=2)
GOOD = "#81c784"
BAD = "#e57373"
MUTED = "color: #9e9e9e;"
WARN_STYLE = "QLabel { color: #ffb74d; }"
ERROR_STYLE = (
    "QLabel { color: #ffcdd2; background: #4a1f1f; border: 1px solid #e57373;"
    " border-radius: 3px; padding: 6px; }"
)
OK_STYLE = (
    "QLabel { color: #c8e6c9; background: #1f3a24; border: 1px solid #81c784;"
    " border-radius: 3px; padding: 6px; }"
)


# -- jobs -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Failure:
    message: str
    cancelled: bool = False
    data_error: bool = False
    unmapped: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoreOverview:
    """What the label store holds, for the filters (read on a worker)."""

    path: str
    annotators: tuple[str, ...]
    label_sets: tuple[str, ...]
    final_counts: dict
    problem: str = ""


def _failure(exc: BaseException) -> _Failure:
    from medviewer.errors import TrainingDataError

    if isinstance(exc, Cancelled):
        return _Failure(str(exc), cancelled=True)
    if isinstance(exc, TrainingDataError):
        return _Failure(str(exc), data_error=True)
    if isinstance(exc, MedviewerError):
        return _Failure(str(exc))
    log.debug("fine-tuning job failed", exc_info=exc)
    first = (str(exc).strip().splitlines() or [""])[0]
    return _Failure(f"{type(exc).__name__}: {first}")


def _guarded(job):
    """Run ``job``; an exception comes back as a :class:`_Failure` value (superqt would
    re-raise it on the GUI thread, and takes torch's RuntimeError for an aborted thread)."""
    try:
        return (yield from job)
    except GeneratorExit:
        raise
    except Exception as exc:
        return _failure(exc)


def store_overview_job(store_path):
    """Job: annotators, label sets and final-label counts of the store (read-only).

    It first imports the training core on this worker (a second or more: scipy), so that the
    GUI thread never waits for it."""
    yield Progress(0, None, "loading the training tools")
    import medviewer.ai.datasets  # noqa: F401
    import medviewer.ai.train  # noqa: F401
    from medviewer.labels.store import LabelStore

    yield Progress(0, None, "reading the label store")
    path = Path(store_path)
    if not path.exists():
        return StoreOverview(
            str(path), (), (), {}, f"{path} does not exist yet: label some slices first"
        )
    store = LabelStore(path, read_only=True)
    try:
        finals = store.query(status="final")
    finally:
        store.close()
    counts: dict[str, int] = {}
    for ann in finals:
        counts[ann.label] = counts.get(ann.label, 0) + 1
    return StoreOverview(
        str(path),
        tuple(sorted({a.annotator for a in finals})),
        tuple(sorted({a.label_set for a in finals if a.label_set})),
        dict(sorted(counts.items())),
    )


def check_data_job(store_path, base_ref, base_classes, kwargs):
    """Job: :func:`prepare_iter`; when the data cannot train a model, the failure also names
    the label classes the base model does not know (so the dialog can offer a mapping)."""
    from medviewer.ai.datasets import IGNORED_LABELS, prepare_iter
    from medviewer.errors import TrainingDataError

    try:
        return (yield from prepare_iter(store_path, base_ref, **kwargs))
    except TrainingDataError as exc:
        unmapped: tuple[str, ...] = ()
        try:
            from medviewer.labels.store import LabelStore

            store = LabelStore(store_path, read_only=True)
            try:
                names = {a.label for a in store.query(status="final")}
            finally:
                store.close()
            known = set(base_classes) | set(IGNORED_LABELS)
            unmapped = tuple(sorted(names - known))
        except Exception as inner:  # the message of the data error is what matters
            log.debug("unmapped classes not listed: %s", inner)
        return _Failure(str(exc), data_error=True, unmapped=unmapped)


def export_package_job(folder, dest_parent):
    """Job: copy a model package folder into ``dest_parent/<name>-<version>``, file by file,
    into a temporary folder renamed into place when complete. Returns the new folder."""
    src = Path(folder)
    dest_parent = Path(dest_parent)
    name = f"{src.parent.name}-{src.name}" if src.parent.name else src.name
    dest = dest_parent / name
    if dest.exists():
        raise MedviewerError(
            f"{dest} already exists: choose another folder or move the old copy away"
        )
    files = sorted(p for p in src.rglob("*") if p.is_file())
    tmp = dest_parent / f".{name}.part"
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        for i, path in enumerate(files):
            yield Progress(i, len(files), f"copying {path.name}")
            target = tmp / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        os.replace(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise MedviewerError(
            f"cannot copy the model to {dest}: {exc.strerror or exc}; check free space and "
            "that the folder is writable"
        ) from None
    yield Progress(len(files), len(files), "copied")
    return dest


# -- small formatting helpers ---------------------------------------------------------------------
def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def fmt_metric(value, digits: int = 3) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


METRIC_ROWS = (
    ("accuracy", "Accuracy", True),
    ("macro_f1", "Macro F1", True),
    ("macro_auc", "Macro AUC (one-vs-rest)", True),
    ("ece", "ECE (calibration error)", False),
)
"""(key, label, higher is better)."""


def metric_change(key: str, base, new) -> tuple[str, str | None]:
    """Text of new - base and its colour (green better, red worse, None unchanged)."""
    try:
        b, n = float(base), float(new)
    except (TypeError, ValueError):
        return "–", None
    if not (math.isfinite(b) and math.isfinite(n)):
        return "–", None
    delta = n - b
    higher = dict((k, h) for k, _label, h in METRIC_ROWS).get(key, True)
    if abs(delta) < 5e-4:
        return "±0.000", None
    better = delta > 0 if higher else delta < 0
    return f"{delta:+.3f}", GOOD if better else BAD


def _item(text, *, align_right: bool = False, tip: str = "") -> QtWidgets.QTableWidgetItem:
    item = QtWidgets.QTableWidgetItem(str(text))
    item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled | QtCore.Qt.ItemFlag.ItemIsSelectable)
    if align_right:
        item.setTextAlignment(
            QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
        )
    if tip:
        item.setToolTip(tip)
    return item


def _table(rows: int, headers) -> QtWidgets.QTableWidget:
    table = QtWidgets.QTableWidget(rows, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def _stretch_first(table: QtWidgets.QTableWidget) -> None:
    header = table.horizontalHeader()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
    table.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)


def fit_table_height(table: QtWidgets.QTableWidget, max_rows: int = 12) -> None:
    """Size a short table to its rows (no inner scroll bar up to ``max_rows``)."""
    rows = min(table.rowCount(), max_rows)
    table.resizeRowsToContents()
    height = max(table.horizontalHeader().sizeHint().height(), 20) + 2
    height += sum(table.rowHeight(r) for r in range(rows)) if rows else 22
    table.setFixedHeight(height + 2 * table.frameWidth())
    if table.rowCount() <= max_rows:
        table.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)


def _title(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(f"<b>{text}</b>")
    return label


def _muted(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(MUTED)
    return label


def _combo(choices, tip_index: int | None = None) -> QtWidgets.QComboBox:
    box = QtWidgets.QComboBox()
    for choice in choices:
        box.addItem(choice[1], choice[0])
        if tip_index is not None:
            box.setItemData(box.count() - 1, choice[tip_index], QtCore.Qt.ItemDataRole.ToolTipRole)
    return box


def _select(box: QtWidgets.QComboBox, value) -> None:
    i = box.findData(value)
    if i >= 0:
        box.setCurrentIndex(i)


class ConfusionTable(QtWidgets.QTableWidget):
    """A confusion matrix: rows true class, columns predicted; cells shaded by row share."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.verticalHeader().setDefaultSectionSize(24)
        self.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.verticalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents
        )
        self.setToolTip("Rows: the label (truth); columns: what the model predicted")

    def set_matrix(self, classes, matrix) -> None:
        classes = list(classes)
        m = np.asarray(matrix if matrix is not None else [], dtype=np.int64)
        if m.ndim != 2 or m.shape != (len(classes), len(classes)):
            m = np.zeros((len(classes), len(classes)), dtype=np.int64)
        self.clear()
        self.setRowCount(len(classes))
        self.setColumnCount(len(classes))
        self.setHorizontalHeaderLabels([c.replace("_", "\n") for c in classes])
        self.setVerticalHeaderLabels(classes)
        for r in range(len(classes)):
            total = int(m[r].sum())
            for c in range(len(classes)):
                n = int(m[r, c])
                item = _item(n, align_right=True)
                share = n / total if total else 0.0
                if n:
                    if r == c:
                        colour = QtGui.QColor.fromHsv(120, 150, int(60 + 130 * share))
                    else:
                        colour = QtGui.QColor.fromHsv(
                            0, int(60 + 120 * share), int(55 + 120 * share)
                        )
                    item.setBackground(colour)
                item.setToolTip(
                    f"{n} of {total} slices labeled {classes[r]} were predicted {classes[c]}"
                )
                self.setItem(r, c, item)
        height = self.horizontalHeader().sizeHint().height() + 4
        height += sum(self.rowHeight(r) for r in range(self.rowCount()))
        self.setFixedHeight(height + 2 * self.frameWidth())

    def values(self) -> list[list[int]]:
        return [
            [int(self.item(r, c).text()) for c in range(self.columnCount())]
            for r in range(self.rowCount())
        ]


def reliability_points(metrics: dict) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, accuracy) of the bins that hold cases."""
    rel = (metrics or {}).get("reliability") or {}
    conf = np.asarray(rel.get("confidence") or [], dtype=np.float64)
    acc = np.asarray(rel.get("accuracy") or [], dtype=np.float64)
    count = np.asarray(rel.get("count") or [1] * len(conf), dtype=np.float64)
    n = min(len(conf), len(acc), len(count))
    conf, acc, count = conf[:n], acc[:n], count[:n]
    keep = (count > 0) & np.isfinite(conf) & np.isfinite(acc)
    return conf[keep], acc[keep]


# -- the dialog -----------------------------------------------------------------------------------
class FinetuneDialog(QtWidgets.QDialog):
    """Fine-tune a model on the label store (non-modal: the viewer stays usable).

    Parameters
    ----------
    store_path : the label store file (the Labels dock's store).
    registry : the :class:`~medviewer.ai.registry.ModelRegistry` (the AI dock's).
    modality : the open series' modality (the base model defaults to its active model, and
        Activate makes the new version active for it); None: the base model's first modality.
    ai_panel : the AI dock's panel: after Activate it runs the new model on the open series and
        shows where the predictions changed. None in a standalone dialog.
    """

    plan_changed = QtCore.Signal(object)
    """The DataPlan of a successful check, or None (failed, or settings changed since)."""
    check_finished = QtCore.Signal(object)
    """After "Check data": the DataPlan, or a message (str) saying why there is none."""
    epoch_finished = QtCore.Signal(object)
    training_finished = QtCore.Signal(object)
    """The FinetuneResult, or None when training failed or was cancelled."""
    activated = QtCore.Signal(object)
    """The ModelEntry just made active."""
    comparison_ready = QtCore.Signal(object)
    """After Activate and the re-run: the changed slice indices (list), or None (no re-run)."""
    export_finished = QtCore.Signal(object)
    """The exported folder (Path), or None when the export failed."""

    def __init__(
        self,
        store_path,
        registry=None,
        *,
        modality: str | None = None,
        ai_panel=None,
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune a model on your labels")
        self.setModal(False)
        self.resize(1060, 800)
        self.store_path = Path(store_path)
        if registry is None:
            from medviewer.ai.registry import ModelRegistry

            registry = ModelRegistry()
        self.registry = registry
        self.modality = (modality or "").upper() or None
        self.ai_panel = ai_panel
        self.overview: StoreOverview | None = None
        self.plan = None
        self.result = None
        self.history: list = []
        self.new_entry = None
        self.changed_slices: list[int] | None = None
        self._plan_stale = False
        self._class_map: dict[str, str | None] = {}
        self._add_classes = False
        self._overview_worker = None
        self._check_worker = None
        self._check_cancel: CancelToken | None = None
        self._train_worker = None
        self._train_cancel: CancelToken | None = None
        self._cancelling = False
        self._export_worker = None
        self._pending_compare: dict | None = None
        self._batch_x: list[float] = []
        self._batch_y: list[float] = []
        self._t0 = 0.0
        self._t_batches: float | None = None
        self._f_batches = 0.0
        self._n_slices = 0
        self._last_fraction = 0.0
        self._n_batches = 0
        self._entries: dict = {}
        self._result_title = ""
        self._defaults_set = False
        self._activated = False

        self._build()
        self.reload_store()
        self._refresh_buttons()

    # -- construction -----------------------------------------------------------------------------
    def _build(self) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(10, 10, 10, 10)
        steps = QtWidgets.QHBoxLayout()
        self.step_labels: list[QtWidgets.QLabel] = []
        for text in STEPS:
            label = QtWidgets.QLabel(text)
            label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            label.setMinimumHeight(26)
            self.step_labels.append(label)
            steps.addWidget(label, 1)
        outer.addLayout(steps)
        notice = QtWidgets.QLabel(
            "⚠ Research use only — a fine-tuned model is not a medical device and must not be "
            "used to make or support a diagnosis."
        )
        notice.setStyleSheet("QLabel { color: #ffb74d; }")
        notice.setWordWrap(True)
        outer.addWidget(notice)

        self.pages = QtWidgets.QStackedWidget()
        self.data_page = self._scrolled(self._build_data_page())
        self.options_page = self._scrolled(self._build_options_page())
        self.training_page = self._build_training_page()
        self.result_page = self._scrolled(self._build_result_page())
        for page in (self.data_page, self.options_page, self.training_page, self.result_page):
            self.pages.addWidget(page)
        outer.addWidget(self.pages, 1)

        row = QtWidgets.QHBoxLayout()
        self.status_label = QtWidgets.QLabel("")
        self.status_label.setWordWrap(True)
        row.addWidget(self.status_label, 1)
        self.back_button = QtWidgets.QPushButton("◀ Back")
        self.back_button.clicked.connect(self.back)
        self.next_button = QtWidgets.QPushButton("Next ▶")
        self.next_button.clicked.connect(self.next)
        self.train_button = QtWidgets.QPushButton("Train")
        self.train_button.setToolTip("Start fine-tuning with these data and options")
        self.train_button.clicked.connect(self.start_training)
        self.close_button = QtWidgets.QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        for b in (self.back_button, self.next_button, self.train_button, self.close_button):
            row.addWidget(b)
        outer.addLayout(row)
        self._show_page(0)

    @staticmethod
    def _scrolled(widget: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setWidget(widget)
        return scroll

    def _build_data_page(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget()
        col = QtWidgets.QVBoxLayout(page)
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
        # base model
        box = QtWidgets.QGroupBox("Base model")
        form = QtWidgets.QFormLayout(box)
        self.base_box = QtWidgets.QComboBox()
        self.base_box.setMinimumContentsLength(24)
        self.base_box.currentIndexChanged.connect(self._base_changed)
        form.addRow("Start from", self.base_box)
        self.base_info = _muted("")
        form.addRow(self.base_info)
        left.addWidget(box)
        # filters
        box = QtWidgets.QGroupBox("Which labels")
        form = QtWidgets.QFormLayout(box)
        self.annotator_list = QtWidgets.QListWidget()
        self.annotator_list.setFixedHeight(50)
        self.annotator_list.setToolTip("Labels of the ticked annotators only")
        self.annotator_list.itemChanged.connect(self._settings_changed)
        form.addRow("Annotators", self.annotator_list)
        self.review_box = _combo(REVIEW_CHOICES)
        self.review_box.currentIndexChanged.connect(self._settings_changed)
        form.addRow("Review", self.review_box)
        self.label_set_box = QtWidgets.QComboBox()
        self.label_set_box.addItem("any label set", None)
        self.label_set_box.currentIndexChanged.connect(self._settings_changed)
        form.addRow("Label set", self.label_set_box)
        self.class_list = QtWidgets.QListWidget()
        self.class_list.setFixedHeight(64)
        self.class_list.setToolTip(
            "Untick a class to leave its labels out (e.g. one with too few labels yet)"
        )
        self.class_list.itemChanged.connect(self._settings_changed)
        form.addRow("Classes", self.class_list)
        form.addRow(
            _muted("Only final labels are used; “uncertain” and “exclude” never train a class.")
        )
        left.addWidget(box)

        box = QtWidgets.QGroupBox("Validation split (by patient)")
        form = QtWidgets.QFormLayout(box)
        self.val_spin = QtWidgets.QSpinBox()
        self.val_spin.setRange(5, 50)
        self.val_spin.setValue(25)
        self.val_spin.setSuffix(" % of the patients")
        self.val_spin.valueChanged.connect(self._settings_changed)
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
        self.fold_spin.valueChanged.connect(self._settings_changed)
        folds.addWidget(self.kfold_spin)
        folds.addWidget(self.fold_spin)
        form.addRow("K-fold", folds)
        self.split_seed = QtWidgets.QSpinBox()
        self.split_seed.setRange(0, 999_999)
        self.split_seed.valueChanged.connect(self._settings_changed)
        form.addRow("Shuffle seed", self.split_seed)
        self.single_patient_check = QtWidgets.QCheckBox("Allow a single patient")
        self.single_patient_check.setToolTip(
            "Validate on other slices of the same patient (split by slice ranges)"
        )
        self.single_patient_check.toggled.connect(self._settings_changed)
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
        left.addWidget(box)
        box = QtWidgets.QGroupBox("Where the images are")
        v = QtWidgets.QVBoxLayout(box)
        v.addWidget(
            _muted(
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
        left.addWidget(box)
        left.addStretch(1)

        row = QtWidgets.QHBoxLayout()
        self.check_button = QtWidgets.QPushButton("Check data")
        self.check_button.setToolTip(
            "Find the labeled images, split them and count what there is (nothing is trained)"
        )
        self.check_button.setDefault(True)
        self.check_button.clicked.connect(self.check_data)
        self.check_progress = QtWidgets.QProgressBar()
        self.check_progress.setRange(0, 1)
        self.check_progress.setValue(0)
        self.check_progress.setTextVisible(True)
        self.check_progress.setFormat("")
        row.addWidget(self.check_button)
        row.addWidget(self.check_progress, 1)
        right.addLayout(row)

        # the outcome
        self.error_label = QtWidgets.QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.error_label.setVisible(False)
        right.addWidget(self.error_label)

        self.mapping_box = QtWidgets.QGroupBox("Classes the base model does not know")
        mv = QtWidgets.QVBoxLayout(self.mapping_box)
        self.mapping_text = QtWidgets.QLabel("")
        self.mapping_text.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.mapping_text.setWordWrap(True)
        mv.addWidget(self.mapping_text)
        self.add_classes_radio = QtWidgets.QRadioButton(
            "Add them as new classes (the model gets new outputs; the old ones keep their weights)"
        )
        self.map_radio = QtWidgets.QRadioButton(
            "Map each to a class of the base model, or leave it out:"
        )
        self.add_classes_radio.setChecked(True)
        mv.addWidget(self.add_classes_radio)
        mv.addWidget(self.map_radio)
        self.mapping_form = QtWidgets.QFormLayout()
        self.mapping_form.setContentsMargins(24, 0, 0, 0)
        mv.addLayout(self.mapping_form)
        self.map_combos: dict[str, QtWidgets.QComboBox] = {}
        row = QtWidgets.QHBoxLayout()
        self.apply_mapping_button = QtWidgets.QPushButton("Use this and check again")
        self.apply_mapping_button.clicked.connect(self.apply_mapping)
        row.addWidget(self.apply_mapping_button)
        row.addStretch(1)
        mv.addLayout(row)
        self.add_classes_radio.toggled.connect(self._mapping_mode_changed)
        self.mapping_box.setVisible(False)
        right.addWidget(self.mapping_box)

        self.plan_box = QtWidgets.QGroupBox("What will be used")
        pv = QtWidgets.QVBoxLayout(self.plan_box)
        self.plan_summary = QtWidgets.QLabel("")
        self.plan_summary.setWordWrap(True)
        pv.addWidget(self.plan_summary)
        self.counts_table = _table(0, ("Class", "Training", "Validation", "Total"))
        _stretch_first(self.counts_table)
        pv.addWidget(self.counts_table)
        self.plan_warnings = QtWidgets.QLabel("")
        self.plan_warnings.setWordWrap(True)
        self.plan_warnings.setStyleSheet(WARN_STYLE)
        pv.addWidget(self.plan_warnings)
        self.missing_label = QtWidgets.QLabel("")
        self.missing_label.setWordWrap(True)
        pv.addWidget(self.missing_label)
        self.missing_list = QtWidgets.QListWidget()
        self.missing_list.setMaximumHeight(90)
        self.missing_list.setToolTip("Labels left out: their image was not found")
        pv.addWidget(self.missing_list)
        self.plan_box.setVisible(False)
        right.addWidget(self.plan_box)
        self.plan_placeholder = _muted(
            "Press Check data: the labeled images are found and split, and the counts per "
            "class and split show here before anything is trained."
        )
        right.addWidget(self.plan_placeholder)
        right.addStretch(1)
        return page

    def _build_options_page(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget()
        col = QtWidgets.QVBoxLayout(page)
        col.setContentsMargins(0, 4, 6, 4)
        box = QtWidgets.QGroupBox("Training")
        form = QtWidgets.QFormLayout(box)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.mode_box = _combo(MODES, tip_index=2)
        self.mode_box.currentIndexChanged.connect(self._mode_changed)
        form.addRow("Mode", self.mode_box)
        self.mode_help = _muted("")
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
        self.optimizer_box = _combo(OPTIMIZERS)
        left.addRow("Optimizer", self.optimizer_box)
        self.wd_spin = QtWidgets.QDoubleSpinBox()
        self.wd_spin.setDecimals(6)
        self.wd_spin.setRange(0.0, 1.0)
        self.wd_spin.setSingleStep(1e-4)
        left.addRow("Weight decay", self.wd_spin)
        self.loss_box = _combo(LOSSES)
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
        self.monitor_box = _combo(MONITORS)
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
        self.options_summary = _muted("")
        col.addWidget(self.options_summary)
        col.addStretch(1)
        return page

    def _build_training_page(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget()
        col = QtWidgets.QVBoxLayout(page)
        col.setContentsMargins(0, 4, 0, 4)
        self.snapshot_note = QtWidgets.QLabel("")
        self.snapshot_note.setWordWrap(True)
        self.snapshot_note.setStyleSheet(MUTED)
        col.addWidget(self.snapshot_note)
        plots = QtWidgets.QHBoxLayout()
        self.loss_plot = self._plot("Loss", "epoch", "loss")
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
        self.metric_plot = self._plot("Validation metric", "epoch", "macro F1")
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
        self.train_progress.setRange(0, 1000)
        self.train_progress.setValue(0)
        self.train_progress.setTextVisible(True)
        self.train_progress.setFormat("")
        self.cancel_button = QtWidgets.QPushButton("Cancel training")
        self.cancel_button.setToolTip("Stop after the current batch; no new version is saved")
        self.cancel_button.clicked.connect(self.cancel_training)
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
        return page

    @staticmethod
    def _plot(title: str, xlabel: str, ylabel: str) -> pg.PlotWidget:
        plot = pg.PlotWidget()
        plot.setMinimumHeight(220)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        item = plot.getPlotItem()
        item.setTitle(title, size="10pt")
        item.setLabel("bottom", xlabel)
        item.setLabel("left", ylabel)
        item.showGrid(x=True, y=True, alpha=0.2)
        for axis in ("left", "bottom"):
            item.getAxis(axis).enableAutoSIPrefix(False)
        return plot

    def _build_result_page(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget()
        col = QtWidgets.QVBoxLayout(page)
        col.setContentsMargins(0, 4, 6, 4)
        self.result_title = QtWidgets.QLabel("")
        self.result_title.setWordWrap(True)
        self.result_title.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        col.addWidget(self.result_title)

        row = QtWidgets.QHBoxLayout()
        left = QtWidgets.QVBoxLayout()
        left.addWidget(_title("On the same validation slices"))
        self.metrics_table = _table(len(METRIC_ROWS) + 1, ("Metric", "Base", "New", "Change"))
        _stretch_first(self.metrics_table)
        left.addWidget(self.metrics_table)
        left.addWidget(_title("Per class"))
        self.class_table = _table(
            0,
            ("Class", "n", "Base P", "Base R", "Base F1", "New P", "New R", "New F1"),
        )
        self.class_table.setToolTip("P precision, R recall, F1 their harmonic mean; n slices")
        _stretch_first(self.class_table)
        left.addWidget(self.class_table)
        self.result_notes = QtWidgets.QLabel("")
        self.result_notes.setWordWrap(True)
        self.result_notes.setStyleSheet(WARN_STYLE)
        self.result_notes.setContentsMargins(0, 2, 0, 6)
        left.addWidget(self.result_notes)
        left.addStretch(1)
        row.addLayout(left, 3)
        right = QtWidgets.QVBoxLayout()
        self.reliability_plot = self._plot("Calibration", "confidence", "accuracy")
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
        self.base_cm_title = _title("Base — confusion (rows: label, columns: predicted)")
        self.new_cm_title = _title("New — confusion (rows: label, columns: predicted)")
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
        self.activate_button.clicked.connect(self.activate_new)
        self.keep_button = QtWidgets.QPushButton("Keep current")
        self.keep_button.setToolTip("Keep the active model; the new version stays installed")
        self.keep_button.clicked.connect(self.keep_current)
        self.export_button = QtWidgets.QPushButton("Export package…")
        self.export_button.setToolTip("Copy the new version's folder (weights, manifest, card)")
        self.export_button.clicked.connect(lambda: self.export_package())
        self.card_button = QtWidgets.QPushButton("Model card…")
        self.card_button.clicked.connect(self.show_model_card)
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
        return page

    # -- navigation -------------------------------------------------------------------------------
    @property
    def page_index(self) -> int:
        return self.pages.currentIndex()

    def _show_page(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        for i, label in enumerate(self.step_labels):
            if i == index:
                style = "background: #2d5b88; color: white; font-weight: bold; border-radius: 3px;"
            elif i < index:
                style = "color: #bdbdbd;"
            else:
                style = "color: #757575;"
            label.setStyleSheet(f"QLabel {{ {style} padding: 3px; }}")
        if index == 1:
            self._update_options_summary()
        self._refresh_buttons()

    def back(self) -> None:
        if self.page_index == 1:
            self._show_page(0)
        elif self.page_index == 3:
            self._show_page(2)

    def next(self) -> None:
        if self.page_index == 0 and self.plan_ready:
            self._show_page(1)
        elif self.page_index == 2 and self.result is not None:
            self._show_page(3)

    @property
    def plan_ready(self) -> bool:
        return self.plan is not None and not self._plan_stale

    @property
    def training(self) -> bool:
        return self._train_worker is not None

    @property
    def checking(self) -> bool:
        return self._check_worker is not None

    def _refresh_buttons(self) -> None:
        page = self.page_index
        busy = self.training
        self.back_button.setVisible(page in (1, 3))
        self.back_button.setEnabled(not busy)
        self.next_button.setVisible(page in (0, 2))
        self.next_button.setEnabled(
            (page == 0 and self.plan_ready and not self.checking)
            or (page == 2 and self.result is not None and not busy)
        )
        self.train_button.setVisible(page in (0, 1))
        self.train_button.setEnabled(self.plan_ready and not busy and not self.checking)
        if not self.plan_ready:
            self.train_button.setToolTip("Check the data first: training needs a usable plan")
        else:
            self.train_button.setToolTip("Start fine-tuning with these data and options")
        self.check_button.setEnabled(not busy and self._defaults_set)
        self.check_button.setText("Cancel check" if self.checking else "Check data")
        self.cancel_button.setEnabled(busy and not self._cancelling)
        has_result = self.result is not None
        for b in (self.activate_button, self.keep_button, self.export_button, self.card_button):
            b.setEnabled(has_result)
        self.activate_button.setEnabled(has_result and not self._activated)
        self.activate_button.setText("Activated" if self._activated else "Activate new model")
        self.export_button.setEnabled(has_result and self._export_worker is None)
        for w in (
            self.base_box,
            self.review_box,
            self.label_set_box,
            self.annotator_list,
            self.class_list,
        ):
            w.setEnabled(not busy)

    # -- the store and the base model -------------------------------------------------------------
    def reload_store(self) -> None:
        """Read the store's annotators and label sets (on a worker) and list the models."""
        self._fill_models()
        self.store_label.setText(f"Labels from <b>{self.store_path}</b> — reading…")
        current: dict = {}

        def done(result):
            if current.get("worker") is not self._overview_worker:
                return
            self._overview_worker = None
            self._core_loaded()
            if isinstance(result, _Failure):
                self.store_label.setText(
                    f"Labels from <b>{self.store_path}</b>: cannot be read — {result.message}"
                )
                return
            self._set_overview(result)

        worker = start_job(
            _guarded(store_overview_job(self.store_path)),
            on_done=done,
            on_error=lambda m: self.store_label.setText(f"Label store: {m}"),
        )
        current["worker"] = self._overview_worker = worker

    @staticmethod
    def core_ready() -> bool:
        """Whether the training core is imported (by the store reading job, on a worker)."""
        return "medviewer.ai.train" in sys.modules and "medviewer.ai.datasets" in sys.modules

    def _core_loaded(self) -> None:
        if self.core_ready() and not self._defaults_set:
            self._defaults_set = True
            self.restore_defaults()
        self._refresh_buttons()

    def _set_overview(self, overview: StoreOverview) -> None:
        self.overview = overview
        total = sum(overview.final_counts.values())
        if overview.problem:
            text = f"Labels from <b>{overview.path}</b>: {overview.problem}"
        else:
            per = ", ".join(f"{k} {n}" for k, n in overview.final_counts.items()) or "none"
            text = (
                f"Labels from <b>{overview.path}</b>: {total} final labels ({per}) by "
                f"{len(overview.annotators)} annotator(s)"
            )
        self.store_label.setText(text)
        self.annotator_list.blockSignals(True)
        self.annotator_list.clear()
        for name in overview.annotators:
            item = QtWidgets.QListWidgetItem(name)
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.CheckState.Checked)
            self.annotator_list.addItem(item)
        self.annotator_list.blockSignals(False)
        from medviewer.ai.datasets import IGNORED_LABELS, MIN_PER_CLASS

        self.class_list.blockSignals(True)
        self.class_list.clear()
        for name, n in overview.final_counts.items():
            if name in IGNORED_LABELS:
                continue
            item = QtWidgets.QListWidgetItem(f"{name} — {n} final")
            item.setData(QtCore.Qt.ItemDataRole.UserRole, name)
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.CheckState.Checked)
            if n < MIN_PER_CLASS:
                item.setForeground(QtGui.QColor("#ffb74d"))
                item.setToolTip(
                    f"{n} final labels: at least {MIN_PER_CLASS} are needed to train a class"
                )
            self.class_list.addItem(item)
        self.class_list.blockSignals(False)
        self.label_set_box.blockSignals(True)
        self.label_set_box.clear()
        self.label_set_box.addItem("any label set", None)
        for name in overview.label_sets:
            self.label_set_box.addItem(name, name)
        self.label_set_box.blockSignals(False)

    def _fill_models(self) -> None:
        try:
            entries = list(self.registry.entries())
        except Exception as exc:
            entries = []
            self._status(f"Models could not be listed: {exc}", error=True)
        self._entries = {e.ref: e for e in entries}
        preferred = None
        if self.modality:
            try:
                active = self.registry.active(self.modality)
                preferred = active.ref if active is not None else None
            except Exception as exc:
                log.debug("no active model: %s", exc)
        if preferred is None:
            named = [e for e in entries if e.name == DEFAULT_BASE]
            if named:
                preferred = named[-1].ref
            elif entries:
                preferred = entries[0].ref
        self.base_box.blockSignals(True)
        self.base_box.clear()
        for e in entries:
            self.base_box.addItem(
                f"{e.name} {e.version}" + (" (bundled)" if e.bundled else ""), e.ref
            )
            self.base_box.setItemData(
                self.base_box.count() - 1,
                f"{e.ref}: {e.manifest.architecture}, classes " + ", ".join(e.manifest.classes),
                QtCore.Qt.ItemDataRole.ToolTipRole,
            )
        self.base_box.blockSignals(False)
        if preferred:
            _select(self.base_box, preferred)
        if not entries:
            self.base_info.setText("No model is installed: there is nothing to fine-tune.")
        self._base_changed()

    @property
    def base_ref(self) -> str | None:
        return self.base_box.currentData()

    @property
    def base_entry(self):
        return self._entries.get(self.base_ref)

    def set_base(self, ref: str) -> bool:
        i = self.base_box.findData(ref)
        if i >= 0:
            self.base_box.setCurrentIndex(i)
        return i >= 0

    def _base_changed(self, *_args) -> None:
        entry = self.base_entry
        if entry is not None:
            m = entry.manifest
            mods = ", ".join(m.modalities) or "any modality"
            self.base_info.setText(
                f"{m.architecture}, input {m.input_size[0]}×{m.input_size[1]}, classes: "
                + ", ".join(m.classes)
                + f" ({mods}; {entry.source})"
            )
        self._class_map = {}
        self._add_classes = False
        self.mapping_box.setVisible(False)
        self._settings_changed()

    # -- data settings ----------------------------------------------------------------------------
    def _folds_changed(self, k: int) -> None:
        self.fold_spin.setRange(1, max(k, 1))
        self.fold_spin.setEnabled(k >= 2)
        self.val_spin.setEnabled(k < 2)
        self._settings_changed()

    def _settings_changed(self, *_args) -> None:
        self.single_patient_warning.setVisible(self.single_patient_check.isChecked())
        if self.plan is not None and not self._plan_stale:
            self._plan_stale = True
            self.plan_changed.emit(None)
            self._status("The settings changed since the data check: check the data again.")
        self._refresh_buttons()

    def annotators(self) -> tuple[str, ...]:
        """The ticked annotators; () when all are ticked (= every annotator)."""
        items = [self.annotator_list.item(i) for i in range(self.annotator_list.count())]
        ticked = tuple(i.text() for i in items if i.checkState() == QtCore.Qt.CheckState.Checked)
        return () if len(ticked) == len(items) else ticked

    def set_annotators(self, names) -> None:
        names = set(names)
        for i in range(self.annotator_list.count()):
            item = self.annotator_list.item(i)
            item.setCheckState(
                QtCore.Qt.CheckState.Checked
                if not names or item.text() in names
                else QtCore.Qt.CheckState.Unchecked
            )

    def left_out_classes(self) -> list[str]:
        """The label classes unticked under "Classes" (their labels are left out)."""
        items = [self.class_list.item(i) for i in range(self.class_list.count())]
        return [
            i.data(QtCore.Qt.ItemDataRole.UserRole)
            for i in items
            if i.checkState() != QtCore.Qt.CheckState.Checked
        ]

    def set_left_out(self, names) -> None:
        names = set(names)
        for i in range(self.class_list.count()):
            item = self.class_list.item(i)
            out = item.data(QtCore.Qt.ItemDataRole.UserRole) in names
            item.setCheckState(
                QtCore.Qt.CheckState.Unchecked if out else QtCore.Qt.CheckState.Checked
            )

    def data_folders(self) -> list[str]:
        return [self.folder_list.item(i).text() for i in range(self.folder_list.count())]

    def add_data_folder(self, folder: str | None = None) -> None:
        if folder is None:
            folder = QtWidgets.QFileDialog.getExistingDirectory(
                self, "A folder to search for the labeled images"
            )
            if not folder:
                return
        if folder not in self.data_folders():
            self.folder_list.addItem(str(folder))
            self._settings_changed()

    def _remove_folder(self) -> None:
        for item in self.folder_list.selectedItems():
            self.folder_list.takeItem(self.folder_list.row(item))
        self._settings_changed()

    def filters(self):
        from medviewer.ai.datasets import DataFilters

        return DataFilters(
            annotators=self.annotators(),
            review=self.review_box.currentData(),
            label_set=self.label_set_box.currentData(),
        )

    def split_options(self):
        from medviewer.ai.datasets import SplitOptions

        k = self.kfold_spin.value()
        return SplitOptions(
            val_fraction=self.val_spin.value() / 100.0,
            k_folds=k if k >= 2 else 0,
            fold=self.fold_spin.value() - 1 if k >= 2 else 0,
            seed=self.split_seed.value(),
            allow_single_patient=self.single_patient_check.isChecked(),
        )

    # -- checking the data ------------------------------------------------------------------------
    def check_data(self) -> bool:
        """Run prepare_iter on a worker with the settings shown (a second press cancels)."""
        if self.checking:
            self._cancel_check()
            return False
        if not self.core_ready():
            self._status("Still loading the training tools; try again in a moment.")
            return False
        entry = self.base_entry
        if entry is None:
            self._show_data_error("No base model is installed: import one in AI > Models… first.")
            return False
        if self.annotator_list.count() and not any(
            self.annotator_list.item(i).checkState() == QtCore.Qt.CheckState.Checked
            for i in range(self.annotator_list.count())
        ):
            self._show_data_error("No annotator is ticked: tick whose labels to train on.")
            return False
        class_map = dict(self._class_map)
        for name in self.left_out_classes():
            class_map[name] = None
        kwargs = {
            "filters": self.filters(),
            "split": self.split_options(),
            "data_dirs": tuple(self.data_folders()),
            "class_map": class_map or None,
            "add_classes": self._add_classes,
            "registry": self.registry,
        }
        cancel = CancelToken()
        kwargs["cancel"] = cancel
        self.plan = None
        self._plan_stale = False
        self.plan_changed.emit(None)
        self.error_label.setVisible(False)
        self.plan_box.setVisible(False)
        self.check_progress.setRange(0, 0)
        self.check_progress.setFormat("checking…")
        self._status("Checking the data…")
        current: dict = {}

        def guard(callback):
            def call(value):
                if self._check_worker is not None and self._check_worker is current.get("worker"):
                    callback(value)

            return call

        worker = start_job(
            _guarded(check_data_job(self.store_path, entry.ref, entry.manifest.classes, kwargs)),
            on_progress=guard(self._check_progress),
            on_done=guard(self._check_done),
            on_error=guard(lambda m: self._check_done(_Failure(m))),
        )
        current["worker"] = self._check_worker = worker
        self._check_cancel = cancel
        self._refresh_buttons()
        return True

    def _cancel_check(self) -> None:
        if self._check_cancel is not None:
            self._check_cancel.cancel()
        if self._check_worker is not None:
            self._check_worker.quit()
        self._check_worker = None
        self._check_cancel = None
        self.check_progress.setRange(0, 1)
        self.check_progress.setValue(0)
        self.check_progress.setFormat("check cancelled")
        self._status("")
        self._refresh_buttons()

    def _check_progress(self, step: Progress) -> None:
        if step.total:
            self.check_progress.setRange(0, int(step.total))
            self.check_progress.setValue(int(step.done))
        else:
            self.check_progress.setRange(0, 0)
        if step.message:
            self.check_progress.setFormat(step.message)

    def _check_done(self, result) -> None:
        self._check_worker = None
        self._check_cancel = None
        self.check_progress.setRange(0, 1)
        if isinstance(result, _Failure):
            self.check_progress.setValue(0)
            self.check_progress.setFormat("")
            if result.cancelled:
                self._status("")
            else:
                self._show_data_error(result.message, data_error=result.data_error)
                if result.unmapped:
                    self._offer_mapping(result.unmapped)
                self._status("")
                self.check_finished.emit(result.message)
        else:
            self.check_progress.setValue(1)
            self.check_progress.setFormat("data checked")
            self.show_plan(result)
            self.check_finished.emit(result)
        self._refresh_buttons()

    def _show_data_error(self, message: str, data_error: bool = True) -> None:
        what = "Not enough usable data to train" if data_error else "The data check failed"
        hint = ""
        if data_error and "leave the class out" in message:
            hint = "<br>To leave a class out, untick it under “Classes” and check again."
        elif data_error and "one patient" in message:
            hint = "<br>To try the workflow anyway, tick “Allow a single patient” and check again."
        self.error_label.setText(f"<b>{what}.</b><br>{_html(message)}{hint}")
        self.error_label.setVisible(True)
        self.plan_box.setVisible(False)
        self.plan_placeholder.setVisible(False)
        self.plan = None
        self._refresh_buttons()

    def show_plan(self, plan) -> None:
        """Show a DataPlan (counts per class and split, patients, missing, warnings)."""
        self.plan = plan
        self._plan_stale = False
        self.error_label.setVisible(False)
        counts = plan.counts or {}
        train, val = counts.get("train", {}), counts.get("val", {})
        classes = list(plan.classes)
        t = self.counts_table
        t.setRowCount(len(classes) + 1)
        added = set(plan.added_classes or ())
        for r, name in enumerate(classes):
            a, b = int(train.get(name, 0)), int(val.get(name, 0))
            shown = f"{name}  (new class)" if name in added else name
            mapped = [k for k, v in (plan.class_map or {}).items() if v == name and k != name]
            tip = f"labels {', '.join(mapped)} count as {name}" if mapped else ""
            t.setItem(r, 0, _item(shown, tip=tip))
            t.setItem(r, 1, _item(a, align_right=True))
            t.setItem(r, 2, _item(b, align_right=True))
            t.setItem(r, 3, _item(a + b, align_right=True))
            if a + b == 0:
                for c in range(4):
                    t.item(r, c).setForeground(QtGui.QColor("#9e9e9e"))
        n_train, n_val = len(plan.train), len(plan.val)
        bold = QtGui.QFont(t.font())
        bold.setBold(True)
        for c, text in enumerate(("Total", n_train, n_val, n_train + n_val)):
            item = _item(text, align_right=c > 0)
            item.setFont(bold)
            t.setItem(len(classes), c, item)
        fit_table_height(t, 14)
        patients = plan.patients or {}
        ignored = ", ".join(f"{k} {n}" for k, n in sorted((plan.ignored or {}).items()))
        lines = [
            f"Base <b>{plan.base_ref}</b> → new outputs: {', '.join(classes)}"
            + (f" (added: {', '.join(plan.added_classes)})" if plan.added_classes else ""),
            f"Patients: {patients.get('train', 0)} in training, {patients.get('val', 0)} in "
            f"validation · annotators: {', '.join(plan.annotators) or '–'}",
        ]
        if ignored:
            lines.append(f"Left out: {ignored}")
        lines.append(
            f"<span style='{MUTED}'>Label snapshot {str(plan.label_snapshot)[:12]}: the "
            "labels as they are now; later changes need a new check.</span>"
        )
        self.plan_summary.setText("<br>".join(lines))
        warnings = list(plan.warnings or ())
        self.plan_warnings.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.plan_warnings.setVisible(bool(warnings))
        missing = list(plan.missing or ())
        self.missing_list.clear()
        for key, reason in missing:
            self.missing_list.addItem(f"{key} — {reason}")
        self.missing_label.setText(
            f"{len(missing)} label(s) left out because their image was not found (training "
            "goes on without them; add a folder under “Where the images are” if the study moved):"
        )
        self.missing_label.setVisible(bool(missing))
        self.missing_list.setVisible(bool(missing))
        self.plan_box.setVisible(True)
        self.plan_placeholder.setVisible(False)
        if plan.unmapped:
            self._offer_mapping(plan.unmapped)
        elif self._add_classes or self._class_map:
            decided = list(plan.added_classes) if self._add_classes else list(self._class_map)
            self._offer_mapping(decided)
        else:
            self.mapping_box.setVisible(False)
        self._status(
            f"Data checked: {n_train} training and {n_val} validation slices. "
            "Next: choose the options, then Train."
        )
        self.plan_changed.emit(plan)
        self._refresh_buttons()

    def data_counts(self) -> dict[str, tuple[int, int]]:
        """What the counts table shows: class -> (training, validation)."""
        t = self.counts_table
        out = {}
        for r in range(t.rowCount() - 1):
            name = t.item(r, 0).text().replace("  (new class)", "")
            out[name] = (int(t.item(r, 1).text()), int(t.item(r, 2).text()))
        return out

    # -- unmapped classes -------------------------------------------------------------------------
    def _offer_mapping(self, unmapped) -> None:
        entry = self.base_entry
        base_classes = list(entry.manifest.classes) if entry is not None else []
        names = list(unmapped)
        if self._add_classes:
            choice = "Now: added as new output(s)."
        elif self._class_map:
            choice = "Now: " + ", ".join(
                f"{k} → {v or 'left out'}" for k, v in self._class_map.items()
            )
        else:
            choice = "Without a choice they are left out."
        self.mapping_text.setText(
            f"Your labels use {len(names)} class(es) that {self.base_ref} has no output for: "
            f"<b>{', '.join(names)}</b>. {choice}"
        )
        while self.mapping_form.rowCount():
            self.mapping_form.removeRow(0)
        self.map_combos = {}
        for name in names:
            box = QtWidgets.QComboBox()
            for c in base_classes:
                box.addItem(f"count as {c}", c)
            box.addItem("leave out", LEAVE_OUT)
            previous = self._class_map.get(name, LEAVE_OUT) if name in self._class_map else None
            _select(box, LEAVE_OUT if previous is None else previous)
            self.map_combos[name] = box
            self.mapping_form.addRow(name, box)
        self._mapping_mode_changed()
        self.mapping_box.setVisible(True)

    def _mapping_mode_changed(self, *_args) -> None:
        on = self.map_radio.isChecked()
        for box in self.map_combos.values():
            box.setEnabled(on)

    def offered_classes(self) -> list[str]:
        """The unknown classes the mapping box offers to add or map (empty when hidden)."""
        return list(self.map_combos) if self.mapping_box.isVisible() else []

    def set_mapping(self, mapping: dict[str, str | None]) -> None:
        """Choose "map" with these targets (None = leave out)."""
        self.map_radio.setChecked(True)
        for name, target in mapping.items():
            box = self.map_combos.get(name)
            if box is not None:
                _select(box, LEAVE_OUT if target is None else target)

    def apply_mapping(self) -> bool:
        """Use the choice of the mapping box, then check the data again."""
        if self.add_classes_radio.isChecked():
            self._add_classes = True
            self._class_map = {}
        else:
            self._add_classes = False
            self._class_map = {
                name: (None if box.currentData() == LEAVE_OUT else box.currentData())
                for name, box in self.map_combos.items()
            }
        return self.check_data()

    # -- options ----------------------------------------------------------------------------------
    def restore_defaults(self) -> None:
        from medviewer.ai.train import TrainOptions

        self.set_options(TrainOptions())

    def set_options(self, o) -> None:
        _select(self.mode_box, o.mode)
        self.epochs_spin.setValue(int(o.epochs))
        self.head_epochs_spin.setValue(int(o.head_epochs))
        self.lr_spin.setValue(float(o.lr))
        self.batch_spin.setValue(int(o.batch_size))
        _select(self.optimizer_box, o.optimizer)
        self.wd_spin.setValue(float(o.weight_decay))
        _select(self.loss_box, o.loss)
        self.smoothing_spin.setValue(float(o.label_smoothing))
        self.augment_check.setChecked(bool(o.augment))
        self.patience_spin.setValue(int(o.early_stopping))
        _select(self.monitor_box, o.monitor)
        self.seed_spin.setValue(int(o.seed))
        _select(self.train_device_box, o.device)
        self._mode_changed()

    def options(self):
        """The TrainOptions the dialog shows (the advanced ones too, hidden or not)."""
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
        i = self.mode_box.currentIndex()
        self.mode_help.setText(MODES[i][2] if 0 <= i < len(MODES) else "")
        self.head_epochs_spin.setEnabled(self.mode_box.currentData() == "two_stage")
        self._update_options_summary()

    def _advanced_toggled(self, on: bool) -> None:
        self.advanced_box.setVisible(on)

    def _update_options_summary(self) -> None:
        if not hasattr(self, "options_summary"):
            return
        plan = self.plan
        if plan is None:
            self.options_summary.setText("")
            return
        n = len(plan.train)
        self.options_summary.setText(
            f"{n} training slices, {len(plan.val)} validation slices; the new model is saved as "
            f"a new version beside {plan.base_ref} and is not active until you choose so."
        )

    # -- training ---------------------------------------------------------------------------------
    def start_training(self) -> bool:
        """Train on the checked plan with the options shown, on a worker."""
        if self.training or not self.plan_ready:
            if not self.plan_ready:
                self._status("Check the data first.", error=True)
            return False
        from medviewer.ai.train import finetune_iter

        plan, options = self.plan, self.options()
        self._pin_active()
        self.result = None
        self.new_entry = None
        self.changed_slices = None
        self._activated = False
        self.history = []
        self._batch_x, self._batch_y = [], []
        self._t0 = time.monotonic()
        self._t_batches = None
        self._f_batches = 0.0
        self._last_fraction = 0.0
        self._cancelling = False
        for curve in (self.batch_curve, self.train_curve, self.val_curve, self.metric_curve):
            curve.setData([], [])
        self.best_marker.setData([], [])
        span = max(int(options.epochs), 1)
        self.loss_plot.getPlotItem().enableAutoRange()
        self.loss_plot.getPlotItem().setXRange(0, span, padding=0.02)
        metric_item = self.metric_plot.getPlotItem()
        metric_item.enableAutoRange()
        metric_item.setXRange(0.5, span + 0.5, padding=0)
        if options.monitor != "val_loss":
            metric_item.setYRange(0.0, 1.0, padding=0.02)
        monitor = dict(MONITORS).get(options.monitor, options.monitor)
        self.metric_plot.getPlotItem().setLabel("left", monitor)
        self.metric_plot.getPlotItem().setTitle(f"Validation {monitor}", size="10pt")
        self.log_view.clear()
        self.training_outcome.setVisible(False)
        self.train_progress.setValue(0)
        self.train_progress.setFormat("starting…")
        self.eta_label.setText("")
        n_labels = len(plan.train) + len(plan.val)
        self.snapshot_note.setText(
            f"Training on a snapshot of {n_labels} labels (snapshot "
            f"{str(plan.label_snapshot)[:12]}). Labels written while it trains are not in this "
            "run — check the data again afterwards for a run that includes them. The viewer "
            "stays usable meanwhile."
        )
        self._log(
            f"Fine-tuning {plan.base_ref} ({options.mode}, up to {options.epochs} epochs, "
            f"lr {options.lr:g}, batch {options.batch_size}) on {len(plan.train)} slices; "
            f"validating on {len(plan.val)}"
        )
        cancel = CancelToken()
        current: dict = {}

        def guard(callback):
            def call(value):
                if self._train_worker is not None and self._train_worker is current.get("worker"):
                    callback(value)

            return call

        worker = start_job(
            _guarded(finetune_iter(plan, options, registry=self.registry, cancel=cancel)),
            on_progress=guard(self._train_progress),
            on_done=guard(self._train_done),
            on_error=guard(lambda m: self._train_done(_Failure(m))),
        )
        current["worker"] = self._train_worker = worker
        self._train_cancel = cancel
        self._show_page(2)
        self._status("Training… the rest of the app stays usable.")
        return True

    def _pin_active(self) -> None:
        """Remember the model in use now as the modality's choice, so that a new version
        (the newest) never becomes active by itself (the core does the same)."""
        modality = self._target_modality()
        try:
            if modality not in self.registry.active_refs():
                current = self.registry.active(modality)
                if current is not None:
                    self.registry.set_active(modality, current.ref)
        except MedviewerError as exc:
            log.warning("active %s model not pinned: %s", modality, exc)

    def _log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.log_view.appendPlainText(f"{stamp}  {text}")

    def _train_progress(self, step: Progress) -> None:
        from medviewer.ai.train import BatchProgress, EpochResult, Evaluating

        detail = step.detail
        if isinstance(detail, BatchProgress):
            self._on_batch(detail)
        elif isinstance(detail, EpochResult):
            self._on_epoch(detail)
        elif isinstance(detail, Evaluating):
            which = "the base model" if detail.which == "base" else "the new model"
            self.train_progress.setFormat(f"scoring {which} on the validation slices…")
            self._log(f"Scoring {which} on the {len(self.plan.val)} validation slices")
        elif step.message:
            self.train_progress.setFormat(step.message)
            if step.message and not step.message.startswith(("epoch", "batch")):
                self._log(step.message)

    def _on_batch(self, b) -> None:
        n_batches = max(int(b.n_batches), 1)
        self._n_batches = n_batches
        n_epochs = max(int(b.n_epochs), 1)
        done_epochs = len(self.history)
        within = min(max(int(b.batch), 0), n_batches) / n_batches
        x = done_epochs + within
        fraction = min(max(x / n_epochs, 0.0), 1.0)
        self._last_fraction = max(self._last_fraction, fraction)
        if math.isfinite(float(b.loss)):
            self._batch_x.append(x)
            self._batch_y.append(float(b.loss))
            self.batch_curve.setData(self._batch_x, self._batch_y)
        self.train_progress.setValue(int(round(self._last_fraction * 1000)))
        stage = "output layer" if b.stage == "head" else "all layers"
        self.train_progress.setFormat(
            f"epoch {done_epochs + 1}/{n_epochs} ({stage}) · batch "
            f"{min(int(b.batch), n_batches)}/{n_batches} · loss {float(b.loss):.3f}"
        )
        now = time.monotonic()
        if self._t_batches is None:  # the clock of the estimate starts with the batches
            self._t_batches, self._f_batches = now, self._last_fraction
            self._n_slices = 0
        self._n_slices += int(b.batch_size)
        elapsed = now - self._t0
        spent = now - self._t_batches
        progressed = self._last_fraction - self._f_batches
        if progressed > 0.01 and spent > 1.0:
            left = spent * (1.0 - self._last_fraction) / progressed
            self.eta_label.setText(
                f"About {fmt_duration(left)} left (elapsed {fmt_duration(elapsed)}, "
                f"{self._n_slices / spent:.1f} slices/s); scoring the new model follows"
            )
        else:
            self.eta_label.setText(f"Elapsed {fmt_duration(elapsed)} — estimating the time left…")

    def _on_epoch(self, e) -> None:
        self.history.append(e)
        xs = list(range(1, len(self.history) + 1))
        train = [float(h.train_loss) for h in self.history]
        val = [float(h.val_loss) for h in self.history]
        values = [_shown_value(h) for h in self.history]
        self.train_curve.setData(xs, train)
        self.val_curve.setData(xs, val)
        self.metric_curve.setData(xs, values)
        best = [i for i, h in enumerate(self.history) if h.best]
        if best:
            i = best[-1]
            self.best_marker.setData([xs[i]], [values[i]])
        n_epochs = max(int(e.n_epochs), 1)
        self._last_fraction = max(self._last_fraction, len(self.history) / n_epochs)
        self.train_progress.setValue(int(round(self._last_fraction * 1000)))
        stage = "output layer" if e.stage == "head" else "all layers"
        monitor = dict(MONITORS).get(e.monitor, e.monitor)
        self.train_progress.setFormat(
            f"epoch {len(self.history)}/{n_epochs} done · {monitor} {_shown_value(e):.3f}"
        )
        self._log(
            f"Epoch {len(self.history)}/{n_epochs} ({stage}): training loss "
            f"{float(e.train_loss):.4f}, validation loss {float(e.val_loss):.4f}, "
            f"{monitor} {_shown_value(e):.4f}"
            + (" — best so far" if e.best else "")
            + f" ({float(e.seconds):.1f} s)"
        )
        self.epoch_finished.emit(e)

    def cancel_training(self) -> None:
        """Stop training after the current batch; the job then removes its temporary folder."""
        if not self.training or self._cancelling:
            return
        self._cancelling = True
        if self._train_cancel is not None:
            self._train_cancel.cancel()
        self.train_progress.setFormat("cancelling after this batch…")
        self._log("Cancel requested")
        self._status("Cancelling…")
        self._refresh_buttons()

    def _train_done(self, result) -> None:
        self._train_worker = None
        self._train_cancel = None
        cancelled = self._cancelling
        self._cancelling = False
        if isinstance(result, _Failure) or result is None:
            message = result.message if isinstance(result, _Failure) else "no result"
            active = self._active_text()
            if cancelled or (isinstance(result, _Failure) and result.cancelled):
                text = (
                    f"Training cancelled. No new model version was saved; {active} stays as it was."
                )
                self.train_progress.setFormat("cancelled")
            else:
                text = (
                    f"Training failed: {message}. No new model version was saved; {active} "
                    "stays as it was."
                )
                self.train_progress.setFormat("failed")
            self._log(text)
            self.training_outcome.setText(text)
            self.training_outcome.setStyleSheet(ERROR_STYLE if not cancelled else WARN_STYLE)
            self.training_outcome.setVisible(True)
            self.eta_label.setText("")
            self._status(text, error=not cancelled)
            self._refresh_buttons()
            self.training_finished.emit(None)
            return
        self.result = result
        self.new_entry = result.entry
        self.train_progress.setValue(1000)
        elapsed = time.monotonic() - self._t0
        self.train_progress.setFormat(f"done in {fmt_duration(elapsed)}")
        self.eta_label.setText("")
        for w in result.warnings or ():
            self._log(f"Note: {w}")
        self._log(f"{result.entry.ref} is not active: compare it with the base, then decide")
        self.training_outcome.setText(
            f"Saved as <b>{result.entry.ref}</b> (not active yet). Next: compare it with the "
            "base model."
        )
        self.training_outcome.setStyleSheet(OK_STYLE)
        self.training_outcome.setVisible(True)
        self._fill_models_keep_base()
        self.show_result(result)
        self._show_page(3)
        if cancelled:  # the cancel came after the last batch: the version was already saved
            self._status(
                f"Cancel came too late: training had finished and {result.entry.ref} was saved "
                "(not active). Delete it in AI > Models… if you do not want it."
            )
        else:
            self._status(f"{result.entry.ref} saved; it is not active until you activate it.")
        self.training_finished.emit(result)

    def _fill_models_keep_base(self) -> None:
        ref = self.base_ref
        self.base_box.blockSignals(True)
        try:
            entries = list(self.registry.entries())
            self._entries = {e.ref: e for e in entries}
            self.base_box.clear()
            for e in entries:
                self.base_box.addItem(
                    f"{e.name} {e.version}" + (" (bundled)" if e.bundled else ""), e.ref
                )
            _select(self.base_box, ref)
        except Exception as exc:
            log.debug("models not relisted: %s", exc)
        finally:
            self.base_box.blockSignals(False)

    def _target_modality(self) -> str:
        if self.modality:
            return self.modality
        entry = self.new_entry or self.base_entry
        mods = entry.manifest.modalities if entry is not None else ()
        return mods[0] if mods else "CT"

    def _active_text(self) -> str:
        modality = self._target_modality()
        try:
            entry = self.registry.active(modality)
        except Exception:
            entry = None
        return f"the active {modality} model {entry.ref}" if entry else "the active model"

    # -- the result -------------------------------------------------------------------------------
    def show_result(self, result) -> None:
        base, new = result.base_metrics or {}, result.new_metrics or {}
        plan = result.plan
        entry = result.entry
        patients = plan.patients or {}
        self._result_title = (
            f"<b>{entry.ref}</b> trained from <b>{result.base_ref}</b> on {len(plan.train)} "
            f"slices ({patients.get('train', 0)} patient(s)); both scored on the same "
            f"{new.get('n', len(plan.val))} validation slices ({patients.get('val', 0)} "
            "patient(s))."
        )
        self.result_title.setText(
            f"{self._result_title} <span style='color:#ffb74d'>Not active yet.</span>"
        )
        t = self.metrics_table
        t.setHorizontalHeaderLabels(
            ["Metric", f"Base {result.base_ref}", f"New {entry.ref}", "Change"]
        )
        t.setItem(0, 0, _item("Validation slices (n)"))
        t.setItem(0, 1, _item(base.get("n", "–"), align_right=True))
        t.setItem(0, 2, _item(new.get("n", "–"), align_right=True))
        t.setItem(0, 3, _item(""))
        for r, (key, label, higher) in enumerate(METRIC_ROWS, start=1):
            tip = "higher is better" if higher else "lower is better"
            t.setItem(r, 0, _item(label, tip=tip))
            t.setItem(r, 1, _item(fmt_metric(base.get(key)), align_right=True))
            t.setItem(r, 2, _item(fmt_metric(new.get(key)), align_right=True))
            text, colour = metric_change(key, base.get(key), new.get(key))
            item = _item(text, align_right=True, tip=tip)
            if colour:
                item.setForeground(QtGui.QColor(colour))
            t.setItem(r, 3, item)
        fit_table_height(t)

        classes = list(new.get("classes") or plan.classes)
        c = self.class_table
        c.setRowCount(len(classes))
        bpc, npc = base.get("per_class") or {}, new.get("per_class") or {}
        for r, name in enumerate(classes):
            b, n = bpc.get(name) or {}, npc.get(name) or {}
            support = n.get("support", b.get("support"))
            c.setItem(r, 0, _item(name))
            c.setItem(r, 1, _item("–" if support is None else support, align_right=True))
            for i, key in enumerate(("precision", "recall", "f1")):
                c.setItem(r, 2 + i, _item(fmt_metric(b.get(key), 2), align_right=True))
                item = _item(fmt_metric(n.get(key), 2), align_right=True)
                _text, colour = metric_change(key, b.get(key), n.get(key))
                if colour:
                    item.setForeground(QtGui.QColor(colour))
                c.setItem(r, 5 + i, item)
            if not support:  # no validation slice of this class: nothing measured
                for col in range(c.columnCount()):
                    c.item(r, col).setForeground(QtGui.QColor("#757575"))
                c.item(r, 0).setToolTip(f"no {name} slice among the validation slices")
        fit_table_height(c)

        self.base_confusion.set_matrix(base.get("classes") or classes, base.get("confusion"))
        self.new_confusion.set_matrix(classes, new.get("confusion"))
        self.base_cm_title.setText(
            f"<b>Base {result.base_ref}</b> — rows: label, columns: predicted"
        )
        self.new_cm_title.setText(f"<b>New {entry.ref}</b> — rows: label, columns: predicted")
        bx, by = reliability_points(base)
        nx, ny = reliability_points(new)
        self.base_reliability.setData(bx, by)
        self.new_reliability.setData(nx, ny)
        self.reliability_plot.getPlotItem().setTitle(
            f"Calibration — ECE base {fmt_metric(base.get('ece'))}, new "
            f"{fmt_metric(new.get('ece'))}",
            size="10pt",
        )
        notes = [str(x) for x in (base.get("note"), new.get("note")) if x]
        notes += [str(w) for w in (result.warnings or ())]
        notes += [str(w) for w in (plan.warnings or ()) if "optimistic" in str(w).lower()]
        self.result_notes.setText("\n".join(f"⚠ {n}" for n in dict.fromkeys(notes)))
        self.result_notes.setVisible(bool(notes))
        self.result_status.setText("")
        self._refresh_buttons()

    def metric_columns(self) -> dict[str, tuple[str, str]]:
        """What the metrics table shows: row label -> (base, new)."""
        t = self.metrics_table
        return {
            t.item(r, 0).text(): (t.item(r, 1).text(), t.item(r, 2).text())
            for r in range(t.rowCount())
        }

    # -- after training ---------------------------------------------------------------------------
    def activate_new(self) -> bool:
        """Make the new version the active model for the modality; with an AI panel on an open
        series, run it again and show how many slices' top class changed."""
        if self.result is None:
            return False
        entry = self.result.entry
        modality = self._target_modality()
        previous = {}
        before = None
        panel = self.ai_panel
        if panel is not None:
            previous = panel.top_classes()
            info = getattr(panel, "_run_info", None)
            before = f"{info[0]} {info[1]}" if info else None
        try:
            self.registry.set_active(modality, entry.ref)
        except MedviewerError as exc:
            self._result_message(f"{entry.ref} not activated: {exc}", error=True)
            return False
        self._activated = True
        self._refresh_buttons()
        self.result_title.setText(
            f"{self._result_title} <span style='color:#81c784'>Active for {modality}.</span>"
        )
        self._status(f"{entry.ref} is the active {modality} model.")
        self.activated.emit(entry)
        text = f"{entry.ref} is now the active {modality} model (roll back in AI > Models…)."
        if panel is None:
            self._result_message(text)
            self.comparison_ready.emit(None)
            return True
        panel.reload_models()
        if panel.session.volume is None:
            self._result_message(text + " Open a study to run it.")
            self.comparison_ready.emit(None)
            return True
        self._pending_compare = {"previous": previous, "before": before, "ref": entry.ref}
        panel.run_finished.connect(self._rerun_finished)
        if not panel.run():
            panel.run_finished.disconnect(self._rerun_finished)
            self._pending_compare = None
            self._result_message(text + " Run the classifier (Ctrl+R) to see its predictions.")
            self.comparison_ready.emit(None)
            return True
        self._result_message(text + " Running it on the open series…")
        return True

    def _rerun_finished(self, result) -> None:
        pending, self._pending_compare = self._pending_compare, None
        try:
            self.ai_panel.run_finished.disconnect(self._rerun_finished)
        except (RuntimeError, TypeError):
            pass
        if pending is None:
            return
        ref = pending["ref"]
        if result is None:
            self._result_message(f"{ref} is active; its run on the open series did not finish.")
            self.comparison_ready.emit(None)
            return
        changed = self.ai_panel.compare_predictions(pending["previous"], pending["before"])
        self.changed_slices = changed
        n = len(self.ai_panel.top_classes())
        if not pending["previous"]:
            text = (
                f"{ref} is active and has classified the {n} slices of the open series "
                "(there was no earlier run to compare with)."
            )
        else:
            where = _slice_list(changed)
            text = (
                f"{ref} is active. On the open series its top class differs from "
                f"{pending['before'] or 'the previous run'} on {len(changed)} of {n} slices"
                + (f" ({where}); they are marked on the AI panel's plot." if changed else ".")
            )
        self._result_message(text)
        self.comparison_ready.emit(changed)

    def keep_current(self) -> None:
        """Keep the active model; the new version stays installed (activate it later)."""
        if self.result is None:
            return
        text = (
            f"Kept {self._active_text()}. {self.result.entry.ref} stays installed: activate it "
            "any time in AI > Models…"
        )
        self._result_message(text)
        self._status(text)
        self.close()

    def export_package(self, folder: str | None = None) -> bool:
        """Copy the new version's folder into ``folder`` (asked for when None), on a worker."""
        if self.result is None or self._export_worker is not None:
            return False
        if folder is None:
            folder = QtWidgets.QFileDialog.getExistingDirectory(
                self, "Export the model package into"
            )
            if not folder:
                return False
        src = Path(self.result.entry.folder)
        self._result_message(f"Exporting {self.result.entry.ref} to {folder}…")

        def done(dest):
            self._export_worker = None
            self._refresh_buttons()
            if isinstance(dest, _Failure):
                self._result_message(f"Export failed: {dest.message}", error=True)
                self.export_finished.emit(None)
                return
            self._result_message(
                f"Exported to {dest}: copy this folder to another computer and import it with "
                "`medviewer models import` (or AI > Models… > Import)."
            )
            self.export_finished.emit(dest)

        self._export_worker = start_job(
            _guarded(export_package_job(src, folder)),
            on_done=done,
            on_error=lambda m: done(_Failure(m)),
        )
        self._refresh_buttons()
        return True

    def show_model_card(self) -> None:
        if self.result is None:
            return
        from medviewer.qt.dialogs.models_dialog import show_model_card

        self.card_window = show_model_card(self.result.entry, self)

    def _result_message(self, text: str, error: bool = False) -> None:
        self.result_status.setText(text)
        self.result_status.setStyleSheet(ERROR_STYLE if error else "")

    def _status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("QLabel { color: #e57373; }" if error else "")

    # -- closing ----------------------------------------------------------------------------------
    def cancel_all(self) -> None:
        """Stop every job (the main window is closing)."""
        if self.checking:
            self._cancel_check()
        if self._train_cancel is not None:
            self._train_cancel.cancel()
        if self._overview_worker is not None:
            self._overview_worker.quit()
            self._overview_worker = None

    def reject(self) -> None:
        """Close, Esc or the window's close box (QDialog routes them all here): while it
        trains, ask before cancelling; closing never leaves a half-written version."""
        if self.training and not self._cancelling:
            answer = QtWidgets.QMessageBox.question(
                self,
                "Training is running",
                "Cancel the training? No new model version will be saved.",
                QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
            )
            if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                return
            self.cancel_training()
        if self.checking:
            self._cancel_check()
        super().reject()


def _shown_value(e) -> float:
    """The monitored metric of an EpochResult as the user reads it: the core reports the
    validation loss negated (higher is better for every monitor); show the loss itself."""
    value = float(e.value)
    return -value if e.monitor == "val_loss" and value < 0 else value


def _html(text: str) -> str:
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", "<br>")
    )


def _slice_list(indices, limit: int = 12) -> str:
    """Slices as the viewer numbers them (1-based), e.g. "slices 3, 4, 10 and 5 more"."""
    shown = [str(i + 1) for i in list(indices)[:limit]]
    more = len(indices) - len(shown)
    text = "slice" + ("s " if len(indices) != 1 else " ") + ", ".join(shown)
    return text + (f" and {more} more" if more > 0 else "")


__all__ = [
    "ConfusionTable",
    "FinetuneDialog",
    "StoreOverview",
    "export_package_job",
    "fmt_duration",
    "metric_change",
    "reliability_points",
]
