"""The fine-tuning dialog's colours and style sheets (strings only, no Qt)."""

from __future__ import annotations

GOOD = "#81c784"
"""A metric that got better."""
BAD = "#e57373"
"""A metric that got worse."""
AMBER = "#ffb74d"
"""Warnings; a class with too few labels."""
GREY = "#9e9e9e"
"""A class with no labels in the plan."""
DIM = "#757575"
"""A class the validation slices do not contain."""
MUTED = "color: #9e9e9e;"
WARN_STYLE = "QLabel { color: #ffb74d; }"
STATUS_ERROR_STYLE = "QLabel { color: #e57373; }"
ERROR_STYLE = (
    "QLabel { color: #ffcdd2; background: #4a1f1f; border: 1px solid #e57373;"
    " border-radius: 3px; padding: 6px; }"
)
OK_STYLE = (
    "QLabel { color: #c8e6c9; background: #1f3a24; border: 1px solid #81c784;"
    " border-radius: 3px; padding: 6px; }"
)


def step_style(step: int, current: int) -> str:
    """The style sheet of the step bar's ``step``-th label while page ``current`` shows."""
    if step == current:
        style = "background: #2d5b88; color: white; font-weight: bold; border-radius: 3px;"
    elif step < current:
        style = "color: #bdbdbd;"
    else:
        style = "color: #757575;"
    return f"QLabel {{ {style} padding: 3px; }}"
