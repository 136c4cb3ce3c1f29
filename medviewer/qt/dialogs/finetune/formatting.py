"""Numbers and lists as the fine-tuning dialog writes them (pure functions, no Qt)."""

from __future__ import annotations

import math

from medviewer.qt.dialogs.finetune.style import BAD, GOOD

METRIC_ROWS = (
    ("accuracy", "Accuracy", True),
    ("macro_f1", "Macro F1", True),
    ("macro_auc", "Macro AUC (one-vs-rest)", True),
    ("ece", "ECE (calibration error)", False),
)
"""(key, label, higher is better)."""


def fmt_duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 07 s"`` or ``"1 h 05 min"`` (rounded, never negative)."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def fmt_metric(value, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals; "–" when it is missing or not a finite number."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def metric_change(key: str, base, new) -> tuple[str, str | None]:
    """Text of new - base and its colour (green better, red worse, None unchanged)."""
    try:
        b, n = float(base), float(new)
    except (TypeError, ValueError):
        return "–", None
    if not (math.isfinite(b) and math.isfinite(n)):
        return "–", None
    delta = n - b
    higher = dict((k, h) for k, _label, h in METRIC_ROWS).get(key, True)
    if abs(delta) < 5e-4:
        return "±0.000", None
    better = delta > 0 if higher else delta < 0
    return f"{delta:+.3f}", GOOD if better else BAD


def html_text(text: str) -> str:
    """Plain text for a rich-text label: ``& < >`` escaped, new lines as ``<br>``."""
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", "<br>")
    )


def slice_list(indices, limit: int = 12) -> str:
    """Slices as the viewer numbers them (1-based), e.g. "slices 3, 4, 10 and 5 more"."""
    shown = [str(i + 1) for i in list(indices)[:limit]]
    more = len(indices) - len(shown)
    text = "slice" + ("s " if len(indices) != 1 else " ") + ", ".join(shown)
    return text + (f" and {more} more" if more > 0 else "")


__all__ = ["METRIC_ROWS", "fmt_duration", "fmt_metric", "html_text", "metric_change", "slice_list"]
