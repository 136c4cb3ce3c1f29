"""The triage results store: one SQLite file holding one row per (series, model).

Rows are keyed ``UNIQUE(series_key, model_sha256)``: a series is stored once per model and a
row is never overwritten or deleted. Every :meth:`ResultsStore.add` is one durable transaction
(WAL journal, ``synchronous=FULL``), so a triage killed at any moment loses at most the series
in flight, and readers (the worklist, ``triage report``) see the rows while a run adds more.
Opening checks the place first (a read-only file or folder is refused before anything is
written) and refuses, untouched, a file that is damaged, not a results file, or newer; a file
holding another model's results is refused unless that is asked for.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from medviewer.sqlite_files import OwnsConnection
from medviewer.triage.records import (
    ModelIdentity,
    ResultsModelMismatch,
    ResultsStoreError,
    SeriesResult,
    SkippedItem,
    normal_class,
    suspicion,
)
from medviewer.triage.store_file import (
    INSERT_RESULT,
    INSERT_SKIPPED,
    KEPT,
    MOST_SUSPICIOUS_FIRST,
    RESULTS_FORMAT,
    SELECT_RESULTS,
    connect,
    from_row,
    sqlite_error,
    to_row,
    use_wal,
)

__all__ = [
    "RESULTS_FORMAT",
    "ModelIdentity",
    "ResultsModelMismatch",
    "ResultsStore",
    "ResultsStoreError",
    "SeriesResult",
    "default_results_path",
    "SkippedItem",
    "normal_class",
    "suspicion",
]

log = logging.getLogger(__name__)

RESULTS_FILE_NAME = "triage-results.sqlite"


def default_results_path() -> Path:
    """``user_data_dir() / "triage-results.sqlite"`` ($MEDVIEWER_DATA_DIR, else the per-user
    data folder): where a triage stores its results when no file is named."""
    from medviewer.settings import user_data_dir

    return user_data_dir() / RESULTS_FILE_NAME


class ResultsStore(OwnsConnection):
    """One triage results file.

    ``model``: the model whose results this store adds and reads (needed unless
    ``read_only``). When the file already holds results and none of them is of this model
    (same name and weights sha256), opening raises :class:`ResultsModelMismatch`, unless
    ``accept_other_model``: then this model's rows are added beside the old ones.
    ``read_only``: only read (``triage report``, the worklist while a run writes); without a
    model the results read are those of the most recent model in the file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        model: ModelIdentity | None = None,
        *,
        accept_other_model: bool = False,
        read_only: bool = False,
        busy_timeout_s: float = 10.0,
    ) -> None:
        if model is None and not read_only:
            raise ValueError("a results store opened for writing needs the model it stores")
        self.path = Path(path).expanduser()
        self.model = model
        self.read_only = read_only
        self.accept_other_model = accept_other_model
        self.busy_timeout_s = float(busy_timeout_s)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = connect(
            self.path, read_only=read_only, busy_timeout_s=self.busy_timeout_s
        )
        try:
            if model is not None and not read_only:
                self._check_model(self.models())
                # only now: a refused file keeps every byte (and its rollback journal)
                use_wal(self._conn, self.path, self.busy_timeout_s)
        except BaseException:
            self.close()
            raise

    def _check_model(self, stored: list[ModelIdentity]) -> None:
        model = self.model
        assert model is not None
        if not stored or self.accept_other_model:
            return
        if any(m.name == model.name and m.sha256 == model.sha256 for m in stored):
            return
        latest = self._latest_model() or stored[-1]
        raise ResultsModelMismatch(
            f"the results file {self.path} holds results of {latest.describe()}, not of "
            f"{model.describe()}; {KEPT}: add {model.ref}'s results beside them only when "
            "asked to, or choose another results file",
            stored=latest,
            model=model,
            path=self.path,
        )

    def close(self) -> None:
        """Close the file. A writer that is the last one open turns the write-ahead log back
        into the file (rollback journal), so no ``-wal`` / ``-shm`` files stay beside it and
        later readers (``triage report``, the worklist) make none; the next run switches to
        WAL again. With another connection open it leaves WAL as it is, without waiting."""
        with self._lock:
            if self._conn is not None and not self.read_only:
                try:
                    self._conn.execute("PRAGMA busy_timeout = 0")
                    self._conn.execute("PRAGMA journal_mode = DELETE").fetchone()
                except sqlite3.Error:
                    pass  # another reader or writer still has it open: it stays in WAL
            super().close()

    # -- errors and transactions ----------------------------------------------------------------
    def _count(self) -> int | None:
        try:
            return self.conn.execute("SELECT count(*) FROM results").fetchone()[0]
        except sqlite3.Error:
            return None

    def _error(self, exc: sqlite3.Error, action: str) -> ResultsStoreError:
        stored = self._count() if self._conn is not None else None
        return sqlite_error(exc, action, self.path, self.busy_timeout_s, stored)

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self.conn
            if self.read_only:
                raise ResultsStoreError(
                    f"could not {action}: the results file {self.path} was opened read-only; "
                    "nothing was changed"
                )
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:  # SQLite rolled it back already
                        log.debug("rollback after a failed write", exc_info=True)
                if isinstance(exc, sqlite3.Error):
                    raise self._error(exc, action) from exc
                raise

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc, "read the results") from exc

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ResultsStoreError(f"the results file {self.path} is closed; open it again")
        return self._conn

    # -- writing --------------------------------------------------------------------------------
    def add(self, result: SeriesResult) -> bool:
        """Store one series' result in one transaction; False when that series already has a
        result of that model (nothing is written twice). A 'failed' note on the series goes."""
        with self._transaction(f"store the result of series {result.series_key}") as conn:
            added = conn.execute(INSERT_RESULT, to_row(result)).rowcount == 1
            if added:
                conn.execute(
                    "DELETE FROM skipped WHERE location = ? AND code = 'failed'",
                    (result.series_key,),
                )
        return added

    def add_skipped(self, item: SkippedItem) -> None:
        """Note a file or series that was not classified (once per place and code)."""
        with self._transaction(f"note the skipped {item.where}") as conn:
            conn.execute(INSERT_SKIPPED, (item.where, item.code, item.reason))

    def merge_from(self, other_path: str | os.PathLike) -> int:
        """Add the rows of another results file (a rank's) that this one lacks, in one
        transaction; returns how many results were added. Its skipped notes come too."""
        other = ResultsStore(other_path, read_only=True, busy_timeout_s=self.busy_timeout_s)
        try:
            rows = other._read(f"{SELECT_RESULTS} ORDER BY id")
            skipped = other._read("SELECT location, code, reason FROM skipped ORDER BY id")
            theirs = other.models()
        finally:
            other.close()
        if self.model is not None and not self.accept_other_model:
            mine = (self.model.name, self.model.sha256)
            foreign = [m for m in theirs if (m.name, m.sha256) != mine]
            if foreign:
                raise ResultsModelMismatch(
                    f"{other.path} holds results of {foreign[-1].describe()}, not of "
                    f"{self.model.describe()}; nothing was merged into {self.path}",
                    stored=foreign[-1],
                    model=self.model,
                    path=other.path,
                )
        with self._transaction(f"merge the results of {other.path}") as conn:
            before = conn.execute("SELECT count(*) FROM results").fetchone()[0]
            conn.executemany(INSERT_RESULT, rows)
            conn.executemany(INSERT_SKIPPED, skipped)
            after = conn.execute("SELECT count(*) FROM results").fetchone()[0]
        return after - before

    # -- reading --------------------------------------------------------------------------------
    def _latest_model(self) -> ModelIdentity | None:
        rows = self._read(
            "SELECT model_name, model_version, model_sha256 FROM results ORDER BY id DESC LIMIT 1"
        )
        return ModelIdentity(*rows[0]) if rows else None

    def _sha(self, model_sha256: str | None) -> str | None:
        if model_sha256:
            return model_sha256
        if self.model is not None:
            return self.model.sha256
        latest = self._latest_model()
        return latest.sha256 if latest else None

    def done_keys(self) -> set[str]:
        """The series keys that already have a result of this store's model."""
        sha = self._sha(None)
        rows = self._read("SELECT series_key FROM results WHERE model_sha256 = ?", (sha,))
        return {r[0] for r in rows}

    def results(self, model_sha256: str | None = None) -> list[SeriesResult]:
        """One model's results, most suspicious first. Default: this store's model (read-only
        without a model: the model whose result was stored last)."""
        sha = self._sha(model_sha256)
        rows = self._read(
            f"{SELECT_RESULTS} WHERE model_sha256 = ? {MOST_SUSPICIOUS_FIRST}", (sha,)
        )
        return [from_row(r) for r in rows]

    def skipped(self) -> list[SkippedItem]:
        """What was not classified, in the order it was noted."""
        rows = self._read("SELECT location, code, reason FROM skipped ORDER BY id")
        return [SkippedItem(*r) for r in rows]

    def models(self) -> list[ModelIdentity]:
        """The models with results in the file, in the order they first stored one."""
        rows = self._read(
            "SELECT model_name, model_version, model_sha256 FROM results GROUP BY model_sha256, "
            "model_name, model_version ORDER BY min(id)"
        )
        return [ModelIdentity(*r) for r in rows]

    def meta(self) -> dict[str, str]:
        """The file's notes: ``format``, ``created`` (ISO 8601, UTC)."""
        return dict(self._read("SELECT key, value FROM meta"))

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: "ok", or the problems found, one per line."""
        return "\n".join(str(r[0]) for r in self._read("PRAGMA integrity_check"))

    # -- life cycle -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"
