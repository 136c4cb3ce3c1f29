"""The selftest's window check draws a real image with Qt and pyqtgraph, and says where."""

import os

from PySide6 import QtGui

from medviewer.qt import selftest as qt_selftest
from medviewer.selftest import Context, run_check


def test_the_window_check_draws_an_image_off_screen(qapp):
    result = run_check(qt_selftest.window_check(), Context())
    assert result.ok, result.detail
    assert result.data["platform"] == QtGui.QGuiApplication.platformName() == "offscreen"
    assert result.data["versions"]["PySide6"].startswith("6.")
    assert "a window drew an image" in result.detail
    assert not [w for w in qapp.topLevelWidgets() if w.isVisible() and w.inherits("QMainWindow")]


def test_a_window_that_shows_nothing_fails(qapp, monkeypatch):
    monkeypatch.setattr(qt_selftest, "_distinct_colours", lambda image, row: 1)
    result = run_check(qt_selftest.window_check(), Context())
    assert not result.ok and "shows no image" in result.detail
    assert "install the system libraries Qt needs" in result.hint


def test_without_a_display_qt_is_told_to_draw_off_screen(monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    note, display, previous = qt_selftest._choose_platform()
    assert (display, previous) == ("", None)
    assert "drawn off screen" in note
    assert os.environ["QT_QPA_PLATFORM"] == "offscreen"
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM")
    note, display, _ = qt_selftest._choose_platform()
    assert display == ":0" and os.environ["QT_QPA_PLATFORM"] == "xcb;offscreen"
