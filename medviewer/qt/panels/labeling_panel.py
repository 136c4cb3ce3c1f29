"""The widgets of the "Labels" dock (annotator, label set and class buttons, the current
slice's label beside the model's suggestion, the strip, filters, the list, the message line);
:class:`~medviewer.qt.panels.labeling.LabelingDock` connects and fills them."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from medviewer.qt.panels.label_strip import LabelStrip
from medviewer.session.labeling import STATUS_FILTERS
from medviewer.session.labeling_view import TABLE_COLUMNS


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

        self.class_row = QtWidgets.QGridLayout()  # CLASS_COLUMNS buttons a row
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
        self.accept_button.setEnabled(False)  # until a slice has a suggestion
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
        # reached with Tab (keyboard-only use: arrows move, Enter goes to the slice); a mouse
        # click does not take the focus, so the slice keys stay with the viewer
        self.table.setFocusPolicy(QtCore.Qt.FocusPolicy.TabFocus)
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
