"""The dialog an unexpected error shows: plain words first, the technical details on request.

Non-modal (``show()``, never ``exec()``): the viewer stays usable behind it. One dialog serves
every error of the session; a further error adds its details and updates the count.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

MESSAGE = (
    "<b>Something went wrong.</b><br>"
    "medviewer stopped the action that failed; you can keep working. "
    "Your labels are saved: each one is written to the label store the moment you make it."
    "<br><br>If this happens again, press <i>Copy details</i> and send them to your support "
    "contact. The details hold no patient names or IDs."
)
MAX_ERRORS = 20
"""Errors kept in the details (the earliest and the most recent matter most)."""


class ErrorDialog(QtWidgets.QDialog):
    """The "something went wrong" dialog: a Details area (hidden) and a Copy details button."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("medviewer — something went wrong")
        self.setModal(False)
        self.setWindowModality(QtCore.Qt.WindowModality.NonModal)
        self._errors: list[str] = []
        self._log_tail = ""
        self._about = ""

        icon = QtWidgets.QLabel()
        style = self.style()
        size = style.pixelMetric(QtWidgets.QStyle.PixelMetric.PM_MessageBoxIconSize)
        warning = QtWidgets.QStyle.StandardPixmap.SP_MessageBoxWarning
        icon.setPixmap(style.standardIcon(warning).pixmap(size, size))
        icon.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop)
        self.message = QtWidgets.QLabel(MESSAGE)
        self.message.setWordWrap(True)
        self.count = QtWidgets.QLabel()
        self.count.setVisible(False)

        self.details = QtWidgets.QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.FixedFont))
        self.details.setMinimumHeight(220)
        self.details.setVisible(False)

        self.details_button = QtWidgets.QPushButton("Details")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self._show_details)
        self.copy_button = QtWidgets.QPushButton("Copy details")
        self.copy_button.clicked.connect(self.copy_details)
        self.close_button = QtWidgets.QPushButton("Close")
        self.close_button.setDefault(True)
        self.close_button.clicked.connect(self.hide)

        top = QtWidgets.QHBoxLayout()
        top.addWidget(icon)
        text = QtWidgets.QVBoxLayout()
        text.addWidget(self.message)
        text.addWidget(self.count)
        top.addLayout(text, 1)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.details_button)
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details, 1)
        layout.addLayout(buttons)
        self.resize(560, 200)

    # -- content ----------------------------------------------------------------------------
    def add_error(self, traceback_text: str, log_tail: str = "", about: str = "") -> None:
        """Add one error's (redacted) traceback; ``log_tail`` and ``about`` replace the old."""
        self._errors.append(traceback_text.rstrip())
        if len(self._errors) > MAX_ERRORS:
            del self._errors[1]  # keep the first, drop the oldest after it
        self._log_tail = log_tail
        self._about = about or self._about
        n = len(self._errors)
        self.count.setText(f"This has happened {n} times since medviewer started.")
        self.count.setVisible(n > 1)
        self.details.setPlainText(self.details_text())

    @property
    def error_count(self) -> int:
        return len(self._errors)

    def details_text(self) -> str:
        """Everything *Copy details* copies: versions, each traceback, the log's last lines."""
        parts = [self._about] if self._about else []
        for i, text in enumerate(reversed(self._errors), 1):
            parts.append(f"--- error {i} of {len(self._errors)} (most recent first) ---\n{text}")
        parts.append(f"--- the log's last lines ---\n{self._log_tail or '(empty)'}")
        return "\n\n".join(parts) + "\n"

    # -- actions ----------------------------------------------------------------------------
    def _show_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setText("Hide details" if shown else "Details")
        self.adjustSize()

    def copy_details(self) -> None:
        """Put :meth:`details_text` on the clipboard."""
        QtGui.QGuiApplication.clipboard().setText(self.details_text())
        self.copy_button.setText("Copied")
        button = self.copy_button
        QtCore.QTimer.singleShot(1500, button, lambda: button.setText("Copy details"))

    def present(self) -> None:
        """Show without blocking, in front."""
        self.show()
        self.raise_()
        self.activateWindow()
