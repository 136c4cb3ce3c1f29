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
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medviewer.errors import LabelStoreError
from medviewer.labels.schema import (
    REVIEWS,
    SCOPES,
    SOURCES,
    STATUSES,
    Annotation,
    LabelSet,
    ModelRef,
    Region,
    SliceKey,
)
from medviewer.labels.store import LabelStore, check_key, check_region, now_utc

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
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


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


# -- export ---------------------------------------------------------------------------------------
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


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise LabelStoreError(
            f"cannot tell the format of {path}: name it .csv or .json (got {suffix or 'none'})"
        )
    return suffix[1:]


def export_labels(
    store: LabelStore, path: str | os.PathLike, *, include_phi: bool = False, **query_filters
) -> int:
    """Write the store's current labels (filtered like :meth:`LabelStore.query`) to ``path``
    (.csv or .json by suffix), atomically; returns how many. File paths (``path_hint``) are
    written only with ``include_phi``: they may hold patient names."""
    path = Path(path)
    kind = _format_of(path)
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
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fp:
            fp.write(text)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise LabelStoreError(
            f"cannot write the labels to {path} ({exc.strerror or exc}); choose another file"
        ) from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


# -- import: reading ------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LabelStoreError(f"no such file: {path}") from None
    except UnicodeDecodeError as exc:
        raise LabelStoreError(
            f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV or JSON"
        ) from exc
    except OSError as exc:
        raise LabelStoreError(f"cannot read {path} ({exc.strerror or exc})") from exc


def _csv_records(path: Path, warnings: list[str]) -> list[tuple[int, dict[str, Any]]]:
    """(line, fields) per data row; the whole file is refused when columns are missing."""
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise LabelStoreError(
            f"{path} is empty; a label CSV starts with the header row {','.join(CSV_COLUMNS)}"
        ) from None
    except csv.Error as exc:
        raise LabelStoreError(f"{path}, line 1: not a readable CSV header ({exc})") from exc
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise LabelStoreError(
            f"{path}, line 1: the header lacks the column(s) {', '.join(missing)}; nothing was "
            f"imported. A label CSV has the columns {','.join(CSV_COLUMNS)}"
        )
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise LabelStoreError(
            f"{path}, line 1: the column(s) {', '.join(repeated)} appear twice; nothing was "
            "imported"
        )
    known = set(CSV_COLUMNS) | set(PHI_COLUMNS)
    extra = [h for h in header if h not in known]
    if extra:
        warnings.append(f"column(s) {', '.join(extra)} of {path} are not label fields: ignored")
    absent = [c for c in CSV_COLUMNS if c not in header]
    if absent:
        warnings.append(f"{path} has no column(s) {', '.join(absent)}: their defaults were used")
    out = []
    line = reader.line_num + 1
    try:
        for values in reader:
            start, line = line, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                out.append(
                    (start, {"_error": f"has {len(values)} fields, the header {len(header)}"})
                )
                continue
            out.append((start, dict(zip(header, values))))
    except csv.Error as exc:
        raise LabelStoreError(
            f"{path}, line {reader.line_num}: not readable as CSV ({exc}); nothing was imported"
        ) from exc
    return out


def _json_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    text = _read_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelStoreError(
            f"{path}, line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}); "
            "nothing was imported"
        ) from exc
    entries = doc.get("labels") if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise LabelStoreError(
            f'{path} holds no list of labels (expected {{"format": "{JSON_FORMAT}", '
            '"labels": [...]}); nothing was imported'
        )
    if isinstance(doc, dict) and doc.get("format", JSON_FORMAT) != JSON_FORMAT:
        raise LabelStoreError(
            f"{path}: field 'format' is {doc.get('format')!r:.40}, not {JSON_FORMAT!r}; "
            "nothing was imported"
        )
    if isinstance(doc, dict) and isinstance(doc.get("version"), int):
        if doc["version"] > JSON_VERSION:
            raise LabelStoreError(
                f"{path} was written by a newer medviewer (labels format {doc['version']}, this "
                f"version reads {JSON_VERSION}); update medviewer to import it"
            )
    out = []
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            out.append((i, {"_error": "is not an object of label fields"}))
            continue
        out.append((i, entry))
    return out


# -- import: checking -----------------------------------------------------------------------------
class _RowError(Exception):
    pass


def _text(rec: dict, name: str, default: str = "") -> str:
    value = rec.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise _RowError(f"{name} must be text, got {value!r:.40}")
    return str(value).strip()


def _uid(rec: dict, name: str, *, required: bool) -> str:
    uid = _text(rec, name)
    if not uid:
        if required:
            raise _RowError(f"{name} is empty")
        return ""
    if len(uid) > 64 or not _UID.match(uid):
        raise _RowError(f"{name} {uid!r:.70} is not a DICOM UID (digits and dots, at most 64)")
    return uid


