"""Query a node (C-FIND, Study Root, study or series level).

:func:`find_iter` is a job: it yields :class:`~medviewer.jobs.Progress` every
:data:`PAGE` matches (``detail``: the new matches) and returns a :class:`FindResult`. A query
that matches thousands of studies streams them page by page, stops at ``limit`` (the node is
sent a C-CANCEL) and can be cancelled at any page.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import asdict, dataclass, field

from medviewer.jobs import CancelToken, Job, Progress
from medviewer.net.association import (
    TIMEOUT_S,
    NetError,
    associate,
    park_reactor,
    status_code,
    status_words,
)
from medviewer.net.nodes import NodeError, RemoteNode

FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve Information Model - FIND
LEVELS = ("STUDY", "SERIES")
PAGE = 50
DEFAULT_LIMIT = 5000


@dataclass(frozen=True)
class Query:
    """What to look for; empty fields match anything. ``patient_name`` may use ``*`` and
    ``?`` wildcards; ``date_from`` / ``date_to`` are YYYYMMDD (either may be empty)."""

    patient_name: str = ""
    patient_id: str = ""
    accession: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = ""
    description: str = ""
    study_uid: str = ""
    """Needed for a series-level query (the series of one study)."""

    def checked(self, level: str) -> Query:
        for name in ("date_from", "date_to"):
            value = getattr(self, name).strip()
            if value and not _valid_date(value):
                raise NodeError(
                    f"the date {value!r} is not a date: write it as YYYYMMDD, e.g. 20261206"
                )
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise NodeError(f"the date range {self.date_from}-{self.date_to} ends before it starts")
        if level == "SERIES" and not self.study_uid.strip():
            raise NodeError("a series query needs the study: give its Study Instance UID")
        return self


def _valid_date(text: str) -> bool:
    if not re.fullmatch(r"\d{8}", text):
        return False
    try:
        _dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Match:
    """One study or series found on a node."""

    level: str
    study_uid: str
    series_uid: str = ""
    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    accession: str = ""
    description: str = ""
    modalities: str = ""
    series_number: str = ""
    instances: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FindResult:
    """Every match received, and whether the list is complete."""

    node: str
    level: str
    matches: list[Match] = field(default_factory=list)
    truncated: bool = False
    """True when ``limit`` stopped the query before the node had sent every match."""
    message: str = ""

    def to_dict(self) -> dict:
        return {
            "node": self.node,
            "level": self.level,
            "count": len(self.matches),
            "truncated": self.truncated,
            "message": self.message,
            "matches": [m.to_dict() for m in self.matches],
        }


def _identifier(query: Query, level: str):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = level
    ds.PatientName = query.patient_name
    ds.PatientID = query.patient_id
    ds.StudyInstanceUID = query.study_uid
    ds.StudyDate = (
        f"{query.date_from}-{query.date_to}" if (query.date_from or query.date_to) else ""
    )
    ds.AccessionNumber = query.accession
    ds.StudyDescription = query.description if level == "STUDY" else ""
    if level == "STUDY":
        ds.ModalitiesInStudy = query.modality
        ds.NumberOfStudyRelatedInstances = ""
    else:
        ds.SeriesInstanceUID = ""
        ds.Modality = query.modality
        ds.SeriesDescription = query.description
        ds.SeriesNumber = ""
        ds.NumberOfSeriesRelatedInstances = ""
    return ds


def _text(ds, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if keyword == "ModalitiesInStudy" and not isinstance(value, str):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _count(ds, keyword: str) -> int | None:
    try:
        return int(ds.get(keyword))
    except (TypeError, ValueError):
        return None


def _match(ds, level: str) -> Match:
    series = level == "SERIES"
    return Match(
        level=level,
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID") if series else "",
        patient_name=_text(ds, "PatientName"),
        patient_id=_text(ds, "PatientID"),
        study_date=_text(ds, "StudyDate"),
        accession=_text(ds, "AccessionNumber"),
        description=_text(ds, "SeriesDescription" if series else "StudyDescription"),
        modalities=_text(ds, "Modality" if series else "ModalitiesInStudy"),
        series_number=_text(ds, "SeriesNumber") if series else "",
        instances=_count(
            ds, "NumberOfSeriesRelatedInstances" if series else "NumberOfStudyRelatedInstances"
        ),
    )


def find_iter(
    node: RemoteNode,
    calling_ae: str,
    query: Query,
    level: str = "STUDY",
    *,
    limit: int = DEFAULT_LIMIT,
    cancel: CancelToken | None = None,
    timeout: float = TIMEOUT_S,
) -> Job[FindResult]:
    """C-FIND ``query`` at ``level`` on ``node``; see the module docstring."""
    level = str(level).upper()
    if level not in LEVELS:
        raise NodeError(f"query level {level!r} is unknown; choose study or series")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise NodeError(f"the match limit must be a whole number of at least 1 (got {limit!r})")
    query = query.checked(level)
    result = FindResult(node.name, level)
    assoc = associate(node, calling_ae, [FIND], what="query", timeout=timeout)
    page: list[Match] = []
    try:
        park_reactor(assoc)
        responses = assoc.send_c_find(_identifier(query, level), FIND)
        final = None
        for status, identifier in responses:
            code = status_code(
                status, f"query of {node.describe()}", f"{len(result.matches)} matches came before"
            )
            if code in (0xFF00, 0xFF01):
                if identifier is not None:
                    page.append(_match(identifier, level))
                if len(result.matches) + len(page) >= limit:
                    result.matches.extend(page)
                    page = []
                    result.truncated = True
                    assoc.send_c_cancel(1, query_model=FIND)
                    for _ in responses:  # drain the cancelled query's last responses
                        pass
                    break
                if len(page) >= PAGE:
                    result.matches.extend(page)
                    yield Progress(len(result.matches), None, _found(result), detail=page)
                    page = []
                    if cancel is not None and cancel.cancelled:
                        assoc.send_c_cancel(1, query_model=FIND)
                        cancel.raise_if_cancelled()
                continue
            final = code
            if code != 0 and code != 0xFE00:
                raise NetError(
                    f"query of {node.describe()} failed: it answered {status_words(status)}",
                    "failed",
                )
        result.matches.extend(page)
        if page:
            yield Progress(len(result.matches), None, _found(result), detail=page)
        if final is None and not result.truncated:
            raise NetError(
                f"query of {node.describe()}: the node closed the association before the "
                "final answer",
                "aborted",
            )
    finally:
        if assoc.is_established:
            assoc.release()
    result.message = _found(result) + (
        f"; stopped at {limit}: narrow the query (a date range, a patient ID)"
        if result.truncated
        else ""
    )
    return result


def _found(result: FindResult) -> str:
    n = len(result.matches)
    what = ("study" if n == 1 else "studies") if result.level == "STUDY" else "series"
    return f"{n} {what} found on {result.node}"
