"""The label file formats shared by export and import: CSV columns, the JSON envelope.

CSV columns, in this order (``path_hint`` last, only when PHI is asked for)::

    study_uid,series_uid,sop_uid,frame,label,scope,annotator,source,model,status,review,
    reviewer,comment,updated_at

``frame`` is empty for single-frame images; ``model`` is ``name:version`` when ``source`` is
``model``. The JSON form (``{"format": "medviewer-labels", "version": 1, "labels": [...]}``)
carries everything (also ``created_at``, the evidence region, the label set and the model's
sha256). The format of a file is told by its suffix (:func:`format_of`).
"""

from __future__ import annotations

from pathlib import Path

from medviewer.errors import LabelStoreError

CSV_COLUMNS = (
    "study_uid",
    "series_uid",
    "sop_uid",
    "frame",
    "label",
    "scope",
    "annotator",
    "source",
    "model",
    "status",
    "review",
    "reviewer",
    "comment",
    "updated_at",
)
PHI_COLUMNS = ("path_hint",)
REQUIRED_COLUMNS = ("study_uid", "series_uid", "sop_uid", "label", "annotator")
JSON_FORMAT = "medviewer-labels"
JSON_VERSION = 1


def format_of(path: Path) -> str:
    """The format of ``path`` by its suffix: "csv" or "json" (LabelStoreError otherwise)."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise LabelStoreError(
            f"cannot tell the format of {path}: name it .csv or .json (got {suffix or 'none'})"
        )
    return suffix[1:]