def _frame(rec: dict) -> int | None:
    value = rec.get("frame")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        frame = int(str(value).strip())
    except ValueError:
        raise _RowError(f"frame {value!r:.20} is not a whole number") from None
    if frame < 1:
        raise _RowError(f"frame {frame} is below 1 (frames count from 1; empty = single-frame)")
    return frame


def _choice(rec: dict, name: str, choices: tuple[str, ...], default: str) -> str:
    value = _text(rec, name, default) or default
    if value not in choices:
        raise _RowError(f"{name} {value!r:.30} is not one of {', '.join(c for c in choices if c)}")
    return value


def _time(rec: dict, name: str, fallback: str) -> str:
    value = _text(rec, name)
    if not value:
        return fallback
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _RowError(f"{name} {value!r:.40} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise _RowError(f"{name} {value!r:.40} has no time zone (add +00:00 for UTC)")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _model(rec: dict, source: str) -> ModelRef | None:
    value = rec.get("model")
    if isinstance(value, dict):
        ref = ModelRef(_text(value, "name"), _text(value, "version"), _text(value, "sha256"))
    else:
        text = _text(rec, "model")
        if not text:
            ref = None
        else:
            name, sep, version = text.partition(":")
            if not sep or not name.strip() or not version.strip():
                raise _RowError(f"model {text!r:.60} is not name:version")
            ref = ModelRef(name.strip(), version.strip(), "")
    if source == "model" and ref is None:
        raise _RowError("source is model but the model (name:version) is empty")
    if source == "human" and ref is not None:
        raise _RowError(f"source is human but a model ({ref}) is given")
    if ref is not None and not (ref.name and ref.version):
        raise _RowError("the model needs a name and a version")
    return ref


def _region(rec: dict) -> Region | None:
    value = rec.get("region")
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        raise _RowError("region must be {x0, y0, x1, y1} or null")
    try:
        region = Region(*(float(value[k]) for k in ("x0", "y0", "x1", "y1")))
    except (KeyError, TypeError, ValueError):
        raise _RowError(f"region {value!r:.60} needs numbers x0, y0, x1, y1") from None
    try:
        check_region(region)
    except LabelStoreError as exc:
        raise _RowError(str(exc)) from None
    return region


def _annotation(
    rec: dict, label_set: LabelSet, known_series: set[str] | None, now: str
) -> Annotation:
    """One checked record as an Annotation (id 0), or _RowError saying what is wrong."""
    if "_error" in rec:
        raise _RowError(rec["_error"])
    study = _uid(rec, "study_uid", required=True)
    series = _uid(rec, "series_uid", required=True)
    sop = _uid(rec, "sop_uid", required=False)
    frame = _frame(rec)
    if known_series is not None and series not in known_series:
        raise _RowError(f"series {series} is not in the open studies")
    label = _text(rec, "label")
    if not label:
        raise _RowError("label is empty")
    if label_set.by_name(label) is None:
        raise _RowError(
            f"label {label!r:.40} is not a class of the label set {label_set.name} "
            f"({', '.join(label_set.names)})"
        )
    default_scope = "slice" if sop else "series"
    scope = _choice(rec, "scope", SCOPES, default_scope)
    key = SliceKey(study, series, sop, frame)
    try:
        check_key(key, scope)
    except LabelStoreError as exc:
        raise _RowError(str(exc)) from None
    annotator = " ".join(_text(rec, "annotator").split())
    if not annotator:
        raise _RowError("annotator is empty")
    source = _choice(rec, "source", SOURCES, "human")
    model = _model(rec, source)
    status = _choice(rec, "status", STATUSES, "final")
    review = _choice(rec, "review", REVIEWS, "")
    reviewer = _text(rec, "reviewer")
    if review and not reviewer:
        raise _RowError(f"review {review!r} has no reviewer")
    updated = _time(rec, "updated_at", now)
    created = _time(rec, "created_at", updated)
    return Annotation(
        id=0,
        key=key,
        label=label,
        scope=scope,
        annotator=annotator,
        source=source,
        model=model,
        region=_region(rec),
        status=status,
        review=review,
        reviewer=reviewer if review else "",
        comment=_text(rec, "comment"),
        created_at=created,
        updated_at=updated,
        label_set=_text(rec, "label_set") or label_set.name,
        path_hint=_text(rec, "path_hint"),
    )


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
    kind = _format_of(path)
    if label_set is None:
        from medviewer.labels.label_sets import default_label_set

        label_set = default_label_set()
    warnings: list[str] = []
    records = _csv_records(path, warnings) if kind == "csv" else _json_records(path)
    report = ImportReport(0, [], 0, warnings, rows=len(records), dry_run=dry_run)
    now = now_utc()
    good: list[tuple[int, Annotation]] = []
    for line, rec in records:
        try:
            good.append((line, _annotation(rec, label_set, known_series, now)))
        except _RowError as exc:
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


__all__ = [
    "CSV_COLUMNS",
    "JSON_FORMAT",
    "PHI_COLUMNS",
    "REQUIRED_COLUMNS",
    "ImportReport",
    "SkippedRow",
    "export_labels",
    "import_labels",
]
