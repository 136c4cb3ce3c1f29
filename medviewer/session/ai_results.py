"""What the AI dock shows of a classification run, computed without Qt: the per-slice
probabilities and the plot's curves, the series and slice texts, the top class of each slice
and the slices whose top class changed against an earlier run.

Predictions are read by attribute (``index``, ``probabilities``, ``top``, ``model``,
``version``, ``device``), so :class:`medviewer.ai.classifier.Prediction` and plain objects
both do.
"""

from __future__ import annotations

import functools
import html
import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

CLASS_COLOURS = (
    (255, 170, 60),
    (80, 200, 255),
    (120, 230, 120),
    (240, 100, 160),
    (200, 160, 255),
    (255, 235, 90),
    (150, 150, 150),
    (255, 120, 90),
)
"""The plot's colour of each class, in the model card's order (repeating)."""

NOT_RUN = "Not run yet"
NO_SERIES = "No series open"
RUN_FAILED = "The run failed (see the message above)"
SERIES_TIP = (
    "max: per class, the highest probability any slice gave it (the values need "
    "not sum to 1); mean: per class, the mean over the slices"
)


def fmt_p(p) -> str:
    """A probability in two decimals, never rounded to a certainty it is not: ``>0.99`` for
    0.995 and up, ``<0.01`` below 0.005."""
    value = float(p)
    if value != value:  # NaN: not classified
        return "–"
    if value >= 0.995:
        return ">0.99"
    if value < 0.005:
        return "<0.01"
    return f"{value:.2f}"


def fmt_probs(probabilities: dict, limit: int = 4) -> str:
    """``"lesion 0.91 · no lesion 0.09"``: the most probable first, at most ``limit``."""
    items = sorted(probabilities.items(), key=lambda kv: -float(kv[1]))
    text = " · ".join(f"{name} {fmt_p(p)}" for name, p in items[:limit])
    if len(items) > limit:
        text += f" · +{len(items) - limit} more"
    return text


def method_text(method: str, n: int) -> str:
    """How the series result was aggregated from ``n`` slices."""
    method = str(method or "")
    if method in ("max", "mean"):
        return f"{method} over {n} slices"
    return method or f"{n} slices"


def class_colour(i: int, name: str = "") -> tuple[int, int, int]:
    """The colour of class ``name`` in the label sets (so the plot, the label buttons and
    the label strip agree), else the ``i``-th of :data:`CLASS_COLOURS`."""
    known = _label_colours().get(name)
    return known if known is not None else CLASS_COLOURS[i % len(CLASS_COLOURS)]


@functools.lru_cache(maxsize=1)
def _label_colours() -> dict[str, tuple[int, int, int]]:
    from medviewer.labels.label_sets import list_label_sets

    colours: dict[str, tuple[int, int, int]] = {}
    try:
        sets = list_label_sets()
    except Exception:  # a damaged folder of label sets never stops the plot
        log.warning("label set colours not read", exc_info=True)
        return colours
    for label_set in sets:
        for cls in label_set.classes:
            text = str(cls.color).lstrip("#")
            if len(text) == 6 and cls.name not in colours:
                try:
                    colours[cls.name] = tuple(int(text[k : k + 2], 16) for k in (0, 2, 4))
                except ValueError:
                    continue
    return colours


def slice_at(x: float, n: int) -> int | None:
    """The slice index at ``x`` on the plot (image number, 1-based like the viewer's
    "Im k/n"), clamped to ``n`` slices; None when there are none or ``x`` is not finite."""
    if n <= 0 or not np.isfinite(x):
        return None
    return int(min(max(round(float(x)) - 1, 0), n - 1))


def top_name(prediction, classes: tuple[str, ...]) -> str:
    """The prediction's top class by name (``top`` may be a class index)."""
    top = prediction.top
    return str(top if isinstance(top, str) else classes[int(top)])


@dataclass(frozen=True)
class Curve:
    """One class's line on the probability plot: image numbers and probabilities (NaN where
    a slice is not classified yet)."""

    name: str
    colour: tuple[int, int, int]
    x: np.ndarray
    y: np.ndarray


