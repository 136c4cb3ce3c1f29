"""The checks a label store write makes on its arguments before touching the file.

Each raises :class:`~medviewer.errors.LabelStoreError` saying what is wrong and what to do.
"""

from __future__ import annotations

import math

from medviewer.errors import LabelStoreError
from medviewer.labels.schema import SCOPES, Region, SliceKey


def check_region(region: Region | None) -> None:
    """Raise LabelStoreError unless ``region`` is None or a finite, non-empty rectangle."""
    if region is None:
        return
    values = (region.x0, region.y0, region.x1, region.y1)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise LabelStoreError(f"evidence region {values} must hold four finite numbers")
    if not (region.x0 < region.x1 and region.y0 < region.y1):
        raise LabelStoreError(
            f"evidence region {values} is empty: it needs x0 < x1 and y0 < y1 (pixels of "
            "the slice, x = column, y = row)"
        )


def check_key(key: SliceKey, scope: str) -> None:
    """Raise LabelStoreError unless ``key`` has the shape ``scope`` needs."""
    if not isinstance(key, SliceKey):
        raise LabelStoreError(f"a label is keyed by a SliceKey, got {type(key).__name__}")
    if scope not in SCOPES:
        raise LabelStoreError(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
    if not key.study_uid or not key.series_uid:
        raise LabelStoreError(f"{key} lacks its Study or Series Instance UID; labels need both")
    if key.frame is not None and (not isinstance(key.frame, int) or key.frame < 1):
        raise LabelStoreError(f"{key}: frame numbers start at 1, got {key.frame!r}")
    if scope == "slice" and not key.sop_uid:
        raise LabelStoreError(f"a slice label needs the SOP Instance UID of its image ({key})")
    if scope == "series" and (key.sop_uid or key.frame is not None):
        raise LabelStoreError(
            f"a series label is keyed by the series alone: give no SOP Instance UID or frame "
            f"({key})"
        )


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise LabelStoreError unless ``value`` is one of ``choices``."""
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise LabelStoreError(f"{what} {value!r} is not one of {shown}")


def check_name(what: str, value: str) -> str:
    """``value`` with its white space collapsed; LabelStoreError when that is empty."""
    name = " ".join(str(value or "").split())
    if not name:
        raise LabelStoreError(f"the {what} name is empty; set it before labeling")
    return name
