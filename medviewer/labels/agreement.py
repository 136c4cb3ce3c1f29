"""Inter-annotator agreement (Cohen's kappa) and adjudication into a consensus label.

Kappa corrects the observed agreement for the agreement two annotators would reach by chance
with their own class frequencies: ``(p_o - p_e) / (1 - p_e)``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from medviewer.errors import LabelStoreError
from medviewer.labels.schema import Annotation, SliceKey
from medviewer.labels.store import LabelStore

CONSENSUS = "consensus"


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two annotators' labels of the same items (paired by position).

    NaN when undefined (no items, or chance agreement is certain while they still disagree);
    1.0 when both used one identical class throughout.
    """
    if len(a) != len(b):
        raise ValueError(f"kappa needs paired labels: got {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        return math.nan
    observed = sum(x == y for x, y in zip(a, b)) / n
    count_a, count_b = Counter(a), Counter(b)
    expected = sum(count_a[c] * count_b[c] for c in count_a) / (n * n)
    if math.isclose(expected, 1.0):
        return 1.0 if math.isclose(observed, 1.0) else math.nan
    return (observed - expected) / (1.0 - expected)


@dataclass(frozen=True)
class Agreement:
    """Two annotators on the keys both labeled."""

    annotator_a: str
    annotator_b: str
    n_common: int
    kappa: float
    observed: float
    disagreements: list[tuple[SliceKey, str, str]] = field(default_factory=list)


def _labels_of(store: LabelStore, annotator: str, series_uid: str | None) -> dict:
    return {a.key: a.label for a in store.query(annotator=annotator, series_uid=series_uid)}


def agreement(
    store: LabelStore, annotator_a: str, annotator_b: str, *, series_uid: str | None = None
) -> Agreement:
    """Kappa, observed agreement and the disagreements (sorted by key) of two annotators over
    the keys both labeled (in one series when ``series_uid`` is given)."""
    if annotator_a == annotator_b:
        raise LabelStoreError(f"agreement needs two different annotators, got {annotator_a!r}")
    la = _labels_of(store, annotator_a, series_uid)
    lb = _labels_of(store, annotator_b, series_uid)
    common = sorted(
        set(la) & set(lb), key=lambda k: (k.study_uid, k.series_uid, k.sop_uid, k.frame or 0)
    )
    a = [la[k] for k in common]
    b = [lb[k] for k in common]
    n = len(common)
    return Agreement(
        annotator_a=annotator_a,
        annotator_b=annotator_b,
        n_common=n,
        kappa=cohen_kappa(a, b),
        observed=(sum(x == y for x, y in zip(a, b)) / n) if n else math.nan,
        disagreements=[(k, x, y) for k, x, y in zip(common, a, b) if x != y],
    )


def adjudicate(store: LabelStore, key: SliceKey, label: str, *, adjudicator: str) -> Annotation:
    """Write the consensus ``label`` of ``key`` as annotator ``"consensus"``; the comment
    names the adjudicator and what each annotator said. The original labels are kept."""
    adjudicator = " ".join(str(adjudicator or "").split())
    if not adjudicator:
        raise LabelStoreError("set your annotator name before adjudicating")
    with store.transaction("save the consensus label"):
        originals = [a for a in store.labels_of(key) if a.annotator != CONSENSUS]
        said = ", ".join(f"{a.annotator}: {a.label}" for a in originals)
        template = originals[0] if originals else None
        return store.set_label(
            key,
            label,
            annotator=CONSENSUS,
            scope=template.scope if template else ("slice" if key.sop_uid else "series"),
            label_set=template.label_set if template else "headct-lesions",
            path_hint=template.path_hint if template else "",
            comment=f"adjudicated by {adjudicator}" + (f" ({said})" if said else ""),
        )


__all__ = ["CONSENSUS", "Agreement", "adjudicate", "agreement", "cohen_kappa"]
