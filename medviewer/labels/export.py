"""Export labels to CSV / JSON, sorted and atomic.

Exports are sorted and carry no export time, so export -> empty store -> import -> export
gives an identical file. The file is written beside its target and renamed over it, so a
failed export leaves no partial file. File paths (``path_hint``) are written only when asked
for: they may hold patient names.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from medviewer.atomic import write_text_atomic
from medviewer.errors import LabelStoreError
from medviewer.labels.file_format import (
    CSV_COLUMNS,
    JSON_FORMAT,
    JSON_VERSION,
    PHI_COLUMNS,
    format_of,
)
from medviewer.labels.schema import Annotation
from medviewer.labels.store import LabelStore


def _csv_row(ann: Annotation, include_phi: bool) -> list[str]:
    row = [
        ann.key.study_uid,
        ann.key.series_uid,
        ann.key.sop_uid,
        "" if ann.key.frame is None else str(ann.key.frame),
        ann.label,
        ann.scope,
        ann.annotator,
        ann.source,
        str(ann.model) if ann.model is not None else "",
        ann.status,
        ann.review,
        ann.reviewer,
        ann.comment,
        ann.updated_at,
    ]
    if include_phi:
        row.append(ann.path_hint)
    return row


def _json_entry(ann: Annotation, include_phi: bool) -> dict[str, Any]:
    m, r = ann.model, ann.region
    entry: dict[str, Any] = {
        "study_uid": ann.key.study_uid,
        "series_uid": ann.key.series_uid,
        "sop_uid": ann.key.sop_uid,
        "frame": ann.key.frame,
        "label": ann.label,
        "scope": ann.scope,
        "annotator": ann.annotator,
        "source": ann.source,
        "model": None if m is None else {"name": m.name, "version": m.version, "sha256": m.sha256},
        "region": None if r is None else {"x0": r.x0, "y0": r.y0, "x1": r.x1, "y1": r.y1},
        "status": ann.status,
        "review": ann.review,
        "reviewer": ann.reviewer,
        "comment": ann.comment,
        "created_at": ann.created_at,
        "updated_at": ann.updated_at,
        "label_set": ann.label_set,
    }
    if include_phi:
        entry["path_hint"] = ann.path_hint
    return entry


def export_labels(
    store: LabelStore, path: str | os.PathLike, *, include_phi: bool = False, **query_filters
) -> int:
    """Write the store's current labels (filtered like :meth:`LabelStore.query`) to ``path``
    (.csv or .json by suffix), atomically; returns how many. File paths (``path_hint``) are
    written only with ``include_phi``: they may hold patient names."""
    path = Path(path)
    kind = format_of(path)
    labels = store.query(**query_filters)
    buf = io.StringIO()
    if kind == "csv":
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS + (PHI_COLUMNS if include_phi else ()))
        writer.writerows(_csv_row(a, include_phi) for a in labels)
    else:
        doc = {
            "format": JSON_FORMAT,
            "version": JSON_VERSION,
            "labels": [_json_entry(a, include_phi) for a in labels],
        }
        json.dump(doc, buf, indent=2, ensure_ascii=False)
        buf.write("\n")
    _write_atomic(path, buf.getvalue())
    return len(labels)


def _write_atomic(path: Path, text: str) -> None:
    try:
        write_text_atomic(path, text, newline="")
    except OSError as exc:
        raise LabelStoreError(
            f"cannot write the labels to {path} ({exc.strerror or exc}); choose another file"
        ) from exc
