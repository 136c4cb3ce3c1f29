"""What the Result page shows, computed without Qt: base and new model side by side on the
same validation slices (metric rows with their change, per-class scores, calibration points,
notes) and the messages of activating, keeping and exporting.

``result`` is a ``FinetuneResult``; its metrics are the dicts of
:mod:`medviewer.ai.evaluation` (read with ``.get``: a key may be missing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medviewer.qt.dialogs.finetune.formatting import (
    METRIC_ROWS,
    fmt_metric,
    metric_change,
    slice_list,
)
from medviewer.qt.dialogs.finetune.style import AMBER, GOOD


def reliability_points(metrics: dict) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, accuracy) of the bins that hold cases."""
    rel = (metrics or {}).get("reliability") or {}
    conf = np.asarray(rel.get("confidence") or [], dtype=np.float64)
    acc = np.asarray(rel.get("accuracy") or [], dtype=np.float64)
    count = np.asarray(rel.get("count") or [1] * len(conf), dtype=np.float64)
    n = min(len(conf), len(acc), len(count))
    conf, acc, count = conf[:n], acc[:n], count[:n]
    keep = (count > 0) & np.isfinite(conf) & np.isfinite(acc)
    return conf[keep], acc[keep]


def result_title(result) -> str:
    """Which version was trained from which, on how much, scored on what."""
    new = result.new_metrics or {}
    plan = result.plan
    patients = plan.patients or {}
    return (
        f"<b>{result.entry.ref}</b> trained from <b>{result.base_ref}</b> on {len(plan.train)} "
        f"slices ({patients.get('train', 0)} patient(s)); both scored on the same "
        f"{new.get('n', len(plan.val))} validation slices ({patients.get('val', 0)} "
        "patient(s))."
    )


def title_with_state(title: str, active_for: str | None = None) -> str:
    """``title`` followed by "Not active yet." or "Active for <modality>."."""
    if active_for is None:
        return f"{title} <span style='color:{AMBER}'>Not active yet.</span>"
    return f"{title} <span style='color:{GOOD}'>Active for {active_for}.</span>"


@dataclass(frozen=True)
class MetricRow:
    """One row of the metrics table: base and new on the same slices, and the change."""

    label: str
    base: str
    new: str
    change: str = ""
    colour: str | None = None
    tip: str = ""


def metric_rows(base: dict, new: dict) -> list[MetricRow]:
    """The number of validation slices, then each of :data:`METRIC_ROWS`."""
    rows = [MetricRow("Validation slices (n)", str(base.get("n", "–")), str(new.get("n", "–")))]
    for key, label, higher in METRIC_ROWS:
        text, colour = metric_change(key, base.get(key), new.get(key))
        rows.append(
            MetricRow(
                label,
                fmt_metric(base.get(key)),
                fmt_metric(new.get(key)),
                text,
                colour,
                "higher is better" if higher else "lower is better",
            )
        )
    return rows


CLASS_SCORES = ("precision", "recall", "f1")


@dataclass(frozen=True)
class ClassRow:
    """One class of the per-class table: support, base and new precision / recall / F1."""

    name: str
    support: str
    base: tuple[str, ...]
    new: tuple[str, ...]
    new_colours: tuple[str | None, ...]
    """Per new score: green better, red worse than the base, None unchanged."""
    measured: bool
    """Some validation slice has this class (else nothing was measured)."""


def class_rows(classes, base: dict, new: dict) -> list[ClassRow]:
    bpc, npc = base.get("per_class") or {}, new.get("per_class") or {}
    rows = []
    for name in classes:
        b, n = bpc.get(name) or {}, npc.get(name) or {}
        support = n.get("support", b.get("support"))
        rows.append(
            ClassRow(
                name,
                "–" if support is None else str(support),
                tuple(fmt_metric(b.get(key), 2) for key in CLASS_SCORES),
                tuple(fmt_metric(n.get(key), 2) for key in CLASS_SCORES),
                tuple(metric_change(key, b.get(key), n.get(key))[1] for key in CLASS_SCORES),
                bool(support),
            )
        )
    return rows


def calibration_title(base: dict, new: dict) -> str:
    return f"Calibration — ECE base {fmt_metric(base.get('ece'))}, new {fmt_metric(new.get('ece'))}"


def confusion_title(which: str, ref: str) -> str:
    """``which``: "Base" or "New"."""
    return f"<b>{which} {ref}</b> — rows: label, columns: predicted"


def result_notes(result) -> list[str]:
    """The evaluation's notes, the run's warnings and the plan's "optimistic" warning, once
    each."""
    base, new = result.base_metrics or {}, result.new_metrics or {}
    notes = [str(x) for x in (base.get("note"), new.get("note")) if x]
    notes += [str(w) for w in (result.warnings or ())]
    notes += [str(w) for w in (result.plan.warnings or ()) if "optimistic" in str(w).lower()]
    return list(dict.fromkeys(notes))


# -- messages -------------------------------------------------------------------------------------
def active_model_text(modality: str, ref: str | None) -> str:
    return f"the active {modality} model {ref}" if ref else "the active model"


def saved_outcome(ref: str) -> str:
    return f"Saved as <b>{ref}</b> (not active yet). Next: compare it with the base model."


def saved_status(ref: str, cancelled: bool) -> str:
    """The status line after a run saved ``ref``; ``cancelled``: a Cancel came too late."""
    if cancelled:  # the cancel came after the last batch: the version was already saved
        return (
            f"Cancel came too late: training had finished and {ref} was saved "
            "(not active). Delete it in AI > Models… if you do not want it."
        )
    return f"{ref} saved; it is not active until you activate it."


def activated_text(ref: str, modality: str) -> str:
    return f"{ref} is now the active {modality} model (roll back in AI > Models…)."


def comparison_text(ref: str, had_previous: bool, changed, n: int, before: str | None) -> str:
    """After activating ``ref`` and running it on the open series (``n`` slices): on which
    slices its top class differs from the run before (``before``: that model)."""
    if not had_previous:
        return (
            f"{ref} is active and has classified the {n} slices of the open series "
            "(there was no earlier run to compare with)."
        )
    return (
        f"{ref} is active. On the open series its top class differs from "
        f"{before or 'the previous run'} on {len(changed)} of {n} slices"
        + (f" ({slice_list(changed)}); they are marked on the AI panel's plot." if changed else ".")
    )


def kept_text(active: str, ref: str) -> str:
    return f"Kept {active}. {ref} stays installed: activate it any time in AI > Models…"


def exported_text(dest) -> str:
    return (
        f"Exported to {dest}: copy this folder to another computer and import it with "
        "`medviewer models import` (or AI > Models… > Import)."
    )


__all__ = [
    "ClassRow",
    "MetricRow",
    "class_rows",
    "comparison_text",
    "metric_rows",
    "reliability_points",
    "result_notes",
    "result_title",
]
