"""Triage worklist: run a model over a whole archive and read the most suspicious series first.

- ``records``: ModelIdentity, SeriesResult, SkippedItem, suspicion, the store's errors
- ``store``: ResultsStore, the SQLite results file (resumable, one row per series and model)
- ``report``: the stored results as rows, a text table, CSV and a summary
- ``job``: triage_iter / triage, the run itself; ``shard``: the same under torchrun

Names of ``job`` are importable from here too (loaded on first use: that module loads more).
No Qt here; torch only inside the job, when it runs.
"""

from __future__ import annotations

from medviewer.triage.records import (
    ModelIdentity,
    ResultsModelMismatch,
    ResultsStoreError,
    SeriesResult,
    SkippedItem,
    normal_class,
    suspicion,
)
from medviewer.triage.store import RESULTS_FORMAT, ResultsStore, default_results_path

_FROM_JOB = ("TriageEvent", "TriageOptions", "TriageSummary", "triage", "triage_iter")

__all__ = [
    "RESULTS_FORMAT",
    "ModelIdentity",
    "ResultsModelMismatch",
    "ResultsStore",
    "ResultsStoreError",
    "SeriesResult",
    "SkippedItem",
    "normal_class",
    "default_results_path",
    "suspicion",
    *_FROM_JOB,
]


def __getattr__(name: str):
    if name in _FROM_JOB:
        from medviewer.triage import job

        return getattr(job, name)
    raise AttributeError(f"module 'medviewer.triage' has no attribute {name!r}")
