"""AI > Models…: every installed model version, which one is active per modality, and what
each was measured at; activate any version (roll back), delete a user version, read its card.

Listing reads manifests only (JSON, no torch). Importing checks the package's weights, so it
runs as a job on a worker.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from medviewer.errors import MedviewerError
from medviewer.jobs import Progress
from medviewer.qt.workers import start_job

log = logging.getLogger(__name__)

COLUMNS = (
    "Model",
    "Version",
    "Source",
    "Active for",
    "Accuracy",
    "Macro F1",
    "Macro AUC",
    "ECE",
    "Trained from",
    "Date",
)
METRIC_KEYS = ("accuracy", "macro_f1", "macro_auc", "ece")
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "macro_f1": "Macro F1",
    "macro_auc": "Macro AUC",
    "ece": "ECE",
}


def raw_manifest(entry) -> dict:
    """The package's manifest.json as written (with fields the Manifest class does not keep,
    such as the lineage of a fine-tuned version); {} when unreadable."""
    try:
        data = json.loads((Path(entry.folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.debug("%s: manifest not read: %s", entry.folder, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def split_metrics(raw: dict) -> tuple[dict, dict]:
    """(new, base) key metrics of a manifest: a fine-tuned version has ``{"base", "new"}``
    metrics; a bundled one flat ones (``test_macro_f1`` ...). Missing values are left out."""
    metrics = raw.get("metrics") if isinstance(raw.get("metrics"), dict) else {}
    if isinstance(metrics.get("new"), dict):
        new, base = metrics["new"], metrics.get("base") or {}
    else:
        new, base = metrics, {}

    def pick(d: dict) -> dict:
        out = {}
        for key in METRIC_KEYS:
            for name in (key, f"test_{key}", f"val_{key}"):
                value = _number(d.get(name)) if isinstance(d, dict) else None
                if value is not None:
                    out[key] = value
                    break
        if isinstance(d, dict) and _number(d.get("n")) is not None:
            out["n"] = int(d["n"])
        return out

    return pick(new), pick(base if isinstance(base, dict) else {})


def lineage_of(raw: dict) -> dict:
    lineage = raw.get("lineage")
    return lineage if isinstance(lineage, dict) else {}


def base_text(lineage: dict) -> str:
    base = lineage.get("base")
    if isinstance(base, dict):
        name, version = base.get("name"), base.get("version")
        return f"{name}:{version}" if name and version else str(name or "")
    if base:
        return str(base)
    name, version = lineage.get("base_name"), lineage.get("base_version")
    return f"{name}:{version}" if name and version else ""


def label_counts(lineage: dict) -> dict[str, dict[str, int]]:
    """{"train": {cls: n}, "val": {cls: n}} from a lineage, whatever its exact shape."""
    for key in ("counts", "split", "label_counts"):
        value = lineage.get(key)
        if isinstance(value, dict):
            inner = value.get("counts") if isinstance(value.get("counts"), dict) else value
            if isinstance(inner.get("train"), dict):
                return {
                    side: {str(k): int(v) for k, v in (inner.get(side) or {}).items()}
                    for side in ("train", "val")
                }
    return {}


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _esc(text) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def details_html(entry, active_for: list[str]) -> str:
    """The details pane: what the version is, where it came from, how it measured."""
    raw = raw_manifest(entry)
    m = entry.manifest
    new, base = split_metrics(raw)
    lineage = lineage_of(raw)
    parts = [
        f"<h3>{_esc(m.name)} {_esc(m.version)}</h3>",
        f"<p>{_esc(m.description)}</p>" if m.description else "",
        "<table cellspacing='2'>",
        f"<tr><td><b>Source</b></td><td>{entry.source}"
        + (" (read-only)" if entry.bundled else "")
        + "</td></tr>",
        f"<tr><td><b>Folder</b></td><td>{_esc(entry.folder)}</td></tr>",
        f"<tr><td><b>Architecture</b></td><td>{_esc(m.architecture)}, input "
        f"{m.input_size[0]}×{m.input_size[1]}×{m.channels}</td></tr>",
        f"<tr><td><b>Classes</b></td><td>{_esc(', '.join(m.classes))}</td></tr>",
        f"<tr><td><b>Modalities</b></td><td>{_esc(', '.join(m.modalities) or 'any')}</td></tr>",
        f"<tr><td><b>Active for</b></td><td>{_esc(', '.join(active_for) or '–')}</td></tr>",
        f"<tr><td><b>Temperature</b></td><td>{m.temperature:.3f}</td></tr>",
    ]
    if lineage:
        parts.append(f"<tr><td><b>Trained from</b></td><td>{_esc(base_text(lineage))}</td></tr>")
        for key, label in (("date", "Date"), ("label_snapshot", "Label snapshot")):
            if lineage.get(key):
                value = str(lineage[key])
                if key == "label_snapshot":
                    value = value[:16]
                parts.append(f"<tr><td><b>{label}</b></td><td>{_esc(value)}</td></tr>")
        annotators = lineage.get("annotators")
        if annotators:
            parts.append(
                f"<tr><td><b>Annotators</b></td><td>{_esc(', '.join(map(str, annotators)))}"
                "</td></tr>"
            )
        options = lineage.get("options")
        if isinstance(options, dict):
            shown = ", ".join(
                f"{k} {options[k]}"
                for k in ("mode", "epochs", "lr", "batch_size", "optimizer", "loss")
                if k in options
            )
            parts.append(f"<tr><td><b>Options</b></td><td>{_esc(shown)}</td></tr>")
    else:
        parts.append(
            f"<tr><td><b>Training data</b></td><td>{_esc(m.training_data or '–')}</td></tr>"
        )
    parts.append("</table>")
    counts = label_counts(lineage)
    if counts:
        classes = list(dict.fromkeys([*counts.get("train", {}), *counts.get("val", {})]))
        parts.append("<p><b>Labels used</b></p><table border='1' cellspacing='0' cellpadding='3'>")
        parts.append("<tr><th>Class</th><th>Training</th><th>Validation</th></tr>")
        for c in classes:
            parts.append(
                f"<tr><td>{_esc(c)}</td><td align='right'>{counts['train'].get(c, 0)}</td>"
                f"<td align='right'>{counts['val'].get(c, 0)}</td></tr>"
            )
        parts.append("</table>")
    if new or base:
        parts.append("<p><b>Metrics</b>")
        if base:
            n = new.get("n") or base.get("n")
            parts.append(
                f" (base and this version on the same {n} validation slices)"
                if n
                else " (base and this version on the same validation slices)"
            )
        else:
            parts.append(" (from the model card)")
        parts.append("</p><table border='1' cellspacing='0' cellpadding='3'><tr><th>Metric</th>")
        if base:
            parts.append("<th>Base</th>")
        parts.append("<th>This version</th></tr>")
        for key in METRIC_KEYS:
            if key not in new and key not in base:
                continue
            parts.append(f"<tr><td>{METRIC_NAMES[key]}</td>")
            if base:
                parts.append(f"<td align='right'>{_fmt(base.get(key))}</td>")
            parts.append(f"<td align='right'>{_fmt(new.get(key))}</td></tr>")
        parts.append("</table>")
    return "".join(parts)


def model_card_text(entry) -> str:
    path = Path(entry.folder) / "MODEL_CARD.md"
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        m = entry.manifest
        return (
            f"# {m.name} {m.version}\n\n{m.description or ''}\n\nThis package has no "
            f"MODEL_CARD.md. Training data: {m.training_data or '?'}; licence: {m.licence or '?'}."
        )


def show_model_card(entry, parent=None) -> QtWidgets.QDialog:
    """A window with the package's MODEL_CARD.md (read-only)."""
    dialog = QtWidgets.QDialog(parent)
    dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.setWindowTitle(f"Model card — {entry.ref} (research use, not for diagnosis)")
    dialog.resize(760, 720)
    layout = QtWidgets.QVBoxLayout(dialog)
    view = QtWidgets.QTextBrowser()
    view.setOpenLinks(False)
    view.setMarkdown(model_card_text(entry))
    layout.addWidget(view)
    dialog.view = view
    dialog.show()
    return dialog


