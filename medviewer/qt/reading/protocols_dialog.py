"""View > Hanging protocols…: see, change and delete the saved hanging protocols.

A protocol saved from the screen takes each series' exact description; here its rules can be
loosened ("*axial*", "head*") so it also hangs the next study, whose series are named a little
differently. Each row shows which series the rule takes in the open study, as it is edited.
What is saved goes through :meth:`HangingLayout.from_dict`, so a rule the file would refuse
is refused here, with the same reason.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6 import QtCore, QtWidgets

from medviewer.dicom import StudyInfo
from medviewer.errors import MedviewerError
from medviewer.session import hanging
from medviewer.session.hanging_model import HangingLayout, HangingRule, HangingViewport
from medviewer.session.layout import VIEWPORT_PLANES

Qt = QtCore.Qt
COLUMNS = ("Viewport", "Modality", "Series description", "Plane", "Prior", "Takes now")
_PATTERN_TIP = (
    "Which series this viewport takes: * stands for any text, ? for one character; case is "
    "ignored. Saved from the screen it is the series' exact description; loosen it (for "
    "example *axial*) so that studies with series named a little differently hang too."
)


def _window_text(vp: HangingViewport) -> str:
    w = vp.window
    return "the file's window" if w is None else f"W {w.width:g} / L {w.center:g} {w.name}".strip()


class HangingProtocolsDialog(QtWidgets.QDialog):
    """The saved hanging protocols; ``study`` / ``prior``: the open study, for the preview."""

    def __init__(
        self,
        parent=None,
        study: StudyInfo | None = None,
        prior: StudyInfo | None = None,
        path=None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hanging protocols")
        self.resize(1000, 420)
        self.study, self.prior, self.path = study, prior, path
        self.layouts, problems = hanging.load_layouts(path)
        self._current = -1
        self._filling = False

        self.list = QtWidgets.QListWidget()
        self.list.setMinimumWidth(240)
        self.list.setWordWrap(True)
        self.name_edit = QtWidgets.QLineEdit()
        self.modality_edit = QtWidgets.QLineEdit()
        self.modality_edit.setMaximumWidth(80)
        self.body_edit = QtWidgets.QLineEdit()
        self.body_edit.setPlaceholderText("any body part")
        self.grid_label = QtWidgets.QLabel()
        self.grid_label.setWordWrap(True)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeaderItem(2).setToolTip(_PATTERN_TIP)
        self.table.horizontalHeaderItem(5).setToolTip(
            "The series each rule takes in the open study (and its prior), as you edit"
        )
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(5, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.delete_button = QtWidgets.QPushButton("Delete")
        self.save_button = QtWidgets.QPushButton("Save")
        self.save_button.setDefault(True)
        close = QtWidgets.QPushButton("Close")

        form = QtWidgets.QFormLayout()
        form.addRow("Name", self.name_edit)
        match = QtWidgets.QHBoxLayout()
        match.addWidget(self.modality_edit)
        match.addWidget(QtWidgets.QLabel("body part"))
        match.addWidget(self.body_edit, 1)
        form.addRow("Hangs studies of", match)
        form.addRow("Layout", self.grid_label)
        right = QtWidgets.QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.table, 1)
        right.addWidget(self.status)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.delete_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        right.addLayout(buttons)
        body = QtWidgets.QHBoxLayout(self)
        body.addWidget(self.list)
        body.addLayout(right, 1)

        self.list.currentRowChanged.connect(self._show)
        self.table.itemChanged.connect(lambda _item: self._preview())
        self.save_button.clicked.connect(self.save)
        self.delete_button.clicked.connect(self.delete)
        close.clicked.connect(self.reject)
        self._fill_list()
        if problems:
            self._say(" ".join(problems), error=True)
        elif not self.layouts:
            self._say(
                "No hanging protocol is saved yet: arrange the viewports, then View > Save "
                "layout as hanging protocol… (Ctrl+Shift+S)."
            )

    # -- showing ------------------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #e57373;" if error else "")

    def _fill_list(self, select: int = 0) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for hl in self.layouts:
            where = f"{hl.modality} {hl.body_part}".strip()
            self.list.addItem(f"{hl.name}  ({where})")
        self.list.blockSignals(False)
        has = bool(self.layouts)
        for w in (self.name_edit, self.modality_edit, self.body_edit, self.table):
            w.setEnabled(has)
        self.delete_button.setEnabled(has)
        self.save_button.setEnabled(has)
        self._current = -1
        if has:
            self.list.setCurrentRow(min(select, len(self.layouts) - 1))
        else:
            self.table.setRowCount(0)
            self.grid_label.setText("")

    def _show(self, row: int) -> None:
        if not 0 <= row < len(self.layouts):
            return
        self._current = row
        hl = self.layouts[row]
        self._filling = True
        self.name_edit.setText(hl.name)
        self.modality_edit.setText(hl.modality)
        self.body_edit.setText(hl.body_part)
        links = [n for n, on in (("scroll", hl.links.scroll), ("window / level", hl.links.window),
                                 ("zoom / pan", hl.links.zoom_pan)) if on]  # fmt: skip
        self.grid_label.setText(
            f"grid {hl.grid}; linked: {', '.join(links) or 'nothing'} (arrange the viewports "
            "and save the layout again under this name to change them)"
        )
        self.table.setRowCount(len(hl.viewports))
        for n, vp in enumerate(hl.viewports):
            number = QtWidgets.QTableWidgetItem(f"{n + 1}")
            number.setFlags(Qt.ItemFlag.ItemIsEnabled)
            number.setToolTip(f"Window: {_window_text(vp)}")
            self.table.setItem(n, 0, number)
            rule = vp.rule
            for col, text in ((1, rule.modality if rule else ""),
                              (2, rule.description_pattern if rule else "")):  # fmt: skip
                item = QtWidgets.QTableWidgetItem(text)
                if rule is None:
                    item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                    item.setToolTip("This viewport is left empty")
                elif col == 2:
                    item.setToolTip(_PATTERN_TIP)
                self.table.setItem(n, col, item)
            plane = QtWidgets.QComboBox()
            plane.addItems(VIEWPORT_PLANES)
            plane.setCurrentText(rule.plane if rule else "acquired")
            plane.setEnabled(rule is not None)
            plane.currentTextChanged.connect(lambda _t: self._preview())
            self.table.setCellWidget(n, 3, plane)
            prior = QtWidgets.QTableWidgetItem("from prior")
            flags = Qt.ItemFlag.ItemIsEnabled
            prior.setFlags(flags | Qt.ItemFlag.ItemIsUserCheckable if rule else flags)
            checked = Qt.CheckState.Checked if rule and rule.prior else Qt.CheckState.Unchecked
            prior.setCheckState(checked)
            prior.setToolTip("Take the series from the prior study of the same patient")
            self.table.setItem(n, 4, prior)
            takes = QtWidgets.QTableWidgetItem("")
            takes.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.table.setItem(n, 5, takes)
        for col in (0, 1, 4):
            self.table.resizeColumnToContents(col)
        self._filling = False
        self._preview()

    def edited(self) -> HangingLayout:
        """The protocol as edited; ValueError with the reason when it is not usable."""
        hl = self.layouts[self._current]
        viewports = []
        for n, vp in enumerate(hl.viewports):
            if vp.rule is None:
                viewports.append(vp)
                continue
            pattern = self.table.item(n, 2).text().strip()
            if not pattern:
                raise ValueError(
                    f"viewport {n + 1} needs a series description pattern (* takes any series)"
                )
            rule = HangingRule.from_dict(
                {
                    "modality": self.table.item(n, 1).text(),
                    "description_pattern": pattern,
                    "plane": self.table.cellWidget(n, 3).currentText(),
                    "prior": self.table.item(n, 4).checkState() == Qt.CheckState.Checked,
                }
            )
            viewports.append(replace(vp, rule=rule))
        data = replace(
            hl,
            name=self.name_edit.text().strip(),
            modality=self.modality_edit.text().strip().upper(),
            body_part=self.body_edit.text().strip().upper(),
            viewports=viewports,
        ).to_dict()
        new = HangingLayout.from_dict(data)
        clash = [
            other.name
            for i, other in enumerate(self.layouts)
            if i != self._current and other.name.casefold() == new.name.casefold()
        ]
        if clash:
            raise ValueError(f"another protocol is named {clash[0]!r}: choose another name")
        return new

    def _preview(self) -> None:
        """Fill the Takes column: what each rule takes in the open study (and its prior)."""
        if self._filling or self._current < 0:
            return
        try:
            hl = self.edited()
        except ValueError as exc:
            self._say(f"Not saved yet: {exc}", error=True)
            return
        self._say("")
        if self.study is None:
            texts = ["(open a study to see which series each rule takes)"] * len(hl.viewports)
        else:
            layout, _ = hanging.apply_layout(hl, self.study, self.prior)
            series = {s.key: s for st in (self.study, self.prior) if st for s in st.series}
            texts = []
            for n, vp in enumerate(hl.viewports[: layout.capacity]):
                key = layout.viewports[n].series_key
                if vp.rule is None:
                    texts.append("(empty)")
                elif key is None and vp.rule.prior and self.prior is None:
                    texts.append("no prior study of this patient is open: left empty")
                elif key is None:
                    where = "prior" if vp.rule.prior else "open"
                    texts.append(f"nothing in the {where} study: left empty")
                else:
                    s = series[key]
                    texts.append(f"#{s.series_number} {s.description or '(no description)'}")
        self.table.blockSignals(True)
        for n, text in enumerate(texts):
            if self.table.item(n, 5) is not None:
                self.table.item(n, 5).setText(text)
        self.table.blockSignals(False)

    # -- changing -----------------------------------------------------------------------------
    def save(self) -> bool:
        if self._current < 0:
            return False
        try:
            new = self.edited()
        except ValueError as exc:
            self._say(f"Not saved: {exc}", error=True)
            return False
        layouts = list(self.layouts)
        layouts[self._current] = new
        if not self._write(layouts):
            return False
        self._say(f"Saved {new.name!r}.")
        return True

    def delete(self) -> bool:
        if self._current < 0:
            return False
        gone = self.layouts[self._current]
        answer = QtWidgets.QMessageBox.question(
            self, "Delete hanging protocol", f"Delete the hanging protocol {gone.name!r}?"
        )
        if answer != QtWidgets.QMessageBox.StandardButton.Yes:
            return False
        row = self._current
        if not self._write([hl for i, hl in enumerate(self.layouts) if i != row]):
            return False
        self._say(f"Deleted {gone.name!r}.")
        return True

    def _write(self, layouts: list[HangingLayout]) -> bool:
        row = max(self._current, 0)
        try:
            hanging.save_layouts(layouts, self.path)
        except MedviewerError as exc:
            self._say(str(exc), error=True)
            return False
        self.layouts = layouts
        status = self.status.text()
        self._fill_list(select=min(row, len(layouts) - 1) if layouts else 0)
        self.status.setText(status)
        return True


def show_dialog(window) -> HangingProtocolsDialog:
    """Open the dialog for ``window`` (a MainWindow), previewing on its open study."""
    from medviewer.session import priors

    area, session = window.reading, window.session
    study = prior = None
    if session.series is not None and session.scan_result is not None:
        study = area.study_of(session.series)
        if study is not None:
            found = priors.find_prior(study, session.series, session.scan_result.studies)
            prior = found[0] if found else None
    dialog = HangingProtocolsDialog(window, study, prior)
    dialog.open()
    return dialog


__all__ = ["HangingProtocolsDialog", "show_dialog"]
