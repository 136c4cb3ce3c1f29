"""The selftest's window check: Qt starts, opens a window and draws an image in it.

On Linux without ``DISPLAY`` / ``WAYLAND_DISPLAY`` (a server, a CI job) the window is drawn
off screen and the check says so. With a display, Qt is told to fall back to off screen when
it cannot use it, so a broken display or a missing system library is a FAIL with Qt's own
messages instead of an abort of the whole process.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from medviewer.selftest import Check, CheckFailed, Context

QT_HINT = (
    "install the system libraries Qt needs (Debian/Ubuntu: packaging/install-debian-deps.sh, "
    "e.g. libxcb-cursor0, libegl1), or check that DISPLAY names a display you may use"
)


def _choose_platform() -> tuple[str, str, str | None]:
    """Set QT_QPA_PLATFORM for a new QApplication: (note, display expected, previous value)."""
    previous = os.environ.get("QT_QPA_PLATFORM")
    if previous or not sys.platform.startswith("linux"):
        return (f" (QT_QPA_PLATFORM={previous})" if previous else ""), "", previous
    wayland, x11 = os.environ.get("WAYLAND_DISPLAY"), os.environ.get("DISPLAY")
    if not (wayland or x11):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return " (no DISPLAY or WAYLAND_DISPLAY: drawn off screen)", "", previous
    os.environ["QT_QPA_PLATFORM"] = ("wayland;" if wayland else "") + "xcb;offscreen"
    return "", (wayland or x11 or ""), previous


def _application():
    """The running QApplication, or a new one: (app, note, display expected)."""
    from PySide6 import QtCore, QtWidgets

    app = QtCore.QCoreApplication.instance()
    if app is not None:
        if not isinstance(app, QtWidgets.QApplication):
            raise CheckFailed(
                "this process runs a Qt core application without widgets",
                "run `medviewer selftest` on its own",
            )
        return app, "", ""
    note, display, previous = _choose_platform()
    try:
        app = QtWidgets.QApplication([sys.argv[0] if sys.argv else "medviewer"])
    finally:
        if previous is None:
            os.environ.pop("QT_QPA_PLATFORM", None)
        else:
            os.environ["QT_QPA_PLATFORM"] = previous
    return app, note, display


def _said(messages: list[str]) -> str:
    return "; ".join(dict.fromkeys(m.strip() for m in messages if m.strip()))[:400]


def _distinct_colours(image, row: int) -> int:
    return len({image.pixel(x, row) for x in range(0, image.width(), 2)})


def check_window(ctx: Context) -> tuple[str, dict]:
    """Create a window with a pyqtgraph image and check it was drawn; Qt's messages meanwhile
    go into the verdict, not onto the terminal."""
    from PySide6 import QtCore

    messages: list[str] = []

    def collect(mode, context, message) -> None:
        messages.append(str(message))

    previous = QtCore.qInstallMessageHandler(collect)
    try:
        return _draw_window(messages)
    finally:
        QtCore.qInstallMessageHandler(previous)


def _draw_window(messages: list[str]) -> tuple[str, dict]:
    import pyqtgraph as pg
    import PySide6
    import superqt
    from PySide6 import QtCore, QtGui, QtWidgets

    from medviewer.qt.app import configure_pyqtgraph
    from medviewer.selftest import package_version

    app, note, display = _application()
    platform_name = QtGui.QGuiApplication.platformName()
    if display and platform_name == "offscreen":
        raise CheckFailed(
            f"Qt could not use the display {display} ({_said(messages) or 'no reason given'})",
            QT_HINT,
        )
    configure_pyqtgraph()
    window = QtWidgets.QMainWindow()
    view = pg.GraphicsLayoutWidget()
    box = view.addViewBox(lockAspect=True)
    ramp = np.tile(np.linspace(0, 255, 128, dtype=np.float32), (64, 1))
    box.addItem(pg.ImageItem(ramp, levels=(0, 255)))
    window.setCentralWidget(view)
    window.resize(320, 200)
    window.show()
    try:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            app.processEvents()
            handle = window.windowHandle()
            if window.isVisible() and handle is not None and handle.isExposed():
                break
            time.sleep(0.01)
        else:
            raise CheckFailed(f"the test window was never shown on {platform_name}", QT_HINT)
        image = view.grab().toImage()
        if image.isNull() or _distinct_colours(image, image.height() // 2) < 8:
            said = _said(messages)
            raise CheckFailed(
                f"the test window on {platform_name} shows no image (nothing was drawn"
                f"{'; Qt said: ' + said if said else ''})",
                QT_HINT,
            )
    finally:
        window.close()
        window.deleteLater()
        app.processEvents()
    versions = {
        "Qt": QtCore.qVersion(),
        "PySide6": PySide6.__version__,
        "pyqtgraph": pg.__version__,
        "superqt": package_version("superqt", superqt),
    }
    text = ", ".join(f"{k} {v}" for k, v in versions.items())
    return (
        f"{platform_name} platform{note}: a window drew an image ({image.width()}x"
        f"{image.height()} px); {text}",
        {"platform": platform_name, "versions": versions},
    )


def window_check() -> Check:
    """The window check, to run on the main thread (where Qt must live)."""
    return Check("qt window", check_window, QT_HINT, main_thread=True)
