"""What the AI dock's "Explain" box shows, computed without Qt: the method list and which
methods a model allows (and why not), the texts about the heat map shown, the opacity and
threshold readouts, the cache key of an explanation, and the map turned to the plane the
viewer shows.

Explanations are read by attribute like :class:`medviewer.ai.explain.Explanation`.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import types
from dataclasses import dataclass

import numpy as np

from medviewer.ai.explain import (
    METHOD_LABELS,
    METHOD_NOTES,
    METHODS,
    TARGET_INDEPENDENT,
    ExplanationCache,
    available_methods,
)
from medviewer.session import mpr

log = logging.getLogger(__name__)

DEFAULT_OPACITY = 40
"""Percent."""
DEFAULT_THRESHOLD = 20
"""Percent of the map's maximum."""
PER_IMAGE_NOTE = (
    "Heat maps are normalised per image: colours compare regions within one slice, "
    "not across slices or models."
)
NO_MAP = "No heat map (see the message above)"
FAITHFULNESS_COMPUTING = "Faithfulness: computing…"


def opacity_text(percent: int) -> str:
    return f"{percent}%"


def threshold_text(threshold: float) -> str:
    return f"{threshold:.2f}"


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def method_choices() -> list[tuple[str, str]]:
    """(label, method) of every explanation method, in the menu's order."""
    return [(method_label(m), m) for m in METHODS]


@dataclass(frozen=True)
class MethodAvailability:
    """Which methods of the list a model allows: per item, enabled and the tooltip (why
    not), and the item to select (the current one, or the first allowed when it is not)."""

    enabled: tuple[bool, ...]
    tips: tuple[str | None, ...]
    index: int


def method_availability(methods, manifest, current: int) -> MethodAvailability:
    """``methods`` in list order; ``manifest`` of the chosen model (None: none chosen, every
    method allowed); ``current`` the selected item."""
    reasons = (
        available_methods(types.SimpleNamespace(manifest=manifest)) if manifest is not None else {}
    )
    enabled = tuple(reasons.get(m) is None for m in methods)
    tips = tuple(reasons.get(m) or None for m in methods)
    index = current
    if not (0 <= current < len(enabled) and enabled[current]):
        index = next((i for i, on in enumerate(enabled) if on), current)
    return MethodAvailability(enabled, tips, index)


def computing_text(method: str, index: int) -> str:
    return f"Computing {method_label(method)} for slice {index + 1}…"


def loading_text(index: int) -> str:
    return f"Slice {index + 1} is still loading"


@dataclass(frozen=True)
class ExplanationText:
    """The three lines under the colour bar."""

    title: str
    faithfulness: str
    note: str


def _p_text(prob: float) -> str:
    from medviewer.session.ai_results import fmt_p

    text = fmt_p(prob)
    return text if text[0] in "<>" else f"= {text}"


def explanation_text(expl, index: int, model: str | None = None) -> ExplanationText:
    """The texts of ``expl`` shown over slice ``index``; ``model`` its "name version"."""
    prob = getattr(expl, "probability", None)
    shown_prob = f" (p {html.escape(_p_text(prob))})" if prob is not None else ""
    by = f" — {model}" if model else ""
    if expl.method in TARGET_INDEPENDENT:  # not "for <class>": no class chose this map
        title = f"{method_label(expl.method)}, the same for every class, slice {index + 1}{by}"
    else:
        title = (
            f"{method_label(expl.method)} for <b>{expl.target}</b>{shown_prob}, "
            f"slice {index + 1}{by}"
        )
    if expl.faithfulness is None:
        faithfulness = FAITHFULNESS_COMPUTING
    else:
        faithfulness = (
            f"Faithfulness {expl.faithfulness:+.2f} ({expl.faithfulness_name}): higher is "
            "better; near 0 the map is no better than chance"
        )
    extra = METHOD_NOTES.get(expl.method) or ""
    note = expl.note or "Heat maps are normalised per image"
    note = f"{note}." + (f" {extra[0].upper()}{extra[1:]}." if extra else "")
    return ExplanationText(title, faithfulness, note)


def explanation_key(volume, entry, method, target, index: int) -> tuple | None:
    """The cache key of the explanation of slice ``index`` (None without a series, a model
    or a method)."""
    if volume is None or entry is None or method is None:
        return None
    return ExplanationCache.key(volume.series.key, index, method, target, entry.manifest.sha256)


class PlaneAligner:
    """RGBA layers aligned with ``volume.array[k]`` -> aligned with the primary plane's image
    of slice k (the acquired plane may be shown transposed or flipped); the last one is
    kept, so recolouring the same map twice turns it once."""

    def __init__(self) -> None:
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None

    def clear(self) -> None:
        self._cache = None

    def to_plane(self, volume, rgba: np.ndarray) -> np.ndarray:
        cached = self._cache
        if cached is not None and cached[0] == id(rgba) and cached[1] is rgba:
            return cached[2]
        out = rgba
        if volume is not None:
            try:
                plane = mpr.acquired_plane(volume)
                fake = dataclasses.replace(volume, array=rgba[None], loaded=None)
                out = np.ascontiguousarray(mpr.reformat(fake, plane, 0).values)
            except Exception as exc:  # never lose the map over a geometry oddity
                log.debug("heat map not reoriented: %s", exc)
        self._cache = (id(rgba), rgba, out)
        return out


__all__ = [
    "DEFAULT_OPACITY",
    "DEFAULT_THRESHOLD",
    "ExplanationText",
    "FAITHFULNESS_COMPUTING",
    "MethodAvailability",
    "NO_MAP",
    "PER_IMAGE_NOTE",
    "PlaneAligner",
    "computing_text",
    "explanation_key",
    "explanation_text",
    "loading_text",
    "method_availability",
    "method_choices",
    "method_label",
    "opacity_text",
    "threshold_text",
]
