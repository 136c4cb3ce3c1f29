"""What the Data and Options pages show, computed without Qt: the store's summary, the base
model's description, what a checked plan means (counts, patients, warnings, missing images)
and which unknown classes to offer a mapping for.

Plans, entries and overviews are read by attribute (``DataPlan``, ``ModelEntry``,
:class:`~medviewer.qt.dialogs.finetune.jobs.StoreOverview`).
"""

from __future__ import annotations

from dataclasses import dataclass

from medviewer.qt.dialogs.finetune.choices import DEFAULT_BASE, LEAVE_OUT
from medviewer.qt.dialogs.finetune.formatting import html_text
from medviewer.qt.dialogs.finetune.style import MUTED

NEW_CLASS_SUFFIX = "  (new class)"
"""After a class name in the counts table: the class is a new output."""


# -- the store and the base model -----------------------------------------------------------------
def overview_text(overview) -> str:
    """The line above the filters: whose labels, how many of each class."""
    if overview.problem:
        return f"Labels from <b>{overview.path}</b>: {overview.problem}"
    from medviewer.ai.dataset_plan import IGNORED_LABELS

    counts = overview.final_counts
    training = {k: n for k, n in counts.items() if k not in IGNORED_LABELS}
    aside = {k: n for k, n in counts.items() if k in IGNORED_LABELS and n}
    per = ", ".join(f"{k} {n}" for k, n in training.items()) or "none"
    kept_out = ", ".join(f"{k} {n}" for k, n in aside.items())
    return (
        f"Labels from <b>{overview.path}</b>: {sum(training.values())} final labels of "
        f"classes ({per}) by {len(overview.annotators)} annotator(s)"
        + (f"; never trained on: {kept_out}" if kept_out else "")
    )


@dataclass(frozen=True)
class ClassChoice:
    """One row of the "Classes" list: a label class of the store that can train."""

    name: str
    text: str
    short: bool
    """Fewer final labels than a class needs."""
    tip: str = ""


def class_choices(final_counts: dict, ignored, min_per_class: int) -> list[ClassChoice]:
    """The store's label classes minus ``ignored`` ("uncertain", "exclude"), flagging those
    with fewer than ``min_per_class`` final labels."""
    out = []
    for name, n in final_counts.items():
        if name in ignored:
            continue
        short = n < min_per_class
        tip = f"{n} final labels: at least {min_per_class} are needed to train a class"
        out.append(ClassChoice(name, f"{name} — {n} final", short, tip if short else ""))
    return out


def model_label(entry) -> str:
    return f"{entry.name} {entry.version}" + (" (bundled)" if entry.bundled else "")


def model_tip(entry) -> str:
    m = entry.manifest
    return f"{entry.ref}: {m.architecture}, classes " + ", ".join(m.classes)


def preferred_base(entries, active_ref: str | None) -> str | None:
    """The base model to preselect: the modality's active model, else the newest
    :data:`DEFAULT_BASE`, else the first listed."""
    if active_ref is not None:
        return active_ref
    named = [e for e in entries if e.name == DEFAULT_BASE]
    if named:
        return named[-1].ref
    return entries[0].ref if entries else None


def base_info_text(entry) -> str:
    m = entry.manifest
    mods = ", ".join(m.modalities) or "any modality"
    return (
        f"{m.architecture}, input {m.input_size[0]}×{m.input_size[1]}, classes: "
        + ", ".join(m.classes)
        + f" ({mods}; {entry.source})"
    )


# -- checking the data ----------------------------------------------------------------------------
def effective_class_map(class_map: dict, left_out) -> dict | None:
    """The chosen mapping with the unticked classes mapped to None (left out); None if empty."""
    out = dict(class_map)
    for name in left_out:
        out[name] = None
    return out or None


