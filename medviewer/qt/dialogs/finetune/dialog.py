"""The fine-tuning dialog: the step bar, the four pages, Back / Next / Train / Close, and the
flow between the pages. Each step's work runs as a job on a worker
(:func:`medviewer.qt.workers.start_job`); what the pages show is computed by the ``*_view``
modules. torch is never imported here, and the training core only inside methods (the
store-reading job imports it on a worker first).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from medviewer.errors import MedviewerError
from medviewer.qt.dialogs.finetune import data_view, result_view, steps, training_view
from medviewer.qt.dialogs.finetune.attributes import with_page_attributes
from medviewer.qt.dialogs.finetune.data_check import DataCheck
from medviewer.qt.dialogs.finetune.data_page import DataPage
from medviewer.qt.dialogs.finetune.formatting import fmt_duration
from medviewer.qt.dialogs.finetune.jobs import JobFailure, StoreOverview, training_core_loaded
from medviewer.qt.dialogs.finetune.options_page import OptionsPage
from medviewer.qt.dialogs.finetune.result_actions import ResultActions
from medviewer.qt.dialogs.finetune.result_page import ResultPage
from medviewer.qt.dialogs.finetune.style import (
    ERROR_STYLE,
    OK_STYLE,
    STATUS_ERROR_STYLE,
    WARN_STYLE,
    step_style,
)
from medviewer.qt.dialogs.finetune.training_page import TrainingPage
from medviewer.qt.dialogs.finetune.training_run import TrainingRun
from medviewer.qt.dialogs.finetune.widgets import scrolled

log = logging.getLogger(__name__)


@with_page_attributes
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
        self.result = None
        self.new_entry = None
        self.card_window = None

        self._build()
        self._data = DataCheck(self)
        self._run = TrainingRun(self.training_page, registry, self)
        self._actions = ResultActions(self)
        self._wire()
        self._show_page(steps.DATA)
        self.reload_store()
        self.refresh_buttons()

    # -- construction -----------------------------------------------------------------------------
    def _build(self) -> None:
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(10, 10, 10, 10)
        bar = QtWidgets.QHBoxLayout()
        self.step_labels: list[QtWidgets.QLabel] = []
        for text in steps.STEPS:
            label = QtWidgets.QLabel(text)
            label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            label.setMinimumHeight(26)
            self.step_labels.append(label)
            bar.addWidget(label, 1)
        outer.addLayout(bar)
        notice = QtWidgets.QLabel(
            "⚠ Research use only — a fine-tuned model is not a medical device and must not be "
            "used to make or support a diagnosis."
        )
        notice.setStyleSheet(WARN_STYLE)
        notice.setWordWrap(True)
        outer.addWidget(notice)

        self.pages = QtWidgets.QStackedWidget()
        self.data_page = DataPage()
        self.options_page = OptionsPage()
        self.training_page = TrainingPage()
        self.result_page = ResultPage()
        self.pages.addWidget(scrolled(self.data_page))
        self.pages.addWidget(scrolled(self.options_page))
        self.pages.addWidget(self.training_page)
        self.pages.addWidget(scrolled(self.result_page))
        outer.addWidget(self.pages, 1)

        row = QtWidgets.QHBoxLayout()
        self.status_label = QtWidgets.QLabel("")
        self.status_label.setWordWrap(True)
        row.addWidget(self.status_label, 1)
        self.back_button = QtWidgets.QPushButton("◀ Back")
        self.next_button = QtWidgets.QPushButton("Next ▶")
        self.train_button = QtWidgets.QPushButton("Train")
        self.train_button.setToolTip(steps.TRAIN_TIP)
        self.close_button = QtWidgets.QPushButton("Close")
        for b in (self.back_button, self.next_button, self.train_button, self.close_button):
            row.addWidget(b)
        outer.addLayout(row)

    def _wire(self) -> None:
        self.back_button.clicked.connect(self.back)
        self.next_button.clicked.connect(self.next)
        self.train_button.clicked.connect(self.start_training)
        self.close_button.clicked.connect(self.reject)
        data = self.data_page
        data.changed.connect(self._data.settings_changed)
        data.base_changed.connect(self._data.base_changed)
        data.check_button.clicked.connect(self.check_data)
        data.mapping_box.apply_mapping_button.clicked.connect(self.apply_mapping)
        self.options_page.mode_changed.connect(self._update_options_summary)
        self.training_page.cancel_button.clicked.connect(self.cancel_training)
        self._run.epoch_finished.connect(self.epoch_finished)
        self._run.ended.connect(self._train_done)
        result = self.result_page
        result.activate_button.clicked.connect(self.activate_new)
        result.keep_button.clicked.connect(self.keep_current)
        result.export_button.clicked.connect(lambda: self.export_package())
        result.card_button.clicked.connect(self.show_model_card)

    # -- navigation -------------------------------------------------------------------------------
    @property
    def page_index(self) -> int:
        return self.pages.currentIndex()

    def _show_page(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        for i, label in enumerate(self.step_labels):
            label.setStyleSheet(step_style(i, index))
        if index == steps.OPTIONS:
            self._update_options_summary()
        self.refresh_buttons()

    def back(self) -> None:
        target = steps.back_target(self.page_index)
        if target is not None:
            self._show_page(target)

    def next(self) -> None:
        target = steps.next_target(
            self.page_index, plan_ready=self.plan_ready, has_result=self.result is not None
        )
        if target is not None:
            self._show_page(target)

    @property
    def training(self) -> bool:
        return self._run.running

    def refresh_buttons(self) -> None:
        s = steps.buttons(
            self.page_index,
            plan_ready=self.plan_ready,
            training=self.training,
            checking=self.checking,
            cancelling=self._run.cancelling,
            has_result=self.result is not None,
            activated=self._actions.is_activated,
            exporting=self._actions.exporting,
            defaults_set=self._data.defaults_set,
        )
        self.back_button.setVisible(s.back_visible)
        self.back_button.setEnabled(s.back_enabled)
        self.next_button.setVisible(s.next_visible)
        self.next_button.setEnabled(s.next_enabled)
        self.train_button.setVisible(s.train_visible)
        self.train_button.setEnabled(s.train_enabled)
        self.train_button.setToolTip(s.train_tip)
        self.data_page.check_button.setEnabled(s.check_enabled)
        self.data_page.check_button.setText(s.check_text)
        self.training_page.cancel_button.setEnabled(s.cancel_enabled)
        self.result_page.set_actions(
            s.result_enabled, s.activate_enabled, s.activate_text, s.export_enabled
        )
        self.data_page.set_inputs_enabled(s.inputs_enabled)

    def show_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(STATUS_ERROR_STYLE if error else "")

    # -- the data (see DataCheck) ----------------------------------------------------------------
    @property
    def overview(self) -> StoreOverview | None:
        """What the label store holds (None until it has been read)."""
        return self._data.overview

    @property
    def plan(self):
        """The DataPlan of the last successful check (None: none, or it failed)."""
        return self._data.plan

    @property
    def plan_ready(self) -> bool:
        return self._data.plan_ready

    @property
    def checking(self) -> bool:
        return self._data.checking

    @property
    def base_ref(self) -> str | None:
        return self.data_page.base_ref

    @property
    def base_entry(self):
        return self._data.base_entry

    @staticmethod
    def core_ready() -> bool:
        """Whether the training core is imported (by the store reading job, on a worker)."""
        return training_core_loaded()

    def reload_store(self) -> None:
        """Read the store's annotators and label sets (on a worker) and list the models."""
        self._data.reload_store()

    def check_data(self) -> bool:
        """Run prepare_iter on a worker with the settings shown (a second press cancels)."""
        return self._data.check()

    def show_plan(self, plan) -> None:
        """Show a DataPlan (counts per class and split, patients, missing, warnings)."""
        self._data.show_plan(plan)

    def apply_mapping(self) -> bool:
        """Use the choice of the mapping box, then check the data again."""
        return self._data.apply_mapping()

    # -- options ----------------------------------------------------------------------------------
    def _update_options_summary(self) -> None:
        self.options_page.set_summary(data_view.options_summary(self.plan))

    # -- training (see TrainingRun) ---------------------------------------------------------------
    @property
    def history(self) -> list:
        """The EpochResults of the current (or last) run."""
        return self._run.progress.history

    def start_training(self) -> bool:
        """Train on the checked plan with the options shown, on a worker."""
        if self.training or not self.plan_ready:
            if not self.plan_ready:
                self.show_status("Check the data first.", error=True)
            return False
        self._pin_active()
        self.result = None
        self.new_entry = None
        self._actions.reset()
        self._run.start(self.plan, self.options())
        self._show_page(steps.TRAINING)
        self.show_status("Training… the rest of the app stays usable.")
        return True

    def cancel_training(self) -> None:
        """Stop training after the current batch; the job then removes its temporary folder."""
        if self._run.cancel():
            self.show_status("Cancelling…")
            self.refresh_buttons()

    def _train_done(self, result, cancelled: bool) -> None:
        if isinstance(result, JobFailure) or result is None:
            message = result.message if isinstance(result, JobFailure) else "no result"
            stopped = cancelled or (isinstance(result, JobFailure) and result.cancelled)
            text = training_view.stopped_text(stopped, message, self.active_text())
            self.training_page.stop(
                "cancelled" if stopped else "failed", text, WARN_STYLE if cancelled else ERROR_STYLE
            )
            # the page says it in full above; the status line does not repeat it word for word
            self.show_status("Cancelled." if stopped else "Failed: see above.", error=not cancelled)
            self.refresh_buttons()
            self.training_finished.emit(None)
            return
        self.result = result
        self.new_entry = result.entry
        ref = result.entry.ref
        page = self.training_page
        page.finish(f"done in {fmt_duration(self._run.progress.elapsed(time.monotonic()))}")
        for w in result.warnings or ():
            page.log(f"Note: {w}")
        page.log(f"{ref} is not active: compare it with the base, then decide")
        page.show_outcome(result_view.saved_outcome(ref), OK_STYLE)
        self._data.relist_models()
        self.show_result(result)
        self._show_page(steps.RESULT)
        self.show_status(result_view.saved_status(ref, cancelled))
        self.training_finished.emit(result)

    def _pin_active(self) -> None:
        """Remember the model in use now as the modality's choice, so that a new version
        (the newest) never becomes active by itself (the core does the same)."""
        modality = self.target_modality()
        try:
            if modality not in self.registry.active_refs():
                current = self.registry.active(modality)
                if current is not None:
                    self.registry.set_active(modality, current.ref)
        except MedviewerError as exc:
            log.warning("active %s model not pinned: %s", modality, exc)

    def target_modality(self) -> str:
        if self.modality:
            return self.modality
        entry = self.new_entry or self.base_entry
        mods = entry.manifest.modalities if entry is not None else ()
        return mods[0] if mods else "CT"

    def active_text(self) -> str:
        modality = self.target_modality()
        try:
            entry = self.registry.active(modality)
        except Exception:
            entry = None
        return result_view.active_model_text(modality, entry.ref if entry else None)

    # -- the result (see ResultActions) -----------------------------------------------------------
    def show_result(self, result) -> None:
        self._actions.show(result)

    def activate_new(self) -> bool:
        """Make the new version the active model for the modality; with an AI panel on an open
        series, run it again and show how many slices' top class changed."""
        return self._actions.activate()

    def keep_current(self) -> None:
        """Keep the active model; the new version stays installed (activate it later)."""
        self._actions.keep()

    def export_package(self, folder: str | None = None) -> bool:
        """Copy the new version's folder into ``folder`` (asked for when None), on a worker."""
        return self._actions.export(folder)

    def show_model_card(self) -> None:
        self._actions.show_card()

    @property
    def changed_slices(self) -> list[int] | None:
        """After Activate and the re-run: the slices whose top class changed."""
        return self._actions.changed_slices

    # -- closing ----------------------------------------------------------------------------------
    def cancel_all(self) -> None:
        """Stop every job (the main window is closing)."""
        if self.checking:
            self._data.cancel()
        self._run.stop()
        self._data.stop_reading()

    def reject(self) -> None:
        """Close, Esc or the window's close box (QDialog routes them all here): while it
        trains, ask before cancelling; closing never leaves a half-written version."""
        if self.training and not self._run.cancelling:
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
            self._data.cancel()
        super().reject()


__all__ = ["FinetuneDialog"]
