"""Reading the label store: current labels of a key, a series or a filter, and counts.

:class:`LabelQueries` is the read side of :class:`~medviewer.labels.store.LabelStore`; every
query goes through the connection's locked :meth:`_read` (history lives in
:mod:`medviewer.labels.store_history`).
"""

from __future__ import annotations

from typing import Any

from medviewer.labels.migrations import STATE_FIELDS
from medviewer.labels.schema import Annotation, SliceKey
from medviewer.labels.store_rows import (
    COLUMNS,
    KEY_WHERE,
    STATE_COLUMNS,
    annotation_from_row,
    key_params,
)


class LabelQueries:
    """The queries of a LabelStore (mixed into it; uses its connection)."""

    def _row(self, key: SliceKey, annotator: str) -> tuple[int, dict[str, Any]] | None:
        """(id, state) of the key's row for ``annotator``, active or cleared."""
        rows = self.conn.execute(
            f"SELECT id, {STATE_COLUMNS} FROM annotations WHERE {KEY_WHERE} AND annotator = ?",
            (*key_params(key), annotator),
        ).fetchall()
        if not rows:
            return None
        return rows[0][0], dict(zip(STATE_FIELDS, rows[0][1:]))

    def _get(self, aid: int) -> Annotation:
        row = self.conn.execute(f"SELECT {COLUMNS} FROM annotations WHERE id = ?", (aid,))
        return annotation_from_row(row.fetchone())

    def current(self, key: SliceKey, *, annotator: str | None = None) -> Annotation | None:
        """The annotator's label of ``key``; with no annotator the most recently updated one."""
        sql = f"SELECT {COLUMNS} FROM annotations WHERE {KEY_WHERE} AND active = 1"
        params: tuple = key_params(key)
        if annotator is not None:
            sql += " AND annotator = ?"
            params += (annotator,)
        rows = self._read(sql + " ORDER BY updated_at DESC, id DESC LIMIT 1", params)
        return annotation_from_row(rows[0]) if rows else None

    def labels_of(self, key: SliceKey) -> list[Annotation]:
        """Every annotator's current label of ``key``, sorted by annotator."""
        sql = f"SELECT {COLUMNS} FROM annotations WHERE {KEY_WHERE} AND active = 1"
        return [
            annotation_from_row(r) for r in self._read(sql + " ORDER BY annotator", key_params(key))
        ]

    def series_labels(
        self, series_uid: str, *, annotator: str | None = None
    ) -> dict[SliceKey, Annotation]:
        """Every current label in a series (one indexed query); with no annotator, the most
        recently updated label of each key."""
        sql = f"SELECT {COLUMNS} FROM annotations WHERE series_uid = ? AND active = 1"
        params: tuple = (series_uid,)
        if annotator is not None:
            sql += " AND annotator = ?"
            params += (annotator,)
        out: dict[SliceKey, Annotation] = {}
        for row in self._read(sql + " ORDER BY updated_at, id", params):
            ann = annotation_from_row(row)
            out[ann.key] = ann
        return out

    def query(
        self,
        *,
        series_uid: str | None = None,
        label: str | None = None,
        annotator: str | None = None,
        status: str | None = None,
        review: str | None = None,
        source: str | None = None,
        study_uid: str | None = None,
    ) -> list[Annotation]:
        """Current labels matching every filter given, in a stable order (study, series,
        image, frame, annotator) so exports are reproducible."""
        where, params = ["active = 1"], []
        for column, value in (
            ("series_uid", series_uid),
            ("study_uid", study_uid),
            ("label", label),
            ("annotator", annotator),
            ("status", status),
            ("review", review),
            ("source", source),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = (
            f"SELECT {COLUMNS} FROM annotations WHERE {' AND '.join(where)}"
            " ORDER BY study_uid, series_uid, sop_uid, frame, annotator"
        )
        return [annotation_from_row(r) for r in self._read(sql, tuple(params))]

    def annotators(self) -> list[str]:
        """Names of everyone with a current label, sorted."""
        rows = self._read("SELECT DISTINCT annotator FROM annotations WHERE active = 1")
        return sorted(r[0] for r in rows)

    def stats(self) -> dict:
        """Counts of current labels: total and by label, annotator, status, review, source."""
        out: dict[str, Any] = {
            "total": self._read("SELECT count(*) FROM annotations WHERE active = 1")[0][0]
        }
        for column in ("label", "annotator", "status", "review", "source"):
            rows = self._read(
                f"SELECT {column}, count(*) FROM annotations WHERE active = 1"
                f" GROUP BY {column} ORDER BY {column}"
            )
            out[f"by_{column}"] = {value: n for value, n in rows}
        return out
