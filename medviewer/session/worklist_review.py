"""The Labels dock's review status of the series on the worklist, without Qt: how many
slices are labeled (every annotator's latest label; a per-series label covers every slice),
approved and flagged, and whether the series is still "not yet reviewed".
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ReviewStatus:
    """How far the Labels dock's review of one series went (every annotator's latest label
    of each slice counts; a per-series label covers every slice)."""

    labeled: int = 0
    total: int = 0
    approved: int = 0
    flagged: int = 0
    known: bool = True
    """False when the label store could not be read."""

    @property
    def reviewed(self) -> bool:
        """Every slice has a label: the series is no longer "not yet reviewed"."""
        return self.known and self.labeled > 0 and self.labeled >= self.total

    @property
    def text(self) -> str:
        if not self.known:
            return "unknown"
        if self.labeled == 0:
            return "not reviewed"
        if self.reviewed and self.approved >= self.labeled:
            return "approved"
        text = f"labeled {self.labeled}/{self.total}"
        if self.flagged:
            text += f", {self.flagged} flagged"
        elif self.approved:
            text += f", {self.approved} approved"
        return text


UNKNOWN_REVIEW = ReviewStatus(known=False)


def review_status(store, series_uid: str, n_slices: int) -> ReviewStatus:
    """The review status of a series from a :class:`~medviewer.labels.store.LabelStore`
    (one indexed query); ``store`` None: nothing is labeled."""
    if store is None:
        return ReviewStatus(total=int(n_slices))
    found = store.series_labels(series_uid)
    series_label = next((a for k, a in found.items() if not k.sop_uid), None)
    slices = [a for k, a in found.items() if k.sop_uid]
    total = int(n_slices)
    if series_label is not None and len(slices) < total:
        review = series_label.review
        return ReviewStatus(
            total,
            total,
            approved=total if review == "approved" else 0,
            flagged=total if review == "flagged" else 0,
        )
    return ReviewStatus(
        labeled=min(len(slices), total) if total else len(slices),
        total=total,
        approved=sum(a.review == "approved" for a in slices),
        flagged=sum(a.review == "flagged" for a in slices),
    )


def review_statuses(store, results: Iterable) -> dict[str, ReviewStatus]:
    """Series UID -> review status of every result's series."""
    return {r.series_uid: review_status(store, r.series_uid, r.n_slices) for r in results}


def read_reviews(label_store_path, results) -> tuple[dict[str, ReviewStatus], str | None]:
    """Review status of each result's series from the label store file, opened read-only
    (its own connection: safe on a worker); a missing store means nothing is labeled."""
    if label_store_path is None or not os.path.exists(label_store_path):
        return review_statuses(None, results), None
    from medviewer.errors import MedviewerError
    from medviewer.labels.store import LabelStore

    try:
        store = LabelStore(label_store_path, read_only=True, create=False)
    except MedviewerError as exc:
        return {r.series_uid: UNKNOWN_REVIEW for r in results}, str(exc)
    try:
        return review_statuses(store, results), None
    finally:
        store.close()


__all__ = ["UNKNOWN_REVIEW", "ReviewStatus", "read_reviews", "review_status", "review_statuses"]
