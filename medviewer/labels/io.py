"""Export labels to CSV / JSON and import them back, all-or-nothing with a report.

CSV columns, in this order (``path_hint`` last, only when PHI is asked for)::

    study_uid,series_uid,sop_uid,frame,label,scope,annotator,source,model,status,review,
    reviewer,comment,updated_at

``frame`` is empty for single-frame images; ``model`` is ``name:version`` when ``source`` is
``model``. The JSON form carries everything (also ``created_at``, the evidence region, the
label set and the model's sha256). Exports are sorted and carry no export time, so
export -> empty store -> import -> export gives an identical file.

An import checks every row first, then writes the good ones in ONE transaction: an error
mid-way leaves the store as it was. Rows that cannot be imported are reported with their line
(CSV) or entry number (JSON) and the reason; they never stop the others.

The work is done in :mod:`~medviewer.labels.export` (writing),
:mod:`~medviewer.labels.import_rows` (reading and checking rows) and
:mod:`~medviewer.labels.importer` (the one-transaction import and its report);
:mod:`~medviewer.labels.file_format` holds the columns and the JSON envelope. This module
keeps the names callers import.
"""

from __future__ import annotations

import os  # noqa: F401  (kept reachable as ``medviewer.labels.io.os``, as before the split)

from medviewer.labels.export import export_labels
from medviewer.labels.file_format import (
    CSV_COLUMNS,
    JSON_FORMAT,
    JSON_VERSION,
    PHI_COLUMNS,
    REQUIRED_COLUMNS,
)
from medviewer.labels.importer import ImportReport, SkippedRow, import_labels

__all__ = [
    "CSV_COLUMNS",
    "JSON_FORMAT",
    "JSON_VERSION",
    "PHI_COLUMNS",
    "REQUIRED_COLUMNS",
    "ImportReport",
    "SkippedRow",
    "export_labels",
    "import_labels",
]
