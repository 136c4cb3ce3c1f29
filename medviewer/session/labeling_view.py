"""What the Labels dock shows, as text: an annotation described in rich text, the model's
suggestion beside it, the rows of the list of labeled slices, the class keys' button texts and
tooltips, the annotator line. Qt-free; the dock (``medviewer.qt.panels``) only sets these.

``session`` below is a :class:`medviewer.session.labeling.LabelingSession` (any object with
its ``label_at`` / ``suggestion`` / ``color_of`` / ``in_label_set`` / ``disagrees`` /
``has_predictions``)."""

from __future__ import annotations

import html

from medviewer.session.ai_results import fmt_p

TABLE_COLUMNS = ("Slice", "Label", "Annotator", "Source", "Status", "Review")
GREY = "#9e9e9e"


def swatch(color: str | None, text: str) -> str:
    """``text`` after a square of ``color`` (just ``text`` without a colour)."""
    if not color:
        return text
    return f"<span style='color:{color}'>■</span> {text}"


def describe(ann) -> str:
    """Rich text of an annotation: label, who, from what, status and review."""
    if ann is None:
        return f"<span style='color:{GREY}'>not labeled</span>"
    source = "human" if ann.source == "human" else f"model {ann.model}" if ann.model else "model"
    lines = [f"<b>{ann.label}</b>", f"by {ann.annotator} · {source}", f"status {ann.status}"]
    if ann.review:
        lines.append(
            f"{ann.review} by {ann.reviewer}" + (f": {ann.comment}" if ann.comment else "")
        )
    if ann.region is not None:
        lines.append("evidence rectangle")
    return "<br>".join(lines)


def slice_title(index: int, n_slices: int) -> str:
    return f"Slice {index + 1} of {n_slices}"


def label_html(session, index: int) -> str:
    """The "Label" side of the current slice: the stored label, or "not labeled"."""
    ann = session.label_at(index)
    text = swatch(session.color_of(ann.label) if ann else None, describe(ann))
    if ann is not None and not session.in_label_set(ann.label):
        text += "<br><i>(not in this label set)</i>"
    return text


def suggestion_html(session, index: int) -> str:
    """The "Model suggests" side: class, probability, whether it disagrees with the label,
    uncertainty and model; or what to do to get suggestions."""
    sg = session.suggestion(index)
    if sg is None:
        text = (
            "run the classifier (AI dock) for suggestions" if not session.has_predictions else "—"
        )
        return f"<span style='color:{GREY}'>{text}</span>"
    extra = "" if session.in_label_set(sg.label) else "<br><i>(not a class of the label set)</i>"
    flag = " <b style='color:#ff8a65'>≠ label</b>" if session.disagrees(index) else ""
    caveats = getattr(session, "caveats", ())
    warn = ""
    if caveats:
        first = html.escape(caveats[0] if len(caveats[0]) <= 110 else caveats[0][:107] + "...")
        more = f" (+{len(caveats) - 1} more in the AI dock)" if len(caveats) > 1 else ""
        warn = f"<br><span style='color:#ffb74d'>⚠ {first}{more}</span>"
    return (
        swatch(
            session.color_of(sg.label),
            f"<b>{sg.label}</b> {html.escape(fmt_p(sg.probability))}{flag}",
        )
        + f"<br>uncertainty {sg.entropy:.2f}<br>{sg.model}{extra}{warn}"
    )


def table_row(index: int, ann) -> tuple[str, ...]:
    """One row of the list (:data:`TABLE_COLUMNS`) for slice ``index`` labeled ``ann``."""
    source = "human" if ann.source == "human" else str(ann.model or "model")
    review = ann.review + (f": {ann.comment}" if ann.comment else "")
    return (str(index + 1), ann.label, ann.annotator, source, ann.status, review)


def class_tooltip(cls, shortcut_tip: str, clash: str | None) -> str:
    """The tooltip of a class's action: the shortcut table's description (or "Label the slice
    <name>"), the key unless it is taken (``clash``), the class's description."""
    return (
        (shortcut_tip or f"Label the slice {cls.name}")
        + (f" ({cls.key})" if cls.key and not clash else "")
        + (f" — {cls.description}" if cls.description else "")
    )


def class_button_text(cls, clash: str | None) -> str:
    """The class button's text: "<key>  <name>", or the name when it has no usable key;
    underscores read as spaces ("hypodense lesion")."""
    name = cls.name.replace("_", " ")
    return f"{cls.key}  {name}" if cls.key and not clash else name


def annotator_text(name: str) -> str:
    return f"Annotator: <b>{name}</b>" if name else "Annotator: <i>not set</i>"


__all__ = [
    "TABLE_COLUMNS",
    "annotator_text",
    "class_button_text",
    "class_tooltip",
    "describe",
    "label_html",
    "slice_title",
    "suggestion_html",
    "swatch",
    "table_row",
]
