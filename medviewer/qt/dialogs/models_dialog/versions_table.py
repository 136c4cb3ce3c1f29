"""The table of installed versions: its columns, which modalities each version is active for,
one row per version (source, active for, key metrics with the base's in the tooltip, lineage,
date) and the modalities offered for activation."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.errors import MedviewerError
from medviewer.qt.dialogs.models_dialog.manifest_fields import (
    METRIC_KEYS,
    METRIC_NAMES,
    base_text,
    fmt_metric,
    lineage_of,
    raw_manifest,
    split_metrics,
)

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
FIRST_METRIC_COLUMN = 4


def build_table() -> QtWidgets.QTableWidget:
    """The empty, read-only, single-row-selection table with its headers."""
    table = QtWidgets.QTableWidget(0, len(COLUMNS))
    table.setHorizontalHeaderLabels(COLUMNS)
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    for c in range(FIRST_METRIC_COLUMN, FIRST_METRIC_COLUMN + len(METRIC_KEYS)):
        table.horizontalHeaderItem(c).setToolTip(
            "Fine-tuned versions: on their validation slices (hover a value for the base "
            "model's on the same slices); others: as their model card reports"
        )
    return table


def active_by_ref(registry, entries, modality: str | None) -> dict[str, list[str]]:
    """ref -> modalities it is active for (chosen, or the default pick)."""
    mods = set(registry.active_refs())
    for e in entries:
        mods.update(e.manifest.modalities)
    if modality:
        mods.add(modality)
    out: dict[str, list[str]] = {}
    for mod in sorted(mods):
        try:
            entry = registry.active(mod)
        except MedviewerError:
            entry = None
        if entry is not None:
            out.setdefault(entry.ref, []).append(mod)
    return out


def fill_table(table: QtWidgets.QTableWidget, entries, active: dict, chosen: dict) -> None:
    """One row per entry; the rows of active versions in bold. ``active``: ref -> modalities
    (:func:`active_by_ref`); ``chosen``: modality -> ref the user picked."""
    table.setRowCount(len(entries))
    for r, e in enumerate(entries):
        raw = raw_manifest(e)
        new, base = split_metrics(raw)
        lineage = lineage_of(raw)
        mods = active.get(e.ref, [])
        active_text = ", ".join(m + ("" if chosen.get(m) == e.ref else " (default)") for m in mods)
        values = [
            e.name,
            e.version,
            "bundled" if e.bundled else "user",
            active_text,
        ]
        for key in METRIC_KEYS:
            values.append(fmt_metric(new.get(key)) if key in new else "–")
        date = str(lineage.get("date") or "")[:16].replace("T", " ")
        values += [base_text(lineage) or "–", date or "–"]
        for c, value in enumerate(values):
            item = QtWidgets.QTableWidgetItem(value)
            item.setData(QtCore.Qt.ItemDataRole.UserRole, e.ref)
            if c >= FIRST_METRIC_COLUMN and c < FIRST_METRIC_COLUMN + len(METRIC_KEYS):
                item.setTextAlignment(
                    QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
                )
                key = METRIC_KEYS[c - FIRST_METRIC_COLUMN]
                if key in base:
                    item.setToolTip(
                        f"{METRIC_NAMES[key]}: base {fmt_metric(base.get(key))} → this version "
                        f"{fmt_metric(new.get(key))} on the same validation slices"
                    )
            if mods:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            table.setItem(r, c, item)


def modality_choices(entries, chosen: dict, modality: str | None) -> list[str]:
    """The modalities offered for activation: the versions', the chosen ones, the open one."""
    return sorted(
        {m for e in entries for m in e.manifest.modalities}
        | set(chosen)
        | ({modality} if modality else set())
    ) or ["CT"]
