"""The desktop app on the sample studies writes a log without the patients' names or IDs."""

import logging
import sys
import threading

import pydicom
import pytest
from PySide6 import QtCore

from medviewer import logs, phi
from medviewer.qt.app import start
from medviewer.resources import lesion_sample_dir, sample_study_dir


def _patient_values() -> list[str]:
    values = []
    for folder in (sample_study_dir(), lesion_sample_dir()):
        ds = pydicom.dcmread(sorted(folder.glob("*.dcm"))[0], stop_before_pixels=True)
        values += [str(ds.PatientName), str(ds.PatientID)]
        values += [part for part in str(ds.PatientName).split("^") if len(part) >= 3]
    assert "MV-SAMPLE-0001" in values and "MV-SAMPLE-0002" in values
    return values


@pytest.fixture
def gui(qapp, qtbot, monkeypatch):
    """``medviewer gui`` as it starts (samples, log, error handler), undone afterwards."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    style, palette, sheet = qapp.style().name(), qapp.palette(), qapp.styleSheet()
    logs.reset_logging()
    phi.REGISTRY.clear()
    app, window = start([])  # no paths: both bundled samples, as `medviewer gui` opens them
    qtbot.addWidget(window)
    yield window
    from medviewer.qt import excepthook

    for handler in excepthook._installed:
        handler.uninstall()
        if handler.dialog is not None:
            handler.dialog.close()
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)
    qapp.setStyle(style)
    logs.reset_logging()


@pytest.mark.qt_no_exception_capture
def test_opening_the_samples_in_the_gui_logs_no_patient_value(gui, qtbot):
    window = gui
    qtbot.waitSignal(window.volume_ready, timeout=30_000).wait()
    app = QtCore.QCoreApplication.instance()
    assert app.desktopFileName() == "org.medviewer.Medviewer"  # packaging/linux's entry
    assert not app.windowIcon().isNull()
    study = window.session.study
    assert study.patient_id == "MV-SAMPLE-0001"  # the viewer knows it; the log must not
    # library code is allowed to log DICOM values, in messages and in exceptions
    logging.getLogger("medviewer.session.study").warning(
        "study of %s (%s) opened", study.patient_name, study.patient_id
    )

    def failing_slot():
        raise ValueError(f"no preset for patient {study.patient_name} / {study.patient_id}")

    QtCore.QTimer.singleShot(0, failing_slot)
    from medviewer.qt import excepthook

    handler = excepthook._installed[-1]
    qtbot.waitUntil(lambda: handler.dialog is not None and handler.dialog.isVisible(), timeout=5000)
    details = handler.dialog.details_text()
    text = logs.log_path().read_text(encoding="utf-8")
    assert "started (gui)" in text
    assert f"study of {phi.PLACEHOLDER} ({phi.PLACEHOLDER}) opened" in text
    assert f"ValueError: no preset for patient {phi.PLACEHOLDER} / {phi.PLACEHOLDER}" in text
    assert "ValueError: no preset for patient" in details
    for value in _patient_values():
        assert value.lower() not in text.lower(), value
        assert value.lower() not in details.lower(), value
