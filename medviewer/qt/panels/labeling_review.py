"""Reviewer mode of the Labels dock: the check box and the menu action kept in step, and the
review of the label shown for the slice: approve (Y) or flag with a comment (Shift+F)."""

from __future__ import annotations

from PySide6 import QtWidgets


class LabelReviewMixin:
    """Reviewer mode of :class:`~medviewer.qt.panels.labeling.LabelingDock`."""

    @property
    def reviewer_mode(self) -> bool:
        return self.panel.reviewer_check.isChecked()

    def set_reviewer_mode(self, on: bool) -> None:
        if self.panel.reviewer_check.isChecked() != bool(on):
            self.panel.reviewer_check.setChecked(bool(on))
            return
        action = self.window.actions.get("labels.reviewer")
        if action is not None and action.isChecked() != bool(on):
            action.setChecked(bool(on))
        self._update_review_actions()

    def _update_review_actions(self) -> None:
        on = self.reviewer_mode and bool(self.session.keys)
        for action_id in ("labels.approve", "labels.flag"):
            if action_id in self.window.actions:
                self.window.actions[action_id].setEnabled(on)

    def approve(self) -> None:
        k = self.current
        if self._write(self.session.review, k, "approved") is not None:
            self._refresh_slice(k)

    def flag(self, comment: str | None = None) -> None:
        k = self.current
        if self.session.label_at(k) is None:
            self.message(f"Slice {k + 1} has no label to flag")
            return
        if comment is None:
            comment, ok = QtWidgets.QInputDialog.getMultiLineText(
                self.window, "Flag the label", f"Why is the label of slice {k + 1} flagged?"
            )
            if not ok:
                return
        if self._write(self.session.review, k, "flagged", comment.strip()) is not None:
            self._refresh_slice(k)
