"""What the Labels dock's keys and buttons do: label the slice with a class, accept the model's
suggestion, clear, undo / redo, go to the next unlabeled / disagreeing / most uncertain slice,
and the evidence rectangle. Each write is one store transaction (through the dock's
``_write``); after it only the changed slice is redrawn."""

from __future__ import annotations

from medviewer.errors import LabelStoreError
from medviewer.session.labeling import plane_rect_to_region


class LabelCommandsMixin:
    """The labeling actions of :class:`~medviewer.qt.panels.labeling.LabelingDock`."""

    def _series_open(self) -> bool:
        """False, saying so, when no series is open to label or move through."""
        if self.session.keys:
            return True
        text = "Open a study first: there is no slice to label"
        self.message(text)
        self.window.statusBar().showMessage(text, 4000)
        return False

    def assign(self, label: str) -> None:
        k = self.current
        stored = self._write(self.session.assign, k, label)
        if stored is None:
            return
        self._after_write(k, stored)

    def _after_write(self, k: int, stored=None) -> None:
        if stored is not None:  # say what was stored: with Advance on, the panel moves on
            name = stored.label.replace("_", " ")
            how = " (the model's)" if stored.source == "model" else ""
            text = f"Slice {k + 1}: {name}{how} stored — Ctrl+Z undoes"
            self.message(text)
            self.window.statusBar().showMessage(text, 4000)
        if self.panel.advance_check.isChecked() and k + 1 < self.session.n_slices:
            self._refresh_slice_strip_only(k)
            self.go_to(k + 1)  # shows the next slice; set_current_slice redraws the panel
            self._schedule_table()
            self.changed.emit()
        else:
            self._refresh_slice(k)

    def accept_suggestion(self) -> None:
        k = self.current
        if not self._series_open():
            return
        if self.session.suggestion(k) is None:
            # said on the message line, as Q and W say it: no box to click away mid-keying
            self.message(f"No model suggestion for slice {k + 1}: run the classifier (Ctrl+R)")
            return
        stored = self._write(self.session.accept_suggestion, k)
        if stored is not None:
            self._after_write(k, stored)

    def clear_label(self) -> None:
        k = self.current
        if self._ready():
            try:
                self.session.clear(k)
            except LabelStoreError as exc:
                self.show_error(str(exc))
                self._reload("after an error")
                return
            self._refresh_slice(k)

    def undo(self) -> None:
        self._undo_redo(self.session.undo, "undo")

    def redo(self) -> None:
        self._undo_redo(self.session.redo, "redo")

    def _undo_redo(self, call, what: str) -> None:
        result = self._write(call)
        if result is None:
            return
        key, index = result
        if key is None:
            self.message(f"Nothing to {what}")
            return
        if index is None:
            self.message(f"{what.capitalize()} changed a label of another series")
            self.refresh_all()
            return
        self.message(f"{what.capitalize()}: slice {index + 1}")
        self._refresh_slice(index)
        if index != self.current:
            self.go_to(index)

    def next_unlabeled(self) -> None:
        if self._series_open():
            self.go_to(self.session.next_unlabeled(self.current))

    def next_disagreement(self) -> None:
        if not self._series_open():
            return
        if not self.session.has_predictions:
            self.message("Run the classifier first (AI dock): no model output to compare with")
            return
        self.go_to(self.session.next_disagreement(self.current))

    def next_uncertain(self) -> None:
        if not self._series_open():
            return
        if not self.session.has_predictions:
            self.message("Run the classifier first (AI dock): no model output to rank slices by")
            return
        self.go_to(self.session.next_uncertain(self.current))

    # -- evidence -----------------------------------------------------------------------------
    def set_evidence_mode(self, on: bool) -> None:
        if self.panel.evidence_button.isChecked() != bool(on):
            self.panel.evidence_button.setChecked(bool(on))
            return
        action = self.window.actions.get("labels.evidence")
        if action is not None and action.isChecked() != bool(on):
            action.setChecked(bool(on))
        if on:
            checked = self.window.tool_group.checkedAction()
            if checked is not None:
                checked.setChecked(False)  # one left-drag tool at a time
        self.evidence.set_active(on)

    def _evidence_drawn(self, plane: str, index: int, rect) -> None:
        volume = self.session.volume
        if volume is None or index != self.current or not self._ready():
            return
        region = plane_rect_to_region(volume, plane, index, rect)
        if self._write(self.session.set_region, index, region) is None:
            if self.session.label_at(index) is None:
                self.message(f"Evidence kept for slice {index + 1}: it is stored with its label")
        self._refresh_slice(index)

    def remove_evidence(self) -> None:
        k = self.current
        if self.session.region_at(k) is not None:
            self._write(self.session.set_region, k, None)
            self._refresh_slice(k)
