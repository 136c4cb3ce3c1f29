"""Import a CSV / JSON label file: all-or-nothing, with a per-row report.

An import checks every row first (:mod:`medviewer.labels.import_rows`), then writes the good
ones in ONE transaction: an error mid-way leaves the store as it was. Rows that cannot be
imported are reported with their line (CSV) or entry number (JSON) and the reason; they never
stop the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from medviewer.labels.file_format import format_of
from medviewer.labels.import_rows import RowError, csv_records, json_records, record_annotation
from medviewer.labels.schema import Annotation, LabelSet
from medviewer.labels.store import LabelStore
from medviewer.labels.store_rows import now_utc


@dataclass(frozen=True)
class SkippedRow:
    """A row that was not imported: its CSV line (JSON: entry number, from 1) and why."""

    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did. ``unchanged``: rows the store already held exactly."""

    imported: int
    skipped: list[SkippedRow]
    unchanged: int
    warnings: list[str] = field(default_factory=list)
    rows: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "unchanged": self.unchanged,
            "skipped": [asdict(s) for s in self.skipped],
            "n_skipped": len(self.skipped),
            "rows": self.rows,
            "warnings": list(self.warnings),
            "dry_run": self.dry_run,
        }


def _content(ann: Annotation) -> tuple:
    """Everything but the database id, label set and path: what makes two rows the same."""
    return (
        ann.key,
        ann.annotator,
        ann.label,
        ann.scope,
        ann.source,
        ann.model,
        ann.region,
        ann.status,
        ann.review,
        ann.reviewer,
        ann.comment,
        ann.created_at,
        ann.updated_at,
    )


def _differences(a: Annotation, b: Annotation) -> str:
    names = ("label", "scope", "source", "model", "status", "review", "reviewer", "comment")
    diffs = [f"{n} {getattr(a, n)!s:.30} vs {getattr(b, n)!s:.30}" for n in names]
    diffs = [d for d, n in zip(diffs, names) if getattr(a, n) != getattr(b, n)]
    return "; ".join(diffs) or f"updated_at {a.updated_at} vs {b.updated_at}"


def _merge_csv(ann: Annotation, cur: Annotation | None) -> Annotation:
    """A CSV row lacks region, sha256, created_at, label set and path: keep the store's."""
    if cur is None:
        return ann
    model = ann.model
    if model is not None and cur.model is not None and str(model) == str(cur.model):
        model = cur.model
    return replace(
        ann,
        model=model,
        region=cur.region,
        created_at=cur.created_at if cur.created_at <= ann.updated_at else ann.updated_at,
        label_set=cur.label_set or ann.label_set,
        path_hint=ann.path_hint or cur.path_hint,
    )


class _DryRun(Exception):
    pass


def import_labels(
    store: LabelStore,
    path: str | os.PathLike,
    *,
    label_set: LabelSet | None = None,
    known_series: set[str] | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Import a CSV or JSON label file into ``store`` in one transaction.

    Rows are checked against ``label_set`` (default: :func:`default_label_set`) and, when
    given, ``known_series`` (Series Instance UIDs of the open studies). Skipped, with the line
    and reason: unknown classes, bad fields, unknown series, duplicates (an identical row seen
    before), conflicts (the same key and annotator with different content: every such row is
    skipped, since which one is right cannot be told), and rows older than the store's label
    of that key and annotator. ``dry_run`` checks everything and writes nothing.

    Raises LabelStoreError when the file as a whole is refused (unreadable, not CSV / JSON,
    required columns missing) or the store cannot be written; then nothing is imported.
    """
    path = Path(path)
    kind = format_of(path)
    if label_set is None:
        from medviewer.labels.label_sets import default_label_set

        label_set = default_label_set()
    warnings: list[str] = []
    records = csv_records(path, warnings) if kind == "csv" else json_records(path)
    report = ImportReport(0, [], 0, warnings, rows=len(records), dry_run=dry_run)
    now = now_utc()
    good: list[tuple[int, Annotation]] = []
    for line, rec in records:
        try:
            good.append((line, record_annotation(rec, label_set, known_series, now)))
        except RowError as exc:
            report.skipped.append(SkippedRow(line, str(exc)))
    accepted = _drop_duplicates_and_conflicts(good, report)
    try:
        with store.transaction(f"import {path.name}"):
            _write_rows(store, accepted, report, csv_rows=kind == "csv")
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    report.skipped.sort(key=lambda s: s.line)
    return report


def _drop_duplicates_and_conflicts(
    good: list[tuple[int, Annotation]], report: ImportReport
) -> list[tuple[int, Annotation]]:
    groups: dict[tuple, list[tuple[int, Annotation]]] = {}
    for line, ann in good:
        groups.setdefault((ann.key, ann.annotator), []).append((line, ann))
    accepted = []
    for rows in groups.values():
        first_line, first = rows[0]
        if all(_content(a) == _content(first) for _, a in rows[1:]):
            accepted.append(rows[0])
            for line, _ in rows[1:]:
                report.skipped.append(SkippedRow(line, f"duplicate of line {first_line}"))
            continue
        for line, ann in rows:
            others = [(n, a) for n, a in rows if n != line and _content(a) != _content(ann)]
            n, other = others[0]
            report.skipped.append(
                SkippedRow(
                    line,
                    f"conflicts with line {n} (same image and annotator {ann.annotator}: "
                    f"{_differences(ann, other)}); fix one of them and import again",
                )
            )
    accepted.sort(key=lambda item: item[0])
    return accepted


def _write_rows(
    store: LabelStore,
    rows: Iterable[tuple[int, Annotation]],
    report: ImportReport,
    *,
    csv_rows: bool,
) -> None:
    for line, ann in rows:
        cur = store.current(ann.key, annotator=ann.annotator)
        if csv_rows:
            ann = _merge_csv(ann, cur)
        if cur is not None and _content(cur) == _content(ann) and cur.label_set == ann.label_set:
            report.unchanged += 1
            continue
        if cur is not None and cur.updated_at > ann.updated_at:
            report.skipped.append(
                SkippedRow(
                    line,
                    f"the store holds a newer label by {ann.annotator} for this image "
                    f"({cur.label!r}, updated {cur.updated_at}); kept it",
                )
            )
            continue
        store.import_annotation(ann)
        report.imported += 1
