"""The Models dialog itself: its widgets (versions table, details pane, modality and buttons,
message line), listing the registry again, the selection and what it enables."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.errors import MedviewerError
from medviewer.qt.dialogs.models_dialog.model_actions import ModelActionsMixin
from medviewer.qt.dialogs.models_dialog.model_card import details_html
from medviewer.qt.dialogs.models_dialog.versions_table import (
    active_by_ref,
    build_table,
    fill_table,
    modality_choices,
)


class ModelsDialog(ModelActionsMixin, QtWidgets.QDialog):
    """The installed models, with Activate (any version: roll back), Delete (user versions)
    and the model card. ``active_changed(modality)`` after the active model of a modality
    changed (activated, or deleted and fallen back)."""

    active_changed = QtCore.Signal(str)
    models_changed = QtCore.Signal()

    def __init__(self, registry=None, *, modality: str | None = None, parent=None) -> None:
        super().__init__(parent)
        if registry is None:
            from medviewer.ai.registry import ModelRegistry

            registry = ModelRegistry()
        self.registry = registry
        self.modality = (modality or "").upper() or None
        self.entries: list = []
        self.card_window = None
        self._import_worker = None
        self.setWindowTitle("Installed models")
        self.setModal(False)
        self.resize(1100, 640)
        self._build()
        self.reload()

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        intro = QtWidgets.QLabel(
            "Every installed model version. The active one per modality is used by the AI "
            "panel; activate an older version to roll back. Bundled models are read-only."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.table = build_table()
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.cellDoubleClicked.connect(lambda *_: self.show_card())
        split.addWidget(self.table)
        self.details = QtWidgets.QTextBrowser()
        self.details.setOpenLinks(False)
        split.addWidget(self.details)
        split.setSizes([260, 320])
        layout.addWidget(split, 1)

        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Modality"))
        self.modality_box = QtWidgets.QComboBox()
        self.modality_box.setEditable(True)
        self.modality_box.setMinimumWidth(90)
        self.modality_box.setToolTip("Which modality the activated model is for")
        row.addWidget(self.modality_box)
        self.activate_button = QtWidgets.QPushButton("Activate")
        self.activate_button.setToolTip("Use this version for the modality (also to roll back)")
        self.activate_button.clicked.connect(lambda: self.activate_selected())
        self.delete_button = QtWidgets.QPushButton("Delete…")
        self.delete_button.clicked.connect(lambda: self.delete_selected())
        self.card_button = QtWidgets.QPushButton("Model card…")
        self.card_button.clicked.connect(self.show_card)
        self.import_button = QtWidgets.QPushButton("Import…")
        self.import_button.setToolTip("Install a model package folder (manifest.json + weights)")
        self.import_button.clicked.connect(lambda: self.import_package())
        for b in (self.activate_button, self.delete_button, self.card_button, self.import_button):
            row.addWidget(b)
        row.addStretch(1)
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.close)
        row.addWidget(close)
        layout.addLayout(row)
        self.message_label = QtWidgets.QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(
            QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
        )
        layout.addWidget(self.message_label)

    # -- listing ----------------------------------------------------------------------------------
    def _active_by_ref(self) -> dict[str, list[str]]:
        """ref -> modalities it is active for (chosen, or the default pick)."""
        return active_by_ref(self.registry, self.entries, self.modality)

    def reload(self, select: str | None = None) -> None:
        """List the registry's models again (keeps or sets the selection)."""
        if select is None:
            entry = self.selected_entry
            select = entry.ref if entry is not None else None
        if select is None and self.modality:  # at first: the model in use
            try:
                active = self.registry.active(self.modality)
            except MedviewerError:
                active = None
            select = active.ref if active is not None else None
        try:
            self.entries = list(self.registry.entries())
        except Exception as exc:
            self.entries = []
            self.message(f"Models could not be listed: {exc}", error=True)
        problems = self.registry.problems()
        self.active = self._active_by_ref()
        chosen = self.registry.active_refs()
        fill_table(self.table, self.entries, self.active, chosen)
        modalities = modality_choices(self.entries, chosen, self.modality)
        current = self.modality_box.currentText() or self.modality or modalities[0]
        self.modality_box.blockSignals(True)
        self.modality_box.clear()
        self.modality_box.addItems(modalities)
        self.modality_box.setCurrentText(current)
        self.modality_box.blockSignals(False)
        row = next((r for r, e in enumerate(self.entries) if e.ref == select), 0)
        if self.entries:
            self.table.selectRow(row)
        self._selection_changed()
        if problems:
            self.message("Skipped packages: " + "; ".join(problems), error=True)

    def refs(self) -> list[str]:
        return [e.ref for e in self.entries]

    def active_for(self, ref: str) -> list[str]:
        return list(self.active.get(ref, []))

    @property
    def selected_entry(self):
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        r = rows[0].row()
        return self.entries[r] if 0 <= r < len(self.entries) else None

    def select(self, ref: str) -> bool:
        for r, e in enumerate(self.entries):
            if e.ref == ref:
                self.table.selectRow(r)
                return True
        return False

    def _selection_changed(self) -> None:
        entry = self.selected_entry
        has = entry is not None
        self.activate_button.setEnabled(has)
        self.card_button.setEnabled(has)
        self.delete_button.setEnabled(has and not entry.bundled)
        self.delete_button.setToolTip(
            "Bundled models are read-only and cannot be deleted"
            if has and entry.bundled
            else "Delete this version from the user models folder"
        )
        self.details.setHtml(details_html(entry, self.active.get(entry.ref, [])) if has else "")
