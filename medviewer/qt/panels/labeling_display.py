"""Drawing the Labels dock from its LabelingSession: the strip (labels and the model's
suggestions per slice), the current slice's label and suggestion, progress, the evidence
rectangle on the viewer, and the list of labeled slices (filled after the next slice shows).
The texts come from :mod:`medviewer.session.labeling_view`."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.session.labeling import region_to_plane_rect
from medviewer.session.labeling_view import label_html, slice_title, suggestion_html, table_row


class LabelDisplayMixin:
    """The drawing half of :class:`~medviewer.qt.panels.labeling.LabelingDock` (``session``,
    ``panel``, ``current``, ``evidence``, ``_table_timer`` and ``changed`` are the dock's)."""

    def refresh_all(self) -> None:
        s = self.session
        self.panel.strip.set_labels([s.color_of(x) for x in s.label_names()])
        self.panel.strip.set_model(
            [
                s.color_of(sg.label) if (sg := s.suggestion(k)) is not None else None
                for k in range(s.n_slices)
            ]
        )
        self.panel.strip.set_current(self.current)
        self._show_current()
        self._schedule_table()
        self.changed.emit()

    def _refresh_slice(self, index: int | None) -> None:
        s = self.session
        if index is not None and 0 <= index < s.n_slices and not s.per_series:
            ann = s.label_at(index)
            self.panel.strip.set_label(index, s.color_of(ann.label if ann else None))
        else:
            self.panel.strip.set_labels([s.color_of(x) for x in s.label_names()])
        self._show_current()
        self._schedule_table()
        self.changed.emit()

    def _refresh_slice_strip_only(self, k: int) -> None:
        s = self.session
        if s.per_series:
            self.panel.strip.set_labels([s.color_of(x) for x in s.label_names()])
        else:
            ann = s.label_at(k)
            self.panel.strip.set_label(k, s.color_of(ann.label if ann else None))

    def _show_current(self) -> None:
        s, p, k = self.session, self.panel, self.current
        if not s.keys:
            p.slice_title.setText("No series open" if s.volume is None else p.message_label.text())
            p.label_view.setText("")
            p.suggestion_view.setText("")
            p.progress_label.setText("")
            p.accept_button.setEnabled(False)  # nothing to accept without a series
            self.evidence.clear()
            return
        p.slice_title.setText(slice_title(k, s.n_slices))
        p.label_view.setText(label_html(s, k))
        p.suggestion_view.setText(suggestion_html(s, k))
        p.accept_button.setEnabled(s.suggestion(k) is not None)
        p.progress_label.setText(s.progress().text)
        self._show_evidence()

    def _show_evidence(self) -> None:
        s, volume = self.session, self.session.volume
        region = s.region_at(self.current) if s.keys else None
        view = self.window.viewer.primary
        if region is None or volume is None or view.index != self.current:
            self.evidence.clear()
            return
        rect = region_to_plane_rect(volume, view.plane, view.index, region)
        ann = s.label_at(self.current)
        color = s.color_of(ann.label) if ann is not None and ann.region is not None else "#ffffff"
        self.evidence.show(rect, color, pending=ann is None or ann.region is None)

    # -- the list of labeled slices ---------------------------------------------------------------
    def _schedule_table(self) -> None:
        self._table_timer.start(0)  # after the next slice is shown

    def _fill_table(self) -> None:
        s, table = self.session, self.panel.table
        rows = s.listed()
        table.setUpdatesEnabled(False)
        table.setRowCount(len(rows))
        for r, (k, ann) in enumerate(rows):
            for c, text in enumerate(table_row(k, ann)):
                item = QtWidgets.QTableWidgetItem(text)
                item.setData(QtCore.Qt.ItemDataRole.UserRole, k)
                if c == 1:
                    item.setForeground(QtGui.QColor(s.color_of(ann.label)))
                table.setItem(r, c, item)
        table.setUpdatesEnabled(True)

    def table_rows(self) -> list[tuple[str, ...]]:
        """The list as shown (fills it now if an update is pending)."""
        if self._table_timer.isActive():
            self._table_timer.stop()
            self._fill_table()
        t = self.panel.table
        return [
            tuple(t.item(r, c).text() for c in range(t.columnCount())) for r in range(t.rowCount())
        ]

    def _row_clicked(self, row: int, _col: int) -> None:
        item = self.panel.table.item(row, 0)
        if item is not None:
            self.go_to(int(item.data(QtCore.Qt.ItemDataRole.UserRole)))
