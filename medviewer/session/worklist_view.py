"""What the triage worklist dock shows, computed without Qt.

The rows are the series results of a triage results file with the Labels store's review
status of each series; the most suspicious come first. :class:`Worklist` holds them and the
filters (one top class, not yet reviewed); :func:`load_worklist_iter` is the job that reads a
results file and the review status of its series on a worker. The pieces live in
:mod:`~medviewer.session.worklist_rows` (cells, order, opening a row),
:mod:`~medviewer.session.worklist_review` (review status) and
:mod:`~medviewer.session.worklist_progress` (a running triage's texts); they are re-exported
here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medviewer.jobs import Job, Progress
from medviewer.session.worklist_progress import (
    CANCELLING,
    Controls,
    cancelled_text,
    controls,
    progress_text,
    reading_text,
    results_text,
    summary_text,
)
from medviewer.session.worklist_review import (
    UNKNOWN_REVIEW,
    ReviewStatus,
    read_reviews,
    review_status,
    review_statuses,
)
from medviewer.session.worklist_rows import (
    COLUMNS,
    SUSPICIOUS,
    OpenRequest,
    WorklistRow,
    make_row,
    model_differs_text,
    model_missing_text,
    open_request,
    opened_text,
    opening_text,
    slice_to_show,
    sort_key,
    suspicious_class,
)

ALL_CLASSES = "All results"
NO_RESULTS = "No triage results: open a results file or start a triage"


def default_results_path():
    """Where the app and ``medviewer triage`` keep results unless told otherwise."""
    from medviewer.triage.store import default_results_path as default

    return default()


# -- the worklist ------------------------------------------------------------------------------
class Worklist:
    """The rows of the worklist dock: results by (series key, model), review status by series
    UID, the filters; :meth:`rows` are the rows shown, sorted by suspicion.

    Rows are made once and kept until their result or review changes, so a label written in
    the Labels dock costs one row, not the whole list."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, str], object] = {}
        self._by_uid: dict[str, set[tuple[str, str]]] = {}
        self._reviews: dict[str, ReviewStatus] = {}
        self._made: dict[tuple[str, str], WorklistRow] = {}
        self._order: list[tuple[str, str]] | None = None
        self._rows: list[WorklistRow] | None = None
        self.class_filter: str | None = None
        self.unreviewed_only = False
        self.deidentified = False
        self.source: str = ""
        """The results file shown ("" when none)."""
        self.skipped: list = []

    def _changed(self, keys=None) -> None:
        if keys is None:
            self._made.clear()
        for key in keys or ():
            self._made.pop(key, None)
        self._rows = None

    def clear(self, source: str = "") -> None:
        self._results.clear()
        self._by_uid.clear()
        self._reviews.clear()
        self.skipped = []
        self.source = str(source)
        self._order = None
        self._changed()

    def set_results(self, results, reviews=None, skipped=None, source: str = "") -> None:
        """Show ``results`` (replacing what was shown) with their review status."""
        self.clear(source)
        for r in results:
            self.add(r)
        self._reviews.update(reviews or {})
        self.skipped = list(skipped or [])

    def add(self, result, review: ReviewStatus | None = None) -> bool:
        """A live row of a running triage; False when that series was already listed."""
        key = (result.series_key, result.model.sha256)
        new = key not in self._results
        self._results[key] = result
        self._by_uid.setdefault(result.series_uid, set()).add(key)
        if review is not None:
            self._reviews[result.series_uid] = review
        self._order = None
        self._changed([key])
        return new

    def add_skipped(self, item) -> None:
        if all((s.where, s.code) != (item.where, item.code) for s in self.skipped):
            self.skipped.append(item)

    def set_review(self, series_uid: str, status: ReviewStatus) -> bool:
        """The review status of a series changed; True when it is listed and differs."""
        if self._reviews.get(series_uid) == status:
            return False
        self._reviews[series_uid] = status
        keys = self._by_uid.get(series_uid)
        if keys:
            self._changed(keys)
        return bool(keys)

    def review_of(self, result) -> ReviewStatus:
        return self._reviews.get(result.series_uid) or ReviewStatus(total=result.n_slices)

    def set_filters(self, class_filter: str | None, unreviewed_only: bool) -> None:
        self.class_filter = class_filter or None
        self.unreviewed_only = bool(unreviewed_only)
        self._rows = None

    def set_deidentified(self, on: bool) -> None:
        self.deidentified = bool(on)
        self._changed()

    def results(self) -> list:
        """Every result listed, most suspicious first (filters ignored)."""
        if self._order is None:
            self._order = sorted(self._results, key=lambda k: sort_key(self._results[k]))
        return [self._results[k] for k in self._order]

    def rows(self) -> list[WorklistRow]:
        """The rows shown: filtered, most suspicious first."""
        if self._rows is None:
            rows = []
            for r in self.results():
                if self.class_filter is not None and r.top_class != self.class_filter:
                    continue
                review = self.review_of(r)
                if self.unreviewed_only and review.reviewed:
                    continue
                key = (r.series_key, r.model.sha256)
                row = self._made.get(key)
                if row is None:
                    row = self._made[key] = make_row(r, review, self.deidentified)
                rows.append(row)
            self._rows = rows
        return self._rows

    def index_of(self, key) -> int | None:
        return next((i for i, row in enumerate(self.rows()) if row.key == key), None)

    def n_slices_of(self, series_uid: str) -> int | None:
        """The slice count of a listed series (None when it is not listed)."""
        keys = self._by_uid.get(series_uid)
        return self._results[next(iter(keys))].n_slices if keys else None

    def class_choices(self) -> list[tuple[str, str | None]]:
        """(text, class) of the class filter: every result first, then each top class with
        its count."""
        counts: dict[str, int] = {}
        for r in self._results.values():
            counts[r.top_class] = counts.get(r.top_class, 0) + 1
        if self.class_filter and self.class_filter not in counts:
            counts[self.class_filter] = 0
        choices: list[tuple[str, str | None]] = [(f"{ALL_CLASSES} ({len(self._results)})", None)]
        choices += [(f"{c} ({n})", c) for c, n in sorted(counts.items())]
        return choices

    def summary_text(self) -> str:
        """``"12 series · 4 suspicious · 3 not reviewed · 2 skipped"`` (+ what is shown)."""
        results = list(self._results.values())
        if not results and not self.skipped:
            return NO_RESULTS
        suspicious = sum(float(r.suspicion) >= SUSPICIOUS for r in results)
        open_ = sum(not self.review_of(r).reviewed for r in results)
        parts = [f"{len(results)} series", f"{suspicious} suspicious", f"{open_} not reviewed"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        shown = len(self.rows())
        if shown != len(results):
            parts.append(f"{shown} shown")
        return " · ".join(parts)

    def skipped_text(self, limit: int = 30) -> str:
        """The skipped items, one a line (the tooltip of the summary)."""
        lines = [f"{s.where}: {s.reason}" for s in self.skipped[:limit]]
        if len(self.skipped) > limit:
            lines.append(f"… and {len(self.skipped) - limit} more")
        return "\n".join(lines)


# -- the job that reads a results file ---------------------------------------------------------
@dataclass
class LoadedWorklist:
    path: str
    results: list
    skipped: list
    reviews: dict[str, ReviewStatus] = field(default_factory=dict)
    review_problem: str | None = None


def load_worklist_iter(
    results_path, label_store_path=None, model_sha256: str | None = None
) -> Job[LoadedWorklist]:
    """Read a results file (read-only: the most recent model's rows unless
    ``model_sha256``) and the review status of its series."""
    from medviewer.triage.store import ResultsStore

    yield Progress(0, 2, f"reading {results_path}")
    with ResultsStore(results_path, read_only=True) as store:
        results = store.results(model_sha256)
        skipped = store.skipped()
    yield Progress(1, 2, "reading the review status")
    reviews, problem = read_reviews(label_store_path, results)
    return LoadedWorklist(str(results_path), results, skipped, reviews, problem)


__all__ = [
    "ALL_CLASSES",
    "CANCELLING",
    "COLUMNS",
    "NO_RESULTS",
    "SUSPICIOUS",
    "UNKNOWN_REVIEW",
    "Controls",
    "LoadedWorklist",
    "OpenRequest",
    "ReviewStatus",
    "Worklist",
    "WorklistRow",
    "cancelled_text",
    "controls",
    "default_results_path",
    "load_worklist_iter",
    "make_row",
    "model_differs_text",
    "model_missing_text",
    "open_request",
    "opened_text",
    "opening_text",
    "progress_text",
    "read_reviews",
    "reading_text",
    "results_text",
    "review_status",
    "review_statuses",
    "slice_to_show",
    "sort_key",
    "summary_text",
    "suspicious_class",
]
