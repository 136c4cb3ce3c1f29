"""Reviewing a label: a reviewer approves or flags another annotator's label.

The review is the reviewer's action (their undo takes it back); the label stays its
annotator's. Adjudication into a consensus label lives in :mod:`medviewer.labels.agreement`.
"""

from __future__ import annotations

from medviewer.labels.schema import REVIEWS, Annotation, SliceKey
from medviewer.labels.store_checks import check_choice, check_name


class ReviewActions:
    """The review call of a LabelStore (mixed into it; writes with its :meth:`_edit`)."""

    def review(
        self, key: SliceKey, *, annotator: str, verdict: str, reviewer: str, comment: str = ""
    ) -> Annotation:
        """Approve or flag ``annotator``'s label (``verdict`` "" withdraws the review). The
        action is the reviewer's: their undo takes it back."""
        annotator = check_name("annotator", annotator)
        check_choice("review verdict", verdict, REVIEWS)
        if verdict:
            reviewer = check_name("reviewer", reviewer)
            changes = {"review": verdict, "reviewer": reviewer, "comment": comment or ""}
        else:
            reviewer = " ".join(str(reviewer or "").split()) or annotator
            changes = {"review": "", "reviewer": "", "comment": ""}
        return self._edit(key, annotator, "review", reviewer, changes, "save the review")
