"""Step 4's actions: show a FinetuneResult on the Result page, then Activate (and re-run the AI
dock on the open series to say where the predictions changed), Keep current, Export package
(a job) and Model card."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from medviewer.errors import MedviewerError
from medviewer.qt.dialogs.finetune import result_view as view
from medviewer.qt.dialogs.finetune.jobs import JobFailure, export_package_job, guarded
from medviewer.qt.workers import start_job


class ResultActions(QtCore.QObject):
    """The Result step of ``dialog`` (a FinetuneDialog).

    It reads the dialog's ``result``, ``registry``, ``ai_panel`` and ``target_modality()``,
    draws on its ``result_page`` and status line, and emits its ``activated``,
    ``comparison_ready`` and ``export_finished`` signals.
    """

    def __init__(self, dialog) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self.page = dialog.result_page
        self.is_activated = False
        self.changed_slices: list[int] | None = None
        self._title = ""
        self._pending: dict | None = None
        self._export_worker = None

    @property
    def exporting(self) -> bool:
        return self._export_worker is not None

    def reset(self) -> None:
        """A new run starts: nothing activated or compared yet."""
        self.changed_slices = None
        self.is_activated = False

    def show(self, result) -> None:
        self._title = view.result_title(result)
        self.page.result_title.setText(view.title_with_state(self._title))
        self.page.show_result(result)
        self.dialog.refresh_buttons()

    # -- activate ---------------------------------------------------------------------------------
    def activate(self) -> bool:
        """Make the new version the modality's active model; with an AI panel on an open
        series, run it there (the comparison follows in :meth:`_rerun_finished`)."""
        d = self.dialog
        if d.result is None:
            return False
        entry = d.result.entry
        modality = d.target_modality()
        previous = {}
        before = None
        panel = d.ai_panel
        if panel is not None:
            previous = panel.top_classes()
            info = getattr(panel, "_run_info", None)
            before = f"{info[0]} {info[1]}" if info else None
        try:
            d.registry.set_active(modality, entry.ref)
        except MedviewerError as exc:
            self.page.set_message(f"{entry.ref} not activated: {exc}", error=True)
            return False
        self.is_activated = True
        d.refresh_buttons()
        self.page.result_title.setText(view.title_with_state(self._title, modality))
        d.show_status(f"{entry.ref} is the active {modality} model.")
        d.activated.emit(entry)
        text = view.activated_text(entry.ref, modality)
        if panel is None:
            self.page.set_message(text)
            d.comparison_ready.emit(None)
            return True
        panel.reload_models()
        if panel.session.volume is None:
            self.page.set_message(text + " Open a study to run it.")
            d.comparison_ready.emit(None)
            return True
        self._pending = {"previous": previous, "before": before, "ref": entry.ref}
        panel.run_finished.connect(self._rerun_finished)
        if not panel.run():
            panel.run_finished.disconnect(self._rerun_finished)
            self._pending = None
            self.page.set_message(text + " Run the classifier (Ctrl+R) to see its predictions.")
            d.comparison_ready.emit(None)
            return True
        self.page.set_message(text + " Running it on the open series…")
        return True

    def _rerun_finished(self, result) -> None:
        d = self.dialog
        pending, self._pending = self._pending, None
        try:
            d.ai_panel.run_finished.disconnect(self._rerun_finished)
        except (RuntimeError, TypeError):  # already disconnected: nothing to undo
            pass
        if pending is None:
            return
        ref = pending["ref"]
        if result is None:
            self.page.set_message(f"{ref} is active; its run on the open series did not finish.")
            d.comparison_ready.emit(None)
            return
        changed = d.ai_panel.compare_predictions(pending["previous"], pending["before"])
        self.changed_slices = changed
        n = len(d.ai_panel.top_classes())
        self.page.set_message(
            view.comparison_text(ref, bool(pending["previous"]), changed, n, pending["before"])
        )
        d.comparison_ready.emit(changed)

    # -- keep, export, card -----------------------------------------------------------------------
    def keep(self) -> None:
        """Keep the active model and close; the new version stays installed."""
        d = self.dialog
        if d.result is None:
            return
        text = view.kept_text(d.active_text(), d.result.entry.ref)
        self.page.set_message(text)
        d.show_status(text)
        d.close()

    def export(self, folder: str | None = None) -> bool:
        """Copy the new version's folder into ``folder`` (asked for when None), on a worker."""
        d = self.dialog
        if d.result is None or self._export_worker is not None:
            return False
        if folder is None:
            folder = QtWidgets.QFileDialog.getExistingDirectory(d, "Export the model package into")
            if not folder:
                return False
        src = Path(d.result.entry.folder)
        self.page.set_message(f"Exporting {d.result.entry.ref} to {folder}…")

        def done(dest):
            self._export_worker = None
            d.refresh_buttons()
            if isinstance(dest, JobFailure):
                self.page.set_message(f"Export failed: {dest.message}", error=True)
                d.export_finished.emit(None)
                return
            self.page.set_message(view.exported_text(dest))
            d.export_finished.emit(dest)

        self._export_worker = start_job(
            guarded(export_package_job(src, folder)),
            on_done=done,
            on_error=lambda m: done(JobFailure(m)),
        )
        d.refresh_buttons()
        return True

    def show_card(self) -> None:
        d = self.dialog
        if d.result is None:
            return
        from medviewer.qt.dialogs.models_dialog import show_model_card

        d.card_window = show_model_card(d.result.entry, d)


__all__ = ["ResultActions"]
