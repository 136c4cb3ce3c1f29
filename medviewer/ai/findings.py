"""Which classes are findings and which slices a series result flags: the normal class of a
model, how suspicious a set of probabilities is, and the flagged slices of a series.

Shared by the triage worklist (one row per series) and the DICOM results
(:mod:`medviewer.reports`: the Structured Report and Key Object Selection list exactly these
slices). Plain numbers, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the triage records load this module; the classifier loads only when used
    from medviewer.ai.classifier import SeriesPrediction

MAX_FLAGGED = 50
"""At most this many flagged slices are kept per series (the most suspicious)."""


def normal_class(classes: Sequence[str], aggregation: str) -> str | None:
    """The model's normal class: the first class for ``abnormal_max`` models, else a class
    named "normal" (any case), else None (every class counts as a finding)."""
    if aggregation == "abnormal_max" and classes:
        return classes[0]
    return next((c for c in classes if c.strip().lower() == "normal"), None)


def suspicion(probabilities: Mapping[str, float], normal: str | None) -> float:
    """How suspicious a series is: its highest probability over the classes that are not
    ``normal`` (over all classes when ``normal`` is None); 0.0 when there are none."""
    values = [float(p) for c, p in probabilities.items() if c != normal]
    return max(values, default=0.0)


def flagged_slices(prediction: SeriesPrediction, normal: str | None) -> list[int]:
    """Slices whose top class is not ``normal``, most suspicious first (ties: lower index),
    at most :data:`MAX_FLAGGED`."""
    scored = [
        (suspicion(p.probabilities, normal), p.index) for p in prediction.slices if p.top != normal
    ]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [index for _, index in scored[:MAX_FLAGGED]]


def series_flagged_slices(prediction: SeriesPrediction) -> list[int]:
    """:func:`flagged_slices` of ``prediction`` with its model's normal class (from its
    classes and aggregation method), as the triage worklist stores them."""
    return flagged_slices(prediction, normal_class(prediction.classes, prediction.method))


def most_suspicious_slice(prediction: SeriesPrediction) -> int:
    """The slice with the highest :func:`suspicion` (ties: lower index): the first flagged
    slice when there are any."""
    normal = normal_class(prediction.classes, prediction.method)
    best = max(prediction.slices, key=lambda p: (suspicion(p.probabilities, normal), -p.index))
    return best.index


__all__ = [
    "MAX_FLAGGED",
    "flagged_slices",
    "most_suspicious_slice",
    "normal_class",
    "series_flagged_slices",
    "suspicion",
]
