"""Reading a CSV / JSON label file into checked rows, each an Annotation or the reason why not.

A file that cannot be read as a whole (not UTF-8, not CSV / JSON, required columns missing,
a newer format) raises :class:`~medviewer.errors.LabelStoreError`; a bad row raises
:class:`RowError` with what is wrong, so the import can report it and go on.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medviewer.errors import LabelStoreError
from medviewer.labels.file_format import (
    CSV_COLUMNS,
    JSON_FORMAT,
    JSON_VERSION,
    PHI_COLUMNS,
    REQUIRED_COLUMNS,
)
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
from medviewer.labels.store_checks import check_key, check_region

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


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


def _class_named(label_set: LabelSet, label: str) -> str:
    """The class ``label`` means when only its case or its spaces differ ("Normal",
    "hypodense lesion"); else ``label`` itself."""
    wanted = label.casefold().replace(" ", "_").replace("-", "_")
    found = [n for n in label_set.names if n.casefold() == wanted]
    return found[0] if len(found) == 1 else label


def _delimiter(text: str) -> str:
    """ "," unless the header row is separated by ";" or tabs only (Excel saves ";" where the
    decimal mark is a comma)."""
    first = text.split("\n", 1)[0]
    if "," not in first:
        for candidate in (";", "\t"):
            if candidate in first:
                return candidate
    return ","


def csv_records(path: Path, warnings: list[str]) -> list[tuple[int, dict[str, Any]]]:
    """(line, fields) per data row; the whole file is refused when columns are missing."""
    text = _read_text(path)
    delimiter = _delimiter(text)
    if delimiter != ",":
        name = "semicolons" if delimiter == ";" else "tabs"
        warnings.append(f"{path} separates its columns with {name}: read that way")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
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


def json_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
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
class RowError(Exception):
    """A row that cannot be imported; the message says why."""


def _text(rec: dict, name: str, default: str = "") -> str:
    value = rec.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise RowError(f"{name} must be text, got {value!r:.40}")
    return str(value).strip()


def _uid(rec: dict, name: str, *, required: bool) -> str:
    uid = _text(rec, name)
    if not uid:
        if required:
            raise RowError(f"{name} is empty")
        return ""
    if len(uid) > 64 or not _UID.match(uid):
        raise RowError(f"{name} {uid!r:.70} is not a DICOM UID (digits and dots, at most 64)")
    return uid


def _frame(rec: dict) -> int | None:
    value = rec.get("frame")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        frame = int(str(value).strip())
    except ValueError:
        raise RowError(f"frame {value!r:.20} is not a whole number") from None
    if frame < 1:
        raise RowError(f"frame {frame} is below 1 (frames count from 1; empty = single-frame)")
    return frame


def _choice(rec: dict, name: str, choices: tuple[str, ...], default: str) -> str:
    value = _text(rec, name, default) or default
    if value not in choices:
        raise RowError(f"{name} {value!r:.30} is not one of {', '.join(c for c in choices if c)}")
    return value


def _time(rec: dict, name: str, fallback: str) -> str:
    value = _text(rec, name)
    if not value:
        return fallback
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"{name} {value!r:.40} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise RowError(f"{name} {value!r:.40} has no time zone (add +00:00 for UTC)")
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
                raise RowError(f"model {text!r:.60} is not name:version")
            ref = ModelRef(name.strip(), version.strip(), "")
    if source == "model" and ref is None:
        raise RowError("source is model but the model (name:version) is empty")
    if source == "human" and ref is not None:
        raise RowError(f"source is human but a model ({ref}) is given")
    if ref is not None and not (ref.name and ref.version):
        raise RowError("the model needs a name and a version")
    return ref


def _region(rec: dict) -> Region | None:
    value = rec.get("region")
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        raise RowError("region must be {x0, y0, x1, y1} or null")
    try:
        region = Region(*(float(value[k]) for k in ("x0", "y0", "x1", "y1")))
    except (KeyError, TypeError, ValueError):
        raise RowError(f"region {value!r:.60} needs numbers x0, y0, x1, y1") from None
    try:
        check_region(region)
    except LabelStoreError as exc:
        raise RowError(str(exc)) from None
    return region


def record_annotation(
    rec: dict, label_set: LabelSet, known_series: set[str] | None, now: str
) -> Annotation:
    """One checked record as an Annotation (id 0), or RowError saying what is wrong."""
    if "_error" in rec:
        raise RowError(rec["_error"])
    study = _uid(rec, "study_uid", required=True)
    series = _uid(rec, "series_uid", required=True)
    sop = _uid(rec, "sop_uid", required=False)
    frame = _frame(rec)
    if known_series is not None and series not in known_series:
        raise RowError(f"series {series} is not in the open studies")
    label = _text(rec, "label")
    if not label:
        raise RowError("label is empty")
    if label_set.by_name(label) is None:
        label = _class_named(label_set, label)
    if label_set.by_name(label) is None:
        raise RowError(
            f"label {label!r:.40} is not a class of the label set {label_set.name} "
            f"({', '.join(label_set.names)})"
        )
    default_scope = "slice" if sop else "series"
    scope = _choice(rec, "scope", SCOPES, default_scope)
    key = SliceKey(study, series, sop, frame)
    try:
        check_key(key, scope)
    except LabelStoreError as exc:
        raise RowError(str(exc)) from None
    annotator = " ".join(_text(rec, "annotator").split())
    if not annotator:
        raise RowError("annotator is empty")
    source = _choice(rec, "source", SOURCES, "human")
    model = _model(rec, source)
    status = _choice(rec, "status", STATUSES, "final")
    review = _choice(rec, "review", REVIEWS, "")
    reviewer = _text(rec, "reviewer")
    if review and not reviewer:
        raise RowError(f"review {review!r} has no reviewer")
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
