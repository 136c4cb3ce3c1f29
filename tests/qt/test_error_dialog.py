"""An uncaught exception in the GUI: logged with its traceback, one plain dialog, app goes on."""

import sys
import threading

import pytest
from PySide6 import QtCore, QtWidgets

from medviewer import logs
from medviewer.qt.excepthook import install_exception_handler
from medviewer.qt.main_window import MainWindow
from medviewer.resources import sample_study_dir

# The handler under test replaces sys.excepthook itself; pytest-qt's capture would do the same.
pytestmark = pytest.mark.qt_no_exception_capture


@pytest.fixture
def handler(qapp, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # both restored afterwards
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    logs.reset_logging()
    logs.configure_logging(what="test")
    h = install_exception_handler(qapp)
    yield h
    h.uninstall()
    if h.dialog is not None:
        h.dialog.close()
        h.dialog.deleteLater()
    h.deleteLater()
    logs.reset_logging()


def _dialog_shown(handler, count=1):
    return (
        handler.dialog is not None
        and handler.dialog.isVisible()
        and (handler.dialog.error_count == count)
    )


def test_an_error_in_a_timer_callback_shows_the_dialog_and_is_logged(qtbot, handler):
    def broken_callback():
        raise ValueError("window level table has no entry 42")

    QtCore.QTimer.singleShot(0, broken_callback)
    qtbot.waitUntil(lambda: _dialog_shown(handler), timeout=5000)
    dialog = handler.dialog
    assert not dialog.isModal()
    assert "Something went wrong" in dialog.message.text()
    assert "labels are saved" in dialog.message.text()
    assert not dialog.details.isVisible()  # no traceback in the user's face
    qtbot.mouseClick(dialog.details_button, QtCore.Qt.MouseButton.LeftButton)
    assert dialog.details.isVisible()
    details = dialog.details.toPlainText()
    assert "Traceback (most recent call last)" in details
    assert "ValueError: window level table has no entry 42" in details
    assert "in broken_callback" in details
    assert "the log's last lines" in details and "started (test)" in details
    qtbot.mouseClick(dialog.copy_button, QtCore.Qt.MouseButton.LeftButton)
    assert QtWidgets.QApplication.clipboard().text() == dialog.details_text()
    text = logs.log_path().read_text(encoding="utf-8")
    assert "ERROR" in text and "unexpected error" in text
    assert "ValueError: window level table has no entry 42" in text and "Traceback" in text


def test_errors_in_a_slot_and_a_thread_reuse_the_dialog_and_the_viewer_keeps_working(
    qtbot, handler
):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.volume_ready, timeout=30_000):
        window.open_paths([str(sample_study_dir())])

    def broken_slot(value):
        raise KeyError(f"no overlay for slice {value}")

    window.slider.valueChanged.connect(broken_slot)
    window.slider.setValue(10)  # the slot raises inside Qt's signal delivery
    qtbot.waitUntil(lambda: _dialog_shown(handler), timeout=5000)
    assert window.viewer.primary.index == 10  # the other slots of the signal still ran

    worker = threading.Thread(target=lambda: 1 / 0, name="export-thread")
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: _dialog_shown(handler, count=2), timeout=5000)
    dialog = handler.dialog
    assert dialog.count.isVisible() and "2 times" in dialog.count.text()
    details = dialog.details_text()
    assert details.index("ZeroDivisionError") < details.index("KeyError: 'no overlay")

    window.slider.valueChanged.disconnect(broken_slot)
    qtbot.keyClick(window.viewer.primary.view, QtCore.Qt.Key.Key_Down)
    assert window.viewer.primary.index == 11 and window.isVisible()
    text = logs.log_path().read_text(encoding="utf-8")
    assert "unexpected error in export-thread" in text and "ZeroDivisionError" in text
    assert "KeyError: 'no overlay for slice 10'" in text
