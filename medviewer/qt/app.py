"""Start the desktop application."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def configure_pyqtgraph() -> None:
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


def main(paths: Sequence[str] | None = None) -> int:
    """Open the main window on ``paths``; when empty, on the bundled sample studies.

    The samples are the head CT and its copy with synthetic lesions (for the bundled model's
    heat maps); the head CT is the one shown first. Returns the event loop's exit status.
    """
    app, _window = start(paths)
    code = app.exec()
    finish_workers()
    return code


WORKER_EXIT_WAIT_MS = 5000
"""How long the closed window's workers get to stop before the process ends anyway."""


def finish_workers(timeout_ms: int = WORKER_EXIT_WAIT_MS) -> bool:
    """Wait for the worker threads (scan, load, thumbnails, model jobs) that closing the window
    asked to stop. Left running, one could signal into Qt objects being torn down at exit
    ("RuntimeError ... Signal source has been deleted" on stderr, or worse). True when all
    ended in time."""
    from PySide6 import QtCore

    return QtCore.QThreadPool.globalInstance().waitForDone(timeout_ms)


def start(paths: Sequence[str] | None = None):
    """Everything :func:`main` does before the event loop; returns ``(app, window)``.

    The log file is set up first (if the command line has not done it), then the handler that
    turns any uncaught exception into the error dialog, then the window, which starts opening
    ``paths`` in the background.
    """
    from PySide6 import QtWidgets

    from medviewer.errors import MedviewerError
    from medviewer.logs import ensure_logging
    from medviewer.resources import lesion_sample_dir, resources_dir, sample_study_dir

    ensure_logging(what="gui")
    configure_pyqtgraph()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("medviewer")
    from medviewer.qt import heap

    heap.collect_on_gui_thread()  # a cycle holding a Qt object is never freed on a worker
    # Wayland compositors match the window to the menu entry by this name (packaging/linux).
    app.setDesktopFileName("org.medviewer.Medviewer")
    icon = resources_dir() / "icons" / "medviewer.png"
    if icon.is_file():
        from PySide6 import QtGui

        app.setWindowIcon(QtGui.QIcon(str(icon)))
    from medviewer.qt.excepthook import install_exception_handler

    install_exception_handler(app)
    from medviewer.qt.theme import apply_dark_theme

    apply_dark_theme(app)
    from medviewer.qt.main_window import MainWindow

    window = MainWindow()
    window.show()
    targets = list(paths or [])
    if not targets:
        sample = sample_study_dir()
        if not sample.is_dir():
            raise MedviewerError(f"the bundled sample study is missing ({sample}); pass a folder")
        targets = [str(sample)]
        if lesion_sample_dir().is_dir():
            targets.append(str(lesion_sample_dir()))
    window.open_paths(targets)
    heap.enable()  # the start-up objects stay out of every later full garbage collection
    return app, window
