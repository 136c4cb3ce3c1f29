"""What the Models dialog's buttons do: activate a version for a modality (also to roll back),
delete a user version (with the fallback said in words), open the model card, import a package
folder (checked on a worker)."""

from __future__ import annotations

from PySide6 import QtWidgets

from medviewer.errors import MedviewerError
from medviewer.jobs import Progress
from medviewer.qt.dialogs.models_dialog.model_card import show_model_card
from medviewer.qt.workers import start_job


def _import_job(registry, folder):
    yield Progress(0, None, f"checking {folder}")
    return registry.import_package(folder)


class ModelActionsMixin:
    """The actions of :class:`~medviewer.qt.dialogs.models_dialog.dialog.ModelsDialog` (its
    registry, selection, reload, signals and message line come from the dialog)."""

    def message(self, text: str, error: bool = False) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet("QLabel { color: #e57373; }" if error else "")

    @property
    def target_modality(self) -> str:
        return (self.modality_box.currentText() or self.modality or "CT").strip().upper()

    def activate_selected(self, ref: str | None = None, modality: str | None = None) -> bool:
        """Make ``ref`` (the selected version) the active model for the modality."""
        if ref is not None:
            self.select(ref)
        entry = self.selected_entry
        if entry is None:
            return False
        modality = (modality or self.target_modality).upper()
        if entry.manifest.modalities and modality not in entry.manifest.modalities:
            self.message(
                f"{entry.ref} is made for {', '.join(entry.manifest.modalities)}, not "
                f"{modality}: choose one of those modalities",
                error=True,
            )
            return False
        try:
            self.registry.set_active(modality, entry.ref)
        except MedviewerError as exc:
            self.message(f"{entry.ref} not activated: {exc}", error=True)
            return False
        self.reload(select=entry.ref)
        self.message(f"{entry.ref} is now the active {modality} model.")
        self.active_changed.emit(modality)
        return True

    def delete_selected(self, ref: str | None = None, *, confirm: bool = True) -> bool:
        """Delete a user version (asks first unless ``confirm`` is False). Deleting the active
        one makes the modality fall back to the newest other model, and says which."""
        if ref is not None:
            self.select(ref)
        entry = self.selected_entry
        if entry is None:
            return False
        if entry.bundled:
            self.message(
                f"{entry.ref} is bundled with medviewer: bundled models are read-only and "
                "cannot be deleted (activate another version instead).",
                error=True,
            )
            return False
        was_active = self.active_for(entry.ref)
        if confirm:
            extra = (
                f"\n\nIt is the active model for {', '.join(was_active)}; the newest other "
                "model for it takes over."
                if was_active
                else ""
            )
            answer = QtWidgets.QMessageBox.question(
                self,
                "Delete model",
                f"Delete {entry.ref} from {entry.folder}? This cannot be undone.{extra}",
                QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
                QtWidgets.QMessageBox.StandardButton.No,
            )
            if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                return False
        try:
            self.registry.remove(entry.ref)
        except MedviewerError as exc:
            self.message(f"{entry.ref} not deleted: {exc}", error=True)
            return False
        self.reload()
        text = f"Deleted {entry.ref}."
        for mod in was_active:
            fallback = self.registry.active(mod)
            if fallback is not None:
                text += f" It was the active {mod} model; {mod} now uses {fallback.ref}."
            else:
                text += f" It was the active {mod} model; no model is left for {mod}."
            self.active_changed.emit(mod)
        self.message(text)
        self.models_changed.emit()
        return True

    def show_card(self) -> None:
        entry = self.selected_entry
        if entry is not None:
            self.card_window = show_model_card(entry, self)

    def import_package(self, folder: str | None = None) -> bool:
        """Install a package folder (checked on a worker: manifest, sha256, weights)."""
        if self._import_worker is not None:
            return False
        if folder is None:
            folder = QtWidgets.QFileDialog.getExistingDirectory(
                self, "A model package folder (with manifest.json)"
            )
            if not folder:
                return False
        self.message(f"Checking and importing {folder}…")
        self.import_button.setEnabled(False)

        def done(entry):
            if isinstance(entry, Exception):  # superqt hands back a RuntimeError as a value
                failed(f"{type(entry).__name__}: {entry}")
                return
            self._import_worker = None
            self.import_button.setEnabled(True)
            self.reload(select=entry.ref)
            self.message(f"Imported {entry.ref} into {entry.folder}.")
            self.models_changed.emit()

        def failed(message):
            self._import_worker = None
            self.import_button.setEnabled(True)
            self.message(f"Not imported: {message}", error=True)

        self._import_worker = start_job(
            _import_job(self.registry, folder), on_done=done, on_error=failed
        )
        return True
