"""One channel for unexpected errors in the desktop app: log them, say so plainly, keep going.

:func:`install_exception_handler` replaces ``sys.excepthook`` (where PySide6 sends exceptions
raised in slots, timer callbacks and overridden virtual methods) and ``threading.excepthook``
(plain Python threads). Each exception is logged with its traceback (the log's filter redacts
patient values) and shown in one non-modal :class:`~medviewer.qt.error_dialog.ErrorDialog`,
always on the GUI thread; the event loop goes on. Background jobs started with
``workers.start_job`` report their errors through their own callbacks instead.
"""

from __future__ import annotations

import logging
import platform
import sys
import threading
import traceback

from PySide6 import QtCore, QtWidgets

from medviewer import __version__
from medviewer.logs import current_log_file, log_tail
from medviewer.phi import redact
from medviewer.qt.error_dialog import ErrorDialog

log = logging.getLogger(__name__)


def _about() -> str:
    path = current_log_file()
    return (
        f"medviewer {__version__}, Python {platform.python_version()}, Qt {QtCore.qVersion()}, "
        f"{platform.platform(terse=True)}\nlog file: {path or '(none)'}"
    )


class ExceptionHandler(QtCore.QObject):
    """Receives uncaught exceptions from any thread; shows them on the GUI thread."""

    raised = QtCore.Signal(str)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.dialog: ErrorDialog | None = None
        self._previous_sys = None
        self._previous_thread = None
        # queued even from the GUI thread: the dialog opens once the failed slot has unwound
        self.raised.connect(self._present, QtCore.Qt.ConnectionType.QueuedConnection)

    # -- hooks --------------------------------------------------------------------------------
    def install(self) -> None:
        """Become ``sys.excepthook`` and ``threading.excepthook``."""
        self._previous_sys, sys.excepthook = sys.excepthook, self._sys_hook
        self._previous_thread, threading.excepthook = threading.excepthook, self._thread_hook

    def uninstall(self) -> None:
        """Put back the hooks found by :meth:`install` (where they are still ours)."""
        if sys.excepthook == self._sys_hook and self._previous_sys is not None:
            sys.excepthook = self._previous_sys
        if threading.excepthook == self._thread_hook and self._previous_thread is not None:
            threading.excepthook = self._previous_thread

    def _sys_hook(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):  # Ctrl+C in the terminal: quit as usual
            (self._previous_sys or sys.__excepthook__)(exc_type, exc, tb)
            return
        self.handle(exc_type, exc, tb)

    def _thread_hook(self, args) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        self.handle(args.exc_type, args.exc_value, args.exc_traceback, where=f" in {name}")

    # -- handling -----------------------------------------------------------------------------
    def handle(self, exc_type, exc, tb, where: str = "") -> None:
        """Log the exception and queue the dialog; never raises."""
        try:
            log.error("unexpected error%s", where, exc_info=(exc_type, exc, tb))
            text = redact("".join(traceback.format_exception(exc_type, exc, tb)))
            self.raised.emit(text)
        except Exception:  # the handler itself failed: Python's default hook prints both
            sys.__excepthook__(exc_type, exc, tb)

    def _present(self, text: str) -> None:
        try:
            if self.dialog is None:
                self.dialog = ErrorDialog()
                # closing the main window still quits while this dialog is open
                self.dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_QuitOnClose, False)
            self.dialog.add_error(text, log_tail(), about=_about())
            self.dialog.present()
        except Exception:  # never loop through our own hook: log it and stay quiet
            log.exception("the error dialog could not be shown")


_installed: list[ExceptionHandler] = []


def install_exception_handler(app: QtWidgets.QApplication | None = None) -> ExceptionHandler:
    """Route this process's uncaught exceptions to the log and the error dialog.

    Call once the QApplication exists; a handler installed earlier is uninstalled first.
    Returns the handler (its ``dialog`` is None until the first error).
    """
    while _installed:
        _installed.pop().uninstall()
    handler = ExceptionHandler(app or QtWidgets.QApplication.instance())
    handler.install()
    _installed.append(handler)
    return handler