class RunResults:
    """The results of the last run on the open series, as the dock shows them.

    :meth:`clear` forgets everything (a new series); :meth:`start` forgets the results but
    keeps naming the model of the last run until the new run reports (its first slices or
    its end)."""

    def __init__(self, n_slices: int = 0) -> None:
        self.run_info: tuple[str, str, str] | None = None
        """(model, version, device) of the run shown."""
        self.clear(n_slices)

    def clear(self, n_slices: int) -> None:
        self.start(n_slices)
        self.run_info = None

    def start(self, n_slices: int) -> None:
        self.probs = np.full((int(n_slices), 0), np.nan)
        self.classes: tuple[str, ...] = ()
        self.predictions: dict[int, object] = {}
        self.series_result = None
        self.changed: list[int] = []

    @property
    def n_slices(self) -> int:
        return int(self.probs.shape[0])

    def add(self, predictions) -> bool:
        """Take slice predictions; True when the classes changed (the plot needs new
        curves). Predictions of slices outside the series are ignored."""
        if not predictions:
            return False
        first = predictions[0]
        classes = tuple(first.probabilities)
        remade = classes != self.classes or self.probs.shape[1] != len(classes)
        if remade:
            self.classes = classes
            self.probs = np.full((self.n_slices, len(classes)), np.nan)
        if self.run_info is None:
            self.run_info = (first.model, first.version, first.device)
        for p in predictions:
            k = int(p.index)
            if 0 <= k < self.n_slices:
                self.predictions[k] = p
                self.probs[k] = [float(p.probabilities.get(c, np.nan)) for c in classes]
        return remade

    def to_add(self, result) -> list:
        """The slices of a finished run's result to add: all of them when some were not
        reported on the way (or none were), else none."""
        slices = result.slices
        items = list(slices.values()) if isinstance(slices, dict) else list(slices)
        missing = [p for p in items if int(p.index) not in self.predictions]
        return items if missing or not self.predictions else []

    def finish(self, result) -> None:
        """The run ended with ``result`` (a SeriesPrediction)."""
        self.series_result = result
        self.run_info = (result.model, result.version, result.device)

    def curves(self) -> list[Curve]:
        x = np.arange(1, self.n_slices + 1, dtype=np.float64)  # image numbers
        return [
            Curve(name, class_colour(c, name), x, self.probs[:, c])
            for c, name in enumerate(self.classes)
        ]

    def prediction(self, index: int):
        return self.predictions.get(int(index))

    # -- texts ------------------------------------------------------------------------------
    def model_text(self) -> str:
        if self.run_info is None:
            return ""
        name, version, device = self.run_info
        return f"{name} {version} ({device})"

    def running_text(self, ref: str) -> str:
        return f"Running {ref} on {self.n_slices} slices…"

    def series_text(self) -> str:
        """The series line of a finished run."""
        result = self.series_result
        n = len(self.predictions)
        return (
            f"<b>{self.model_text()}</b><br>Series ({method_text(result.method, n)}): "
            f"{html.escape(fmt_probs(result.probabilities))}"
        )

    def cancelled_text(self) -> str:
        return f"Cancelled after {len(self.predictions)} of {self.n_slices} slices"

    def slice_text(self, index: int) -> str:
        """The line about slice ``index``: its top class, probabilities and model; empty
        before the run's first slices."""
        p = self.predictions.get(index)
        if p is None:
            return f"Slice {index + 1}: not classified yet" if self.predictions else ""
        top = top_name(p, self.classes)
        prob = float(p.probabilities.get(top, np.nan))
        return (
            f"Slice {index + 1}: <b>{top}</b> {html.escape(fmt_p(prob))} "
            f"<span style='color:#9e9e9e'>({html.escape(fmt_probs(p.probabilities))}) — "
            f"{p.model} {p.version}</span>"
        )

    # -- comparing runs ---------------------------------------------------------------------
    def top_classes(self) -> dict[int, str]:
        """Slice index -> top class (the slices classified so far)."""
        return {int(k): top_name(p, self.classes) for k, p in self.predictions.items()}

    def compare(self, previous: dict[int, str], before: str | None = None) -> str | None:
        """Find the slices whose top class differs from ``previous`` (an earlier run's
        :meth:`top_classes`) into :attr:`changed`; returns the message saying how many, or
        None when there was no earlier run."""
        now = self.top_classes()
        self.changed = sorted(k for k, top in now.items() if k in previous and previous[k] != top)
        if not previous:
            return None
        what = before or "the previous run"
        return f"Top class changed from {what} on {len(self.changed)} of {len(now)} slices" + (
            " (red marks on the plot)" if self.changed else ""
        )

    def change_marks(self) -> tuple[list[int], list[float]]:
        """Where the plot marks the changed slices: (image numbers, heights)."""
        return [k + 1 for k in self.changed], [1.0] * len(self.changed)


__all__ = [
    "CLASS_COLOURS",
    "Curve",
    "NOT_RUN",
    "NO_SERIES",
    "RUN_FAILED",
    "RunResults",
    "SERIES_TIP",
    "class_colour",
    "fmt_probs",
    "method_text",
    "slice_at",
    "top_name",
]
