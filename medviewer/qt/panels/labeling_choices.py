"""The choices of the Labels dock: the label set (its classes become actions with their keys,
menu entries and buttons; keys taken by another shortcut are left unbound and said so), the
annotator's name (asked once, saved in the settings) and the filters of the list."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.errors import LabelStoreError
from medviewer.qt.shortcuts import by_id, label_class_id, taken_keys
from medviewer.session.labeling import ALL_ANNOTATORS, Filters
from medviewer.session.labeling_view import annotator_text, class_button_text, class_tooltip

CLASS_COLUMNS = 3
"""Class buttons a row: the full names stay readable in a narrow dock."""


class LabelChoicesMixin:
    """Label set, class keys, annotator and filters of
    :class:`~medviewer.qt.panels.labeling.LabelingDock`."""

    # -- label set and class keys -------------------------------------------------------------
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
            action = QtGui.QAction(cls.name.replace("_", " "), w)  # as the buttons say it
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
            action.setToolTip(class_tooltip(cls, tip, clash))
            action.setObjectName(label_class_id(cls.name))
            action.triggered.connect(lambda _=False, name=cls.name: self.assign(name))
            action.setEnabled(bool(self.session.keys))
            w.addAction(action)
            self.class_menu.addAction(action)
            self._class_actions.append(action)
            pixmap = QtGui.QPixmap(12, 12)
            pixmap.fill(QtGui.QColor(cls.color))
            action.setIcon(QtGui.QIcon(pixmap))
            action.setIconText(class_button_text(cls, clash))
            button = QtWidgets.QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setSizePolicy(
                QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed
            )
            button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            n = len(p.class_buttons)
            p.class_row.addWidget(button, n // CLASS_COLUMNS, n % CLASS_COLUMNS)
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

    # -- annotator ------------------------------------------------------------------------------
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

    def _update_annotator(self) -> None:
        self.panel.annotator_label.setText(annotator_text(self.session.annotator))

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
        # saved now, not only on a clean close: after a crash the labels reopen under it
        save = getattr(self.window, "save_settings", None)
        if save is not None:
            save()
        try:
            self.session.set_annotator(name)
        except LabelStoreError as exc:
            self.show_error(str(exc))
        self._update_annotator()
        self._fill_annotators()
        self.refresh_all()
        return True

    # -- filters --------------------------------------------------------------------------------
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
