"""The "Labels" dock: keyboard labeling of the open series, the model's suggestion beside the
label, a strip of labels per slice, filters, the list of labeled slices, reviewer mode.

The dock only shows :class:`medviewer.session.labeling.LabelingSession` and calls it; every
write is one store transaction on the GUI thread (about a millisecond); export and import run
on workers (:func:`medviewer.qt.workers.start_job`), each with its own store connection.

Wiring (see MainWindow): ``LabelingDock(window)`` after the AI dock; call
:meth:`LabelingDock.volume_started` when a new volume is current and :meth:`close` on close.
The dock follows ``viewer.primary_index_changed`` and the AI panel's ``run_finished`` itself.
"""

from __future__ import annotations

import logging

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.errors import LabelStoreError
from medviewer.qt.panels.evidence import EvidenceTool
from medviewer.qt.panels.label_strip import LabelStrip
from medviewer.qt.panels.labeling_files import LabelFilesMixin, build_menu
from medviewer.qt.shortcuts import by_id, label_class_id, taken_keys
from medviewer.session.labeling import (
    ALL_ANNOTATORS,
    STATUS_FILTERS,
    Filters,
    LabelingSession,
    fresh_store_path,
    plane_rect_to_region,
    region_to_plane_rect,
)

log = logging.getLogger(__name__)
TABLE_COLUMNS = ("Slice", "Label", "Annotator", "Source", "Status", "Review")


def _swatch(color: str | None, text: str) -> str:
    if not color:
        return text
    return f"<span style='color:{color}'>■</span> {text}"


def describe(ann) -> str:
    """Rich text of an annotation: label, who, from what, status and review."""
    if ann is None:
        return "<span style='color:#9e9e9e'>not labeled</span>"
    source = "human" if ann.source == "human" else f"model {ann.model}" if ann.model else "model"
    lines = [f"<b>{ann.label}</b>", f"by {ann.annotator} · {source}", f"status {ann.status}"]
    if ann.review:
        lines.append(
            f"{ann.review} by {ann.reviewer}" + (f": {ann.comment}" if ann.comment else "")
        )
    if ann.region is not None:
        lines.append("evidence rectangle")
    return "<br>".join(lines)


