"""The model's suggestions while labeling: the last inference's top class per slice.

:class:`Suggestion` holds a slice's top class, its probability and the predictive
:func:`entropy` (normalised, 1: all classes equally likely) that orders slices for active
learning; :class:`LabelSuggestions` keeps them on the labeling session.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from medviewer.labels.schema import Annotation, ModelRef


def entropy(probabilities: dict[str, float] | Sequence[float]) -> float:
    """Predictive entropy normalised to 0..1 (1: all classes equally likely)."""
    values = list(probabilities.values()) if isinstance(probabilities, dict) else probabilities
    values = [float(p) for p in values if p is not None and math.isfinite(float(p))]
    if len(values) < 2:
        return 0.0
    total = sum(values) or 1.0
    h = -sum((p / total) * math.log(p / total) for p in values if p > 0)
    return float(h / math.log(len(values)))


@dataclass(frozen=True)
class Suggestion:
    """The model's top class for one slice, with where it came from."""

    index: int
    label: str
    probability: float
    entropy: float
    model: ModelRef
    probabilities: dict[str, float] = field(default_factory=dict)


class LabelSuggestions:
    """The model's suggestions of a LabelingSession (mixed into it)."""

    n_slices: int
    _labels: dict[int, Annotation]
    _suggestions: dict[int, Suggestion]

    caveats: tuple[str, ...] = ()
    """The run's warnings (a series outside the model's scope, values read as 0 ...): every
    suggestion of that run is shown with them."""

    def set_predictions(self, predictions: Iterable, caveats: Iterable[str] = ()) -> int:
        """Keep the last inference's per-slice predictions (objects with ``index``,
        ``probabilities``, ``top``, ``model``, ``version``, ``sha256``) and the run's warnings;
        returns how many."""
        self._suggestions = {}
        self.caveats = tuple(str(c) for c in caveats)
        for p in predictions:
            k = int(p.index)
            if not 0 <= k < self.n_slices:
                continue
            probs = {str(c): float(v) for c, v in dict(p.probabilities).items()}
            top = str(p.top)
            self._suggestions[k] = Suggestion(
                index=k,
                label=top,
                probability=float(probs.get(top, float("nan"))),
                entropy=entropy(probs),
                model=ModelRef(str(p.model), str(p.version), str(getattr(p, "sha256", ""))),
                probabilities=probs,
            )
        return len(self._suggestions)

    def clear_predictions(self) -> None:
        self._suggestions = {}
        self.caveats = ()

    def suggestion(self, index: int) -> Suggestion | None:
        return self._suggestions.get(int(index))

    @property
    def has_predictions(self) -> bool:
        return bool(self._suggestions)

    def disagrees(self, index: int) -> bool:
        """The shown label and the model's top class differ (both known, same vocabulary:
        labels outside the model's classes, such as ``uncertain``, never disagree)."""
        ann, s = self._labels.get(index), self._suggestions.get(index)
        if ann is None or s is None:
            return False
        return ann.label in s.probabilities and ann.label != s.label

    def uncertainty_order(self) -> list[int]:
        """Slices with a prediction, most uncertain (highest entropy) first."""
        return sorted(self._suggestions, key=lambda k: (-self._suggestions[k].entropy, k))