def data_error_html(message: str, data_error: bool = True) -> str:
    """Why there is no plan, with the one setting that would help when there is one."""
    what = "Not enough usable data to train" if data_error else "The data check failed"
    hint = ""
    if data_error and "leave the class out" in message:
        hint = "<br>To leave a class out, untick it under “Classes” and check again."
    elif data_error and "one patient" in message:
        hint = "<br>To try the workflow anyway, tick “Allow a single patient” and check again."
    return f"<b>{what}.</b><br>{html_text(message)}{hint}"


@dataclass(frozen=True)
class CountRow:
    """One class of the counts table."""

    text: str
    train: int
    val: int
    tip: str = ""

    @property
    def empty(self) -> bool:
        return self.train + self.val == 0


def count_rows(plan) -> list[CountRow]:
    """Slices per class and split; a new output is marked, a mapped class names its sources."""
    counts = plan.counts or {}
    train, val = counts.get("train", {}), counts.get("val", {})
    added = set(plan.added_classes or ())
    rows = []
    for name in plan.classes:
        shown = f"{name}{NEW_CLASS_SUFFIX}" if name in added else name
        mapped = [k for k, v in (plan.class_map or {}).items() if v == name and k != name]
        tip = f"labels {', '.join(mapped)} count as {name}" if mapped else ""
        rows.append(CountRow(shown, int(train.get(name, 0)), int(val.get(name, 0)), tip))
    return rows


def plan_summary_html(plan) -> str:
    """Base and outputs, patients per split, what was left out, the label snapshot."""
    classes = list(plan.classes)
    patients = plan.patients or {}
    ignored = ", ".join(f"{k} {n}" for k, n in sorted((plan.ignored or {}).items()))
    lines = [
        f"Base <b>{plan.base_ref}</b> → the new model's outputs: {', '.join(classes)}"
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
    return "<br>".join(lines)


def warning_lines(warnings) -> str:
    """Warnings one per line, each marked ⚠ ("" when there are none)."""
    return "\n".join(f"⚠ {w}" for w in warnings)


def missing_lines(plan) -> list[str]:
    return [f"{key} — {reason}" for key, reason in (plan.missing or ())]


def missing_text(n: int) -> str:
    return (
        f"{n} label(s) left out because their image was not found (training "
        "goes on without them; add a folder under “Where the images are” if the study moved):"
    )


def checked_status(plan) -> str:
    return (
        f"Data checked: {len(plan.train)} training and {len(plan.val)} validation slices. "
        "Next: choose the options, then Train."
    )


# -- unknown classes ------------------------------------------------------------------------------
def classes_to_offer(plan, add_classes: bool, class_map: dict) -> list[str] | None:
    """The unknown classes the mapping box shows after a check: those still unmapped, else
    the ones already decided on (so the choice can change); None: hide the box."""
    if plan.unmapped:
        return list(plan.unmapped)
    if add_classes or class_map:
        return list(plan.added_classes) if add_classes else list(class_map)
    return None


def mapping_html(names, base_ref, add_classes: bool, class_map: dict) -> str:
    """The mapping box's text: which classes the base model lacks and what is chosen now."""
    names = list(names)
    if add_classes:
        choice = "Now: added as new output(s)."
    elif class_map:
        choice = "Now: " + ", ".join(f"{k} → {v or 'left out'}" for k, v in class_map.items())
    else:
        choice = "Without a choice they are left out."
    return (
        f"Your labels use {len(names)} class(es) that {base_ref} has no output for: "
        f"<b>{', '.join(names)}</b>. {choice}"
    )


def mapping_targets(names, class_map: dict) -> dict[str, str]:
    """The combo choice to show per class: its mapped base class, else :data:`LEAVE_OUT`."""
    return {name: LEAVE_OUT if class_map.get(name) is None else class_map[name] for name in names}


# -- options --------------------------------------------------------------------------------------
def options_summary(plan) -> str:
    """The line under the options: what trains, and that the result is not active."""
    if plan is None:
        return ""
    return (
        f"{len(plan.train)} training slices, {len(plan.val)} validation slices; the new model is "
        f"saved as a new version beside {plan.base_ref} and is not active until you choose so."
    )