class LabelingPanel(QtWidgets.QWidget):
    """The widgets of the dock; :class:`LabelingDock` connects them to the window."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.setSpacing(4)
        row = QtWidgets.QHBoxLayout()
        self.annotator_label = QtWidgets.QLabel()
        self.change_button = QtWidgets.QPushButton("Change…")
        self.change_button.setToolTip("The name your labels are stored under")
        self.reviewer_check = QtWidgets.QCheckBox("Reviewer mode")
        self.reviewer_check.setToolTip(
            "Approve (Y) or flag with a comment (Shift+F) the label shown for each slice"
        )
        row.addWidget(self.annotator_label, 1)
        row.addWidget(self.change_button)
        row.addWidget(self.reviewer_check)
        outer.addLayout(row)

        row = QtWidgets.QHBoxLayout()
        self.label_set_box = QtWidgets.QComboBox()
        self.label_set_box.setToolTip("The classes you label with (Labels > Edit label set…)")
        self.advance_check = QtWidgets.QCheckBox("Advance after labeling")
        self.advance_check.setChecked(True)
        self.advance_check.setToolTip("After a class key, show the next slice")
        row.addWidget(QtWidgets.QLabel("Label set"))
        row.addWidget(self.label_set_box, 1)
        row.addWidget(self.advance_check)
        outer.addLayout(row)

        self.class_row = QtWidgets.QHBoxLayout()
        self.class_row.setSpacing(2)
        outer.addLayout(self.class_row)
        self.class_buttons: dict[str, QtWidgets.QToolButton] = {}

        box = QtWidgets.QGroupBox("Current slice")
        col = QtWidgets.QVBoxLayout(box)
        self.slice_title = QtWidgets.QLabel("No series open")
        col.addWidget(self.slice_title)
        sides = QtWidgets.QHBoxLayout()
        col.addLayout(sides)
        self.label_view = QtWidgets.QLabel()
        self.suggestion_view = QtWidgets.QLabel()
        self.evidence_button = QtWidgets.QToolButton()
        self.evidence_button.setCheckable(True)
        self.evidence_button.setText("Draw evidence")
        self.evidence_button.setToolTip("Drag a rectangle on the slice: the evidence (Shift+E)")
        self.remove_evidence_button = QtWidgets.QToolButton()
        self.remove_evidence_button.setText("Remove evidence")
        self.accept_button = QtWidgets.QToolButton()
        self.accept_button.setText("Accept (G)")
        self.accept_button.setToolTip("Store the model's suggestion as the slice's label")
        for title, view, buttons in (
            ("Label", self.label_view, (self.evidence_button, self.remove_evidence_button)),
            ("Model suggests", self.suggestion_view, (self.accept_button,)),
        ):
            side = QtWidgets.QVBoxLayout()
            side.addWidget(QtWidgets.QLabel(f"<b>{title}</b>"))
            view.setWordWrap(True)
            view.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
            view.setMinimumHeight(64)
            side.addWidget(view, 1)
            row_b = QtWidgets.QHBoxLayout()
            for b in buttons:
                b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
                row_b.addWidget(b)
            row_b.addStretch(1)
            side.addLayout(row_b)
            sides.addLayout(side, 1)
        outer.addWidget(box)

        self.strip = LabelStrip()
        outer.addWidget(self.strip)
        self.progress_label = QtWidgets.QLabel("")
        self.progress_label.setObjectName("labelProgress")
        outer.addWidget(self.progress_label)

        row = QtWidgets.QHBoxLayout()
        self.class_filter = QtWidgets.QComboBox()
        self.annotator_filter = QtWidgets.QComboBox()
        self.status_filter = QtWidgets.QComboBox()
        for status in STATUS_FILTERS:
            self.status_filter.addItem(status or "any status", status)
        self.class_filter.setToolTip("Show and go to (next disagreement / uncertain) this class")
        self.annotator_filter.setToolTip("Whose labels are shown (yours unless you choose)")
        self.status_filter.setToolTip("Show labels with this status or review")
        for w in (self.class_filter, self.annotator_filter, self.status_filter):
            row.addWidget(w, 1)
        outer.addLayout(row)

        self.table = QtWidgets.QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # keys stay with the viewer
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setMinimumHeight(120)
        outer.addWidget(self.table, 1)
        self.message_label = QtWidgets.QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #ffb74d;")
        outer.addWidget(self.message_label)
        self.setMinimumWidth(300)


class LabelingDock(LabelFilesMixin, QtCore.QObject):
    """Puts a :class:`LabelingPanel` into a MainWindow with its "Labels" menu and actions.

    Attributes set on the window: ``labeling`` (this), ``labeling_panel``, ``labeling_dock``;
    the ``labels.*`` actions are in ``window.actions``.
    """

    changed = QtCore.Signal()
    """Emitted after the shown labels changed (a write, an undo, an import, a reload)."""
    error_shown = QtCore.Signal(str)
    job_finished = QtCore.Signal(object)
    """The result of an export (count) or import (ImportReport), or None when it failed."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = w = window
        self.panel = p = LabelingPanel(w)
        self.dock = w._dock("Labels", "labels", p, "Right")
        self.session = LabelingSession(annotator=w.settings.annotator)
        self.store = None
        self.store_problem: str | None = None
        self.current = 0
        self.error_box: QtWidgets.QMessageBox | None = None
        self.report_dialog: QtWidgets.QDialog | None = None
        self._jobs: list = []
        self._class_actions: list[QtGui.QAction] = []
        self._table_timer = QtCore.QTimer(self)
        self._table_timer.setSingleShot(True)
        self._table_timer.timeout.connect(self._fill_table)
        self.evidence = EvidenceTool(w.viewer, self)
        self.evidence.drawn.connect(self._evidence_drawn)
        self.evidence.moved.connect(self._evidence_drawn)
        build_menu(self)
        self._connect()
        self._fill_label_sets()
        self._update_annotator()
        self._set_enabled(False)
        w.labeling, w.labeling_panel, w.labeling_dock = self, p, self.dock

    def _connect(self) -> None:
        p, w = self.panel, self.window
        p.change_button.clicked.connect(self.change_annotator)
        p.reviewer_check.toggled.connect(self.set_reviewer_mode)
        p.label_set_box.activated.connect(self._label_set_chosen)
        p.evidence_button.toggled.connect(self.set_evidence_mode)
        p.remove_evidence_button.clicked.connect(self.remove_evidence)
        p.accept_button.clicked.connect(self.accept_suggestion)
        p.strip.slice_clicked.connect(self.go_to)
        p.table.cellClicked.connect(self._row_clicked)
        for box in (p.class_filter, p.annotator_filter, p.status_filter):
            box.activated.connect(self._filters_chosen)
        w.viewer.primary_index_changed.connect(self.set_current_slice)
        w.ai_panel.run_finished.connect(self.set_model_result)

    # -- the store ----------------------------------------------------------------------------
    def open_store(self, path=None) -> bool:
        """Open the store (the settings' path by default); on failure explain and offer a
        new store beside it (the old file is kept as it is)."""
        from medviewer.labels.store import LabelStore
        from medviewer.settings import label_store_path

        path = path or label_store_path(self.window.settings)
        old = self.store
        try:
            store = LabelStore(path)
        except LabelStoreError as exc:
            self.store_problem = str(exc)
            self._store_failed(path, str(exc))
            return False
        self.store, self.store_problem = store, None
        if old is not None:
            old.close()
        self._reload("store")
        return True

    def _store_failed(self, path, message: str) -> None:
        box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Warning,
            "Label store",
            f"The label store could not be opened.\n\n{message}",
            QtWidgets.QMessageBox.StandardButton.NoButton,
            self.window,
        )
        fresh = box.addButton(
            "Start a new store (the old file is kept)", QtWidgets.QMessageBox.ButtonRole.AcceptRole
        )
        box.addButton("Continue without labels", QtWidgets.QMessageBox.ButtonRole.RejectRole)

        def clicked(button):
            if button is fresh:
                new = fresh_store_path(path)
                if self.open_store(new):
                    self.window.settings.label_store = str(new)
                    self.message(f"New label store {new}; the old file {path} is unchanged")

        box.buttonClicked.connect(clicked)
        self._show_box(box, message)

    def _show_box(self, box: QtWidgets.QMessageBox, message: str) -> None:
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        self.error_box = box
        box.destroyed.connect(lambda *_: setattr(self, "error_box", None))
        box.open()
        self.message(message)
        self.error_shown.emit(message)

    def show_error(self, message: str) -> None:
        """A store failure: message box, message line; the UI shows the store's real state."""
        box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Warning,
            "Labels",
            message,
            QtWidgets.QMessageBox.StandardButton.Ok,
            self.window,
        )
        self._show_box(box, message)

    def message(self, text: str) -> None:
        self.panel.message_label.setText(text)

    def _write(self, action, *args):
        """Run a session write; on a store error show it and redraw from the store."""
        if not self._ready():
            return None
        try:
            return action(*args)
        except LabelStoreError as exc:
            self.show_error(str(exc))
            self._reload("after an error")
            return None

    def _ready(self) -> bool:
        if not self.session.keys:
            return False
        if self.store is None:
            self.show_error(
                self.store_problem or "No label store is open (Labels > Open label store…)"
            )
            return False
        if not self.session.annotator:
            self.change_annotator()
        return bool(self.session.annotator)

    def _reload(self, why: str) -> None:
        try:
            self.session.set_store(self.store)
        except LabelStoreError as exc:
            log.warning("labels not reloaded (%s): %s", why, exc)
            self.message(str(exc))
        self._fill_annotators()
        self.refresh_all()

    # -- volume and slice ----------------------------------------------------------------------
    def volume_started(self) -> None:
        """MainWindow: a new volume is current."""
        volume = self.window.session.volume
        if self.store is None and self.store_problem is None:
            self.open_store()
        try:
            self.session.set_volume(volume)
        except LabelStoreError as exc:
            self.session.set_volume(None)
            self.message(str(exc))
        self.panel.strip.set_count(self.session.n_slices)
        self.current = self.window.viewer.primary.index if self.session.keys else 0
        self._set_enabled(bool(self.session.keys))
        self._fill_annotators()
        self.refresh_all()

    def set_current_slice(self, index: int) -> None:
        self.current = int(index)
        self.panel.strip.set_current(self.current)
        self._show_current()

    def go_to(self, index: int | None) -> None:
        if index is None:
            self.message("No such slice (nothing matches)")
            return
        self.window.viewer.set_primary_index(int(index))
        self.window.viewer.primary.view.setFocus()

    def _set_enabled(self, on: bool) -> None:
        for action_id, action in self.window.actions.items():
            if action_id.startswith("labels.") and action_id not in (
                "labels.import",
                "labels.open_store",
                "labels.annotator",
                "labels.agreement",
            ):
                action.setEnabled(on)
        for action in self._class_actions:
            action.setEnabled(on)
        self._update_review_actions()

    # -- drawing the state ---------------------------------------------------------------------
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

    def _show_current(self) -> None:
        s, p, k = self.session, self.panel, self.current
        if not s.keys:
            p.slice_title.setText("No series open" if s.volume is None else p.message_label.text())
            p.label_view.setText("")
            p.suggestion_view.setText("")
            p.progress_label.setText("")
            self.evidence.clear()
            return
        p.slice_title.setText(f"Slice {k + 1} of {s.n_slices}")
        ann = s.label_at(k)
        p.label_view.setText(_swatch(s.color_of(ann.label) if ann else None, describe(ann)))
        if ann is not None and not s.in_label_set(ann.label):
            p.label_view.setText(p.label_view.text() + "<br><i>(not in this label set)</i>")
        sg = s.suggestion(k)
        if sg is None:
            text = "run the classifier (AI dock) for suggestions" if not s.has_predictions else "—"
            p.suggestion_view.setText(f"<span style='color:#9e9e9e'>{text}</span>")
        else:
            extra = "" if s.in_label_set(sg.label) else "<br><i>(not a class of the label set)</i>"
            flag = " <b style='color:#ff8a65'>≠ label</b>" if s.disagrees(k) else ""
            p.suggestion_view.setText(
                _swatch(s.color_of(sg.label), f"<b>{sg.label}</b> {sg.probability:.2f}{flag}")
                + f"<br>uncertainty {sg.entropy:.2f}<br>{sg.model}{extra}"
            )
        p.accept_button.setEnabled(sg is not None)
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

    def _schedule_table(self) -> None:
        self._table_timer.start(0)  # after the next slice is shown

    def _fill_table(self) -> None:
        s, table = self.session, self.panel.table
        rows = s.listed()
        table.setUpdatesEnabled(False)
        table.setRowCount(len(rows))
        for r, (k, ann) in enumerate(rows):
            source = "human" if ann.source == "human" else str(ann.model or "model")
            review = ann.review + (f": {ann.comment}" if ann.comment else "")
            values = (str(k + 1), ann.label, ann.annotator, source, ann.status, review)
            for c, text in enumerate(values):
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

    # -- label set, annotator, filters -----------------------------------------------------------
    def _fill_label_sets(self) -> None:
        from medviewer.labels.label_sets import list_label_sets

        box = self.panel.label_set_box
        try:
            sets = list_label_sets()
        except LabelStoreError as exc:
            sets = []
            self.message(str(exc))
        self._label_sets = {ls.name: ls for ls in sets}
        box.clear()
        for ls in sets:
            box.addItem(f"{ls.name} (v{ls.version})", ls.name)
        i = box.findData(self.session.label_set.name)
        if i >= 0:
            box.setCurrentIndex(i)
            self.session.set_label_set(self._label_sets[self.session.label_set.name])
        self._build_class_actions()

    def _label_set_chosen(self, _index: int) -> None:
        name = self.panel.label_set_box.currentData()
        if name in self._label_sets:
            self.set_label_set(self._label_sets[name])

    def set_label_set(self, label_set) -> None:
        """Label with ``label_set`` from now on; stored labels are shown unchanged."""
        self.session.set_label_set(label_set)
        self._build_class_actions()
        self.refresh_all()

    def _build_class_actions(self) -> None:
        w, p = self.window, self.panel
        for action in self._class_actions:
            w.removeAction(action)
            self.class_menu.removeAction(action)
            action.deleteLater()
        self._class_actions = []
        while p.class_row.count():
            item = p.class_row.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        p.class_buttons = {}
        taken = taken_keys()
        problems = []
        for cls in self.session.label_set.classes:
            action = QtGui.QAction(f"{cls.name}", w)
            seq = QtGui.QKeySequence(cls.key) if cls.key else QtGui.QKeySequence()
            clash = taken.get(seq[0].toCombined()) if not seq.isEmpty() else None
            if clash:
                problems.append(f"key {cls.key} of {cls.name!r} is taken by {clash}")
            elif not seq.isEmpty():
                action.setShortcut(seq)
            try:
                entry = by_id(label_class_id(cls.name))
                tip = entry.description if entry.keys == cls.key else ""
            except KeyError:
                tip = ""
            action.setToolTip(
                (tip or f"Label the slice {cls.name}")
                + (f" ({cls.key})" if cls.key and not clash else "")
                + (f" — {cls.description}" if cls.description else "")
            )
            action.setObjectName(label_class_id(cls.name))
            action.triggered.connect(lambda _=False, name=cls.name: self.assign(name))
            action.setEnabled(bool(self.session.keys))
            w.addAction(action)
            self.class_menu.addAction(action)
            self._class_actions.append(action)
            pixmap = QtGui.QPixmap(12, 12)
            pixmap.fill(QtGui.QColor(cls.color))
            action.setIcon(QtGui.QIcon(pixmap))
            action.setIconText(f"{cls.key}  {cls.name}" if cls.key and not clash else cls.name)
            button = QtWidgets.QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            p.class_row.addWidget(button)
            p.class_buttons[cls.name] = button
        box = p.class_filter
        current = box.currentData()
        box.clear()
        box.addItem("any class", "")
        for name in self.session.label_set.names:
            box.addItem(name, name)
        box.setCurrentIndex(max(box.findData(current), 0))
        if problems:
            self.message("Not bound: " + "; ".join(problems))

    def class_action(self, name: str) -> QtGui.QAction:
        return next(a for a in self._class_actions if a.text() == name)

    def _fill_annotators(self) -> None:
        box = self.panel.annotator_filter
        current = box.currentData()
        names = []
        if self.store is not None:
            try:
                names = self.store.annotators()
            except LabelStoreError as exc:
                self.message(str(exc))
        box.blockSignals(True)
        box.clear()
        box.addItem("my labels", "")
        box.addItem("all annotators (latest)", ALL_ANNOTATORS)
        for name in names:
            if name != self.session.annotator:
                box.addItem(name, name)
        box.setCurrentIndex(max(box.findData(current), 0))
        box.blockSignals(False)

    def _filters_chosen(self, *_args) -> None:
        p = self.panel
        self.set_filters(
            Filters(
                label=p.class_filter.currentData() or "",
                annotator=p.annotator_filter.currentData() or "",
                status=p.status_filter.currentData() or "",
            )
        )

    def set_filters(self, filters: Filters) -> None:
        try:
            self.session.set_filters(filters)
        except LabelStoreError as exc:
            self.show_error(str(exc))
        self.refresh_all()

    def _update_annotator(self) -> None:
        name = self.session.annotator
        self.panel.annotator_label.setText(
            f"Annotator: <b>{name}</b>" if name else "Annotator: <i>not set</i>"
        )

    def change_annotator(self, name: str | None = None) -> bool:
        """Ask for (or set) the annotator's name; saved in the settings."""
        if name is None:
            name, ok = QtWidgets.QInputDialog.getText(
                self.window,
                "Annotator",
                "Your name, stored with every label you make:",
                text=self.session.annotator,
            )
            if not ok:
                return False
        name = " ".join(str(name).split())
        if not name:
            return False
        self.window.settings.annotator = name
        try:
            self.session.set_annotator(name)
        except LabelStoreError as exc:
            self.show_error(str(exc))
        self._update_annotator()
        self._fill_annotators()
        self.refresh_all()
        return True

    # -- labeling actions -----------------------------------------------------------------------
    def assign(self, label: str) -> None:
        k = self.current
        if self._write(self.session.assign, k, label) is None:
            return
        self._after_write(k)

    def _after_write(self, k: int) -> None:
        if self.panel.advance_check.isChecked() and k + 1 < self.session.n_slices:
            self._refresh_slice_strip_only(k)
            self.go_to(k + 1)  # shows the next slice; set_current_slice redraws the panel
            self._schedule_table()
            self.changed.emit()
        else:
            self._refresh_slice(k)

    def _refresh_slice_strip_only(self, k: int) -> None:
        s = self.session
        if s.per_series:
            self.panel.strip.set_labels([s.color_of(x) for x in s.label_names()])
        else:
            ann = s.label_at(k)
            self.panel.strip.set_label(k, s.color_of(ann.label if ann else None))

    def accept_suggestion(self) -> None:
        k = self.current
        if self._write(self.session.accept_suggestion, k) is not None:
            self._after_write(k)

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
        self.message("")
        self._refresh_slice(index)
        if index != self.current:
            self.go_to(index)

    def next_unlabeled(self) -> None:
        if self.session.keys:
            self.go_to(self.session.next_unlabeled(self.current))

    def next_disagreement(self) -> None:
        if not self.session.has_predictions:
            self.message("Run the classifier first (AI dock): no model output to compare with")
            return
        self.go_to(self.session.next_disagreement(self.current))

    def next_uncertain(self) -> None:
        if not self.session.has_predictions:
            self.message("Run the classifier first (AI dock): no model output to rank slices by")
            return
        self.go_to(self.session.next_uncertain(self.current))

    # -- reviewer mode -----------------------------------------------------------------------
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

    # -- the model ----------------------------------------------------------------------------
    def set_model_result(self, result) -> None:
        """The AI dock finished a run (a SeriesPrediction) or gave up (None)."""
        if result is None or not self.session.keys:
            return
        self.session.set_predictions(result.slices)
        self.refresh_all()

    def close(self) -> None:
        for worker in self._jobs:
            worker.quit()
        self._jobs = []
        if self.store is not None:
            self.store.close()
            self.store = None


__all__ = ["LabelingDock", "LabelingPanel", "describe"]
