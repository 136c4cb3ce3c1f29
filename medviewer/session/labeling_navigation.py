"""Filters of the labeled slices and where "next" goes.

:class:`Filters` (class, annotator, status) decide which labels the list shows;
:class:`LabelNavigation` finds the next unlabeled slice, the next listed one, the next
disagreement with the model and the next most uncertain slice (active-learning order).
"""

from __future__ import annotations

from dataclasses import dataclass

from medviewer.labels.schema import Annotation

ALL_ANNOTATORS = "*"
STATUS_FILTERS = ("", "draft", "final", "unreviewed", "approved", "flagged")
"""Status filter values: "" any, a status, or a review state ("unreviewed": no review)."""


@dataclass(frozen=True)
class Filters:
    """What the list shows and where "next" goes.

    ``label``: a class name or "" for any; ``annotator``: whose labels ("" = the current
    annotator, :data:`ALL_ANNOTATORS` = the latest label of anyone); ``status``: one of
    :data:`STATUS_FILTERS`.
    """

    label: str = ""
    annotator: str = ""
    status: str = ""


class LabelNavigation:
    """Filtering and "next" of a LabelingSession (mixed into it; uses its suggestions)."""

    n_slices: int
    filters: Filters
    _labels: dict[int, Annotation]
    _last_uncertain: int | None

    def matches(self, ann: Annotation | None) -> bool:
        """Whether ``ann`` passes the class and status filters."""
        if ann is None:
            return False
        f = self.filters
        if f.label and ann.label != f.label:
            return False
        if f.status in ("draft", "final") and ann.status != f.status:
            return False
        if f.status in ("approved", "flagged") and ann.review != f.status:
            return False
        return not (f.status == "unreviewed" and ann.review)

    def listed(self) -> list[tuple[int, Annotation]]:
        """The labeled slices that pass the filters, in slice order."""
        return [(k, a) for k, a in sorted(self._labels.items()) if self.matches(a)]

    def _after(self, start: int) -> list[int]:
        n = self.n_slices
        return [(start + d) % n for d in range(1, n + 1)] if n else []

    def next_unlabeled(self, start: int) -> int | None:
        """The next slice after ``start`` (wrapping) without a shown label."""
        return next((k for k in self._after(start) if k not in self._labels), None)

    def next_listed(self, start: int) -> int | None:
        """The next slice after ``start`` (wrapping) whose label passes the filters."""
        return next((k for k in self._after(start) if self.matches(self._labels.get(k))), None)

    def next_disagreement(self, start: int) -> int | None:
        """The next slice after ``start`` (wrapping) whose label (passing the filters)
        differs from the model's top class."""
        return next(
            (
                k
                for k in self._after(start)
                if self.disagrees(k) and self.matches(self._labels.get(k))
            ),
            None,
        )

    def next_uncertain(self, start: int) -> int | None:
        """Active-learning order: the most uncertain unlabeled slice other than ``start``;
        from the slice the last call gave, still unlabeled, the next unlabeled one after it
        in the ranking (so Q, Q, Q walks down the ranking instead of going back and forth
        between the first two); once every slice with a prediction is labeled, the next in
        the ranking after ``start`` among the labels that pass the filters."""
        order = self.uncertainty_order()
        unlabeled = [k for k in order if k not in self._labels]
        if start == self._last_uncertain and start in unlabeled and len(unlabeled) > 1:
            found = unlabeled[(unlabeled.index(start) + 1) % len(unlabeled)]
            self._last_uncertain = found
            return found
        unlabeled = [k for k in unlabeled if k != start]
        if unlabeled:
            self._last_uncertain = unlabeled[0]
            return unlabeled[0]
        listed = [k for k in order if self.matches(self._labels.get(k))]
        if not listed:
            return None
        if start in listed:
            return listed[(listed.index(start) + 1) % len(listed)]
        return listed[0]
