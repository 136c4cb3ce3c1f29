"""Step 1's flow: read the label store (a job that also loads the training core on the
worker), list the base models, check the data (a job running ``prepare_iter``), show the plan
or why there is none, and offer a choice for label classes the base model does not know."""

from __future__ import annotations

import logging

from PySide6 import QtCore

from medviewer.jobs import CancelToken
from medviewer.qt.dialogs.finetune import data_view
from medviewer.qt.dialogs.finetune.jobs import (
    JobFailure,
    StoreOverview,
    check_data_job,
    current_only,
    guarded,
    store_overview_job,
    training_core_loaded,
)
from medviewer.qt.workers import start_job

log = logging.getLogger(__name__)


class DataCheck(QtCore.QObject):
    """The Data step of ``dialog`` (a FinetuneDialog).

    It reads the dialog's ``registry``, ``store_path`` and ``modality``, draws on its
    ``data_page`` and status line, emits its ``plan_changed`` and ``check_finished`` signals,
    and loads the core's default options into it once the core is imported.
    """

    def __init__(self, dialog) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self.page = dialog.data_page
        self.store_path = dialog.store_path
        self.registry = dialog.registry
        self.modality = dialog.modality
        self.overview: StoreOverview | None = None
        self.plan = None
        self._plan_stale = False
        self._class_map: dict[str, str | None] = {}
        self._add_classes = False
        self._overview_worker = None
        self._check_worker = None
        self._check_cancel: CancelToken | None = None
        self._entries: dict = {}
        self.defaults_set = False
        """The training core is loaded and the options show its defaults."""

    def _status(self, text: str, error: bool = False) -> None:
        self.dialog.show_status(text, error)

    def _refresh(self) -> None:
        self.dialog.refresh_buttons()

    @property
    def plan_ready(self) -> bool:
        return self.plan is not None and not self._plan_stale

    @property
    def checking(self) -> bool:
        return self._check_worker is not None

    # -- the store and the base models ------------------------------------------------------------
    def reload_store(self) -> None:
        """Read the store's annotators and label sets (on a worker) and list the models."""
        self._fill_models()
        store_label = self.page.store_label
        store_label.setText(f"Labels from <b>{self.store_path}</b> — reading…")
        current: dict = {}

        def done(result):
            if current.get("worker") is not self._overview_worker:
                return
            self._overview_worker = None
            self._core_loaded()
            if isinstance(result, JobFailure):
                store_label.setText(
                    f"Labels from <b>{self.store_path}</b>: cannot be read — {result.message}"
                )
                return
            self._set_overview(result)

        worker = start_job(
            guarded(store_overview_job(self.store_path)),
            on_done=done,
            on_error=lambda m: store_label.setText(f"Label store: {m}"),
        )
        current["worker"] = self._overview_worker = worker

    def _core_loaded(self) -> None:
        if training_core_loaded() and not self.defaults_set:
            self.defaults_set = True
            self.dialog.restore_defaults()
        self._refresh()

    def _set_overview(self, overview: StoreOverview) -> None:
        from medviewer.ai.datasets import IGNORED_LABELS, MIN_PER_CLASS

        self.overview = overview
        self.page.set_overview(
            data_view.overview_text(overview),
            overview.annotators,
            data_view.class_choices(overview.final_counts, IGNORED_LABELS, MIN_PER_CLASS),
            overview.label_sets,
        )

    def _fill_models(self) -> None:
        try:
            entries = list(self.registry.entries())
        except Exception as exc:
            entries = []
            self._status(f"Models could not be listed: {exc}", error=True)
        self._entries = {e.ref: e for e in entries}
        active_ref = None
        if self.modality:
            try:
                active = self.registry.active(self.modality)
                active_ref = active.ref if active is not None else None
            except Exception as exc:
                log.debug("no active model: %s", exc)
        self.page.set_models(entries, data_view.preferred_base(entries, active_ref))
        if not entries:
            self.page.base_info.setText("No model is installed: there is nothing to fine-tune.")
        self.base_changed()

    def relist_models(self) -> None:
        """After training: list the models again (the new version too), keeping the base."""
        ref = self.page.base_ref
        try:
            entries = list(self.registry.entries())
            self._entries = {e.ref: e for e in entries}
            self.page.set_models(entries, ref, quiet=True)
        except Exception as exc:
            log.debug("models not relisted: %s", exc)

    @property
    def base_entry(self):
        return self._entries.get(self.page.base_ref)

    def base_changed(self, *_args) -> None:
        entry = self.base_entry
        if entry is not None:
            self.page.base_info.setText(data_view.base_info_text(entry))
        self._class_map = {}
        self._add_classes = False
        self.page.mapping_box.setVisible(False)
        self.settings_changed()

    def settings_changed(self, *_args) -> None:
        if self.plan is not None and not self._plan_stale:
            self._plan_stale = True
            self.dialog.plan_changed.emit(None)
            self._status("The settings changed since the data check: check the data again.")
        self._refresh()

    # -- checking the data ------------------------------------------------------------------------
    def check(self) -> bool:
        """Run prepare_iter on a worker with the settings shown (a second press cancels)."""
        if self.checking:
            self.cancel()
            return False
        if not training_core_loaded():
            self._status("Still loading the training tools; try again in a moment.")
            return False
        entry = self.base_entry
        if entry is None:
            self._show_data_error("No base model is installed: import one in AI > Models… first.")
            return False
        page = self.page
        if page.no_annotator_ticked():
            self._show_data_error("No annotator is ticked: tick whose labels to train on.")
            return False
        cancel = CancelToken()
        kwargs = {
            "filters": page.filters(),
            "split": page.split_options(),
            "data_dirs": tuple(page.data_folders()),
            "class_map": data_view.effective_class_map(self._class_map, page.left_out_classes()),
            "add_classes": self._add_classes,
            "registry": self.registry,
            "cancel": cancel,
        }
        self.plan = None
        self._plan_stale = False
        self.dialog.plan_changed.emit(None)
        page.show_checking()
        self._status("Checking the data…")
        current: dict = {}

        def guard(callback):
            return current_only(self, "_check_worker", current, callback)

        worker = start_job(
            guarded(check_data_job(self.store_path, entry.ref, entry.manifest.classes, kwargs)),
            on_progress=guard(page.set_check_progress),
            on_done=guard(self._check_done),
            on_error=guard(lambda m: self._check_done(JobFailure(m))),
        )
        current["worker"] = self._check_worker = worker
        self._check_cancel = cancel
        self._refresh()
        return True

    def cancel(self) -> None:
        if self._check_cancel is not None:
            self._check_cancel.cancel()
        if self._check_worker is not None:
            self._check_worker.quit()
        self._check_worker = None
        self._check_cancel = None
        self.page.check_ended(False, "check cancelled")
        self._status("")
        self._refresh()

    def _check_done(self, result) -> None:
        self._check_worker = None
        self._check_cancel = None
        if isinstance(result, JobFailure):
            self.page.check_ended(False)
            if result.cancelled:
                self._status("")
            else:
                self._show_data_error(result.message, data_error=result.data_error)
                if result.unmapped:
                    self._offer_mapping(result.unmapped)
                self._status("")
                self.dialog.check_finished.emit(result.message)
        else:
            self.page.check_ended(True, "data checked")
            self.show_plan(result)
            self.dialog.check_finished.emit(result)
        self._refresh()

    def _show_data_error(self, message: str, data_error: bool = True) -> None:
        self.page.show_error(data_view.data_error_html(message, data_error))
        self.plan = None
        self._refresh()

    def show_plan(self, plan) -> None:
        """Show a DataPlan (counts per class and split, patients, missing, warnings)."""
        self.plan = plan
        self._plan_stale = False
        self.page.show_plan(
            data_view.count_rows(plan),
            (len(plan.train), len(plan.val)),
            data_view.plan_summary_html(plan),
            data_view.warning_lines(plan.warnings or ()),
            data_view.missing_lines(plan),
            data_view.missing_text(len(plan.missing or ())),
        )
        offer = data_view.classes_to_offer(plan, self._add_classes, self._class_map)
        if offer is None:
            self.page.mapping_box.setVisible(False)
        else:
            self._offer_mapping(offer)
        self._status(data_view.checked_status(plan))
        self.dialog.plan_changed.emit(plan)
        self._refresh()

    def _offer_mapping(self, unmapped) -> None:
        entry = self.base_entry
        names = list(unmapped)
        self.page.mapping_box.offer(
            data_view.mapping_html(names, self.page.base_ref, self._add_classes, self._class_map),
            list(entry.manifest.classes) if entry is not None else [],
            data_view.mapping_targets(names, self._class_map),
        )

    def apply_mapping(self) -> bool:
        """Use the choice of the mapping box, then check the data again."""
        self._add_classes, self._class_map = self.page.mapping_box.choice()
        return self.check()

    def stop_reading(self) -> None:
        """Stop reading the store (the main window is closing)."""
        if self._overview_worker is not None:
            self._overview_worker.quit()
            self._overview_worker = None


__all__ = ["DataCheck"]
