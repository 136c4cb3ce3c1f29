"""Label files from the labeling session: export / import as jobs for workers.

Each job opens its own connection to the store (SQLite connections are per thread);
:func:`import_report_text` sums up an import and :func:`known_series_uids` names the series
an import may label (those of the open studies).
"""

from __future__ import annotations

import os
from pathlib import Path

from medviewer.jobs import Job, Progress
from medviewer.labels.schema import LabelSet


def export_job(store_path: str | os.PathLike, path: str | os.PathLike, **filters) -> Job[int]:
    """Export the store's labels to ``path`` (.csv or .json); returns the number written."""
    from medviewer.labels.io import export_labels
    from medviewer.labels.store import LabelStore

    yield Progress(0, None, f"exporting labels to {Path(path).name}…")
    with LabelStore(store_path) as store:
        n = export_labels(store, path, **filters)
    yield Progress(1, 1, f"{n} labels exported")
    return n


def import_job(
    store_path: str | os.PathLike,
    path: str | os.PathLike,
    *,
    label_set: LabelSet | None = None,
    known_series: set[str] | None = None,
):
    """Import ``path`` into the store (one transaction); returns the ImportReport."""
    from medviewer.labels.io import import_labels
    from medviewer.labels.store import LabelStore

    yield Progress(0, None, f"importing {Path(path).name}…")
    with LabelStore(store_path) as store:
        report = import_labels(store, path, label_set=label_set, known_series=known_series)
    yield Progress(1, 1, "imported")
    return report


def import_report_text(report) -> str:
    """A short summary of an ImportReport: "108 imported, 2 unchanged, 3 skipped"."""
    return (
        f"{report.imported} imported, {report.unchanged} unchanged, {len(report.skipped)} skipped"
    )


def known_series_uids(scan_result) -> set[str]:
    """Series Instance UIDs of every series in a ScanResult (the open studies)."""
    if scan_result is None:
        return set()
    return {s.series_uid for study in scan_result.studies for s in study.series}
