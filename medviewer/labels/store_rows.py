"""Rows of the label store's tables and the objects they hold.

The ``annotations`` columns as an :class:`~medviewer.labels.schema.Annotation`, the state a
``history`` entry records (:data:`~medviewer.labels.migrations.STATE_FIELDS` as JSON), the
key's ``WHERE`` clause and the UTC time stamps the store writes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from medviewer.labels.migrations import STATE_FIELDS
from medviewer.labels.schema import Annotation, ModelRef, Region, SliceKey

COLUMNS = (
    "id, study_uid, series_uid, sop_uid, frame, annotator, label, scope, source, model_name,"
    " model_version, model_sha256, region_x0, region_y0, region_x1, region_y1, status, review,"
    " reviewer, comment, created_at, updated_at, label_set, path_hint"
)
STATE_COLUMNS = ", ".join(STATE_FIELDS)
KEY_WHERE = "series_uid = ? AND sop_uid = ? AND frame = ? AND study_uid = ?"


def now_utc() -> str:
    """The current time as ISO 8601 UTC with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def dumps_state(state: dict[str, Any]) -> str:
    """A history state as compact JSON."""
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False)


def before_state(before: str, after: dict[str, Any]) -> dict[str, Any]:
    """The full state before an action: history keeps only the fields it changed."""
    return {**after, **json.loads(before)}


def key_params(key: SliceKey) -> tuple[str, str, int, str]:
    """The parameters of :data:`KEY_WHERE` for ``key`` (frame 0: a single-frame image)."""
    return (key.series_uid, key.sop_uid, key.frame or 0, key.study_uid)


def annotation_from_row(row: tuple) -> Annotation:
    """An Annotation from a row of :data:`COLUMNS`."""
    (aid, study, series, sop, frame, annotator, label, scope, source, mname, mversion) = row[:11]
    msha, x0, y0, x1, y1, status, review, reviewer, comment, created, updated = row[11:22]
    label_set, hint = row[22:]
    return Annotation(
        id=aid,
        key=SliceKey(study, series, sop, frame or None),
        label=label,
        scope=scope,
        annotator=annotator,
        source=source,
        model=ModelRef(mname, mversion, msha) if mname else None,
        region=None if x0 is None else Region(x0, y0, x1, y1),
        status=status,
        review=review,
        reviewer=reviewer,
        comment=comment,
        created_at=created,
        updated_at=updated,
        label_set=label_set,
        path_hint=hint,
    )


def state_of(ann: Annotation, active: int = 1) -> dict[str, Any]:
    """The history state (:data:`STATE_FIELDS`) of an annotation."""
    m, r = ann.model, ann.region
    return {
        "active": active,
        "label": ann.label,
        "scope": ann.scope,
        "source": ann.source,
        "model_name": m.name if m else "",
        "model_version": m.version if m else "",
        "model_sha256": m.sha256 if m else "",
        "region_x0": r.x0 if r else None,
        "region_y0": r.y0 if r else None,
        "region_x1": r.x1 if r else None,
        "region_y1": r.y1 if r else None,
        "status": ann.status,
        "review": ann.review,
        "reviewer": ann.reviewer,
        "comment": ann.comment,
        "created_at": ann.created_at,
        "updated_at": ann.updated_at,
        "label_set": ann.label_set,
        "path_hint": ann.path_hint,
    }


def region_fields(region: Region | None) -> dict[str, float | None]:
    """The four region columns of ``region`` (all None without one)."""
    if region is None:
        return dict.fromkeys(("region_x0", "region_y0", "region_x1", "region_y1"))
    return {
        "region_x0": float(region.x0),
        "region_y0": float(region.y0),
        "region_x1": float(region.x1),
        "region_y1": float(region.y1),
    }
