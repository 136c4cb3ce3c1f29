"""The annotation store: one SQLite file, crash-safe, shared safely by two app instances.

Why SQLite: every user action is one ACID transaction, so a label whose call returned is on
disk even if the process is killed a microsecond later (WAL journal, ``synchronous=FULL``), and
a second medviewer on the same file waits for the lock (``busy_timeout``, ``BEGIN IMMEDIATE``)
instead of failing or corrupting it. Labels are keyed by DICOM UIDs; the file path of an
image is only a hint. Every change is appended to a ``history`` table that undo/redo uses.

A file this version cannot use (not SQLite, damaged, written by a newer medviewer) raises
:class:`~medviewer.errors.LabelStoreError` and is left byte-for-byte as it was;
:func:`fresh_store_path` names a new store beside it, so the user can start over and keep it.

The store is put together from one module per concern: :mod:`~medviewer.labels.store_connection`
(opening, refusing, pragmas, transactions), :mod:`~medviewer.labels.store_writes` (set, clear,
region, status, import), :mod:`~medviewer.labels.store_history` (undo / redo, history),
:mod:`~medviewer.labels.store_review` (review verdicts) and
:mod:`~medviewer.labels.store_queries` (reading); :mod:`~medviewer.labels.store_rows` and
:mod:`~medviewer.labels.store_checks` hold the row mapping and the argument checks.
"""

from __future__ import annotations

from medviewer.labels.store_checks import check_key, check_region
from medviewer.labels.store_connection import (
    StoreConnection,
    default_store_path,
    fresh_store_path,
)
from medviewer.labels.store_history import UndoHistory
from medviewer.labels.store_queries import LabelQueries
from medviewer.labels.store_review import ReviewActions
from medviewer.labels.store_rows import now_utc
from medviewer.labels.store_writes import UNDO_DEPTH, AnnotationWrites

FILE_NAME = "labels.sqlite"


class LabelStore(AnnotationWrites, ReviewActions, UndoHistory, LabelQueries, StoreConnection):
    """Labels of DICOM slices and series in one SQLite file.

    Parameters
    ----------
    path : path-like, optional
        The store file; ``user_data_dir() / "labels.sqlite"`` when None. Created (with its
        folder) when absent, unless ``create`` is False or ``read_only`` is True.
    busy_timeout_s : float
        How long a write waits for another instance's transaction before failing.
    read_only : bool
        Open for reading only: every write raises LabelStoreError.
    create : bool
        When False a missing file is an error instead of a new store.

    Every mutating call is one transaction: it either happens entirely or raises
    LabelStoreError (what, which file, what to do) and changes nothing.
    """


__all__ = [
    "FILE_NAME",
    "UNDO_DEPTH",
    "LabelStore",
    "check_key",
    "check_region",
    "default_store_path",
    "fresh_store_path",
    "now_utc",
]