def _import_job(registry, folder):
    yield Progress(0, None, f"checking {folder}")
    return registry.import_package(folder)


class ModelsDialog(QtWidgets.QDialog):
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
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        for c in range(4, 8):
            self.table.horizontalHeaderItem(c).setToolTip(
                "Fine-tuned versions: on their validation slices (hover a value for the base "
                "model's on the same slices); others: as their model card reports"
            )
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
        mods = set(self.registry.active_refs())
        for e in self.entries:
            mods.update(e.manifest.modalities)
        if self.modality:
            mods.add(self.modality)
        out: dict[str, list[str]] = {}
        for mod in sorted(mods):
            try:
                entry = self.registry.active(mod)
            except MedviewerError:
                entry = None
            if entry is not None:
                out.setdefault(entry.ref, []).append(mod)
        return out

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
        self.table.setRowCount(len(self.entries))
        for r, e in enumerate(self.entries):
            raw = raw_manifest(e)
            new, base = split_metrics(raw)
            lineage = lineage_of(raw)
            mods = self.active.get(e.ref, [])
            active_text = ", ".join(
                m + ("" if chosen.get(m) == e.ref else " (default)") for m in mods
            )
            values = [
                e.name,
                e.version,
                "bundled" if e.bundled else "user",
                active_text,
            ]
            for key in METRIC_KEYS:
                values.append(_fmt(new.get(key)) if key in new else "–")
            date = str(lineage.get("date") or "")[:16].replace("T", " ")
            values += [base_text(lineage) or "–", date or "–"]
            for c, value in enumerate(values):
                item = QtWidgets.QTableWidgetItem(value)
                item.setData(QtCore.Qt.ItemDataRole.UserRole, e.ref)
                if c >= 4 and c < 8:
                    item.setTextAlignment(
                        QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
                    )
                    key = METRIC_KEYS[c - 4]
                    if key in base:
                        item.setToolTip(
                            f"{METRIC_NAMES[key]}: base {_fmt(base.get(key))} → this version "
                            f"{_fmt(new.get(key))} on the same validation slices"
                        )
                if mods:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)
        modalities = sorted(
            {m for e in self.entries for m in e.manifest.modalities}
            | set(chosen)
            | ({self.modality} if self.modality else set())
        ) or ["CT"]
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

    # -- actions ----------------------------------------------------------------------------------
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


__all__ = [
    "ModelsDialog",
    "details_html",
    "label_counts",
    "model_card_text",
    "raw_manifest",
    "show_model_card",
    "split_metrics",
]
