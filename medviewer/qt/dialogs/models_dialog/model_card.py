"""The model-card view of an installed version: the details pane (what it is, where it came
from, how it measured) as rich text, its MODEL_CARD.md, and the window that shows the card."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from medviewer.qt.dialogs.models_dialog.manifest_fields import (
    METRIC_KEYS,
    METRIC_NAMES,
    base_text,
    esc,
    fmt_metric,
    label_counts,
    lineage_of,
    raw_manifest,
    split_metrics,
)


def details_html(entry, active_for: list[str]) -> str:
    """The details pane: what the version is, where it came from, how it measured."""
    raw = raw_manifest(entry)
    m = entry.manifest
    new, base = split_metrics(raw)
    lineage = lineage_of(raw)
    parts = [
        f"<h3>{esc(m.name)} {esc(m.version)}</h3>",
        f"<p>{esc(m.description)}</p>" if m.description else "",
        "<table cellspacing='2'>",
        f"<tr><td><b>Source</b></td><td>{entry.source}"
        + (" (read-only)" if entry.bundled else "")
        + "</td></tr>",
        f"<tr><td><b>Folder</b></td><td>{esc(entry.folder)}</td></tr>",
        f"<tr><td><b>Architecture</b></td><td>{esc(m.architecture)}, input "
        f"{m.input_size[0]}×{m.input_size[1]}×{m.channels}</td></tr>",
        f"<tr><td><b>Classes</b></td><td>{esc(', '.join(m.classes))}</td></tr>",
        f"<tr><td><b>Modalities</b></td><td>{esc(', '.join(m.modalities) or 'any')}</td></tr>",
        f"<tr><td><b>Active for</b></td><td>{esc(', '.join(active_for) or '–')}</td></tr>",
        f"<tr><td><b>Temperature</b></td><td>{m.temperature:.3f}</td></tr>",
    ]
    if lineage:
        parts.append(f"<tr><td><b>Trained from</b></td><td>{esc(base_text(lineage))}</td></tr>")
        for key, label in (("date", "Date"), ("label_snapshot", "Label snapshot")):
            if lineage.get(key):
                value = str(lineage[key])
                if key == "label_snapshot":
                    value = value[:16]
                parts.append(f"<tr><td><b>{label}</b></td><td>{esc(value)}</td></tr>")
        annotators = lineage.get("annotators")
        if annotators:
            parts.append(
                f"<tr><td><b>Annotators</b></td><td>{esc(', '.join(map(str, annotators)))}"
                "</td></tr>"
            )
        options = lineage.get("options")
        if isinstance(options, dict):
            shown = ", ".join(
                f"{k} {options[k]}"
                for k in ("mode", "epochs", "lr", "batch_size", "optimizer", "loss")
                if k in options
            )
            parts.append(f"<tr><td><b>Options</b></td><td>{esc(shown)}</td></tr>")
    else:
        parts.append(
            f"<tr><td><b>Training data</b></td><td>{esc(m.training_data or '–')}</td></tr>"
        )
    parts.append("</table>")
    counts = label_counts(lineage)
    if counts:
        classes = list(dict.fromkeys([*counts.get("train", {}), *counts.get("val", {})]))
        parts.append("<p><b>Labels used</b></p><table border='1' cellspacing='0' cellpadding='3'>")
        parts.append("<tr><th>Class</th><th>Training</th><th>Validation</th></tr>")
        for c in classes:
            parts.append(
                f"<tr><td>{esc(c)}</td><td align='right'>{counts['train'].get(c, 0)}</td>"
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
                parts.append(f"<td align='right'>{fmt_metric(base.get(key))}</td>")
            parts.append(f"<td align='right'>{fmt_metric(new.get(key))}</td></tr>")
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
