"""start_job: a failing or cancelled job reaches our handler once and never raises in the GUI."""

from __future__ import annotations

from medviewer.errors import Cancelled, DicomError
from medviewer.jobs import Progress
from medviewer.qt.workers import start_job


def _failing(exc):
    yield Progress(0, 1, "starting")
    raise exc


def _run(qtbot, job):
    errors, done = [], []
    with qtbot.capture_exceptions() as raised:
        finished = []
        worker = start_job(job, on_done=done.append, on_error=errors.append)
        worker.finished.connect(lambda: finished.append(True))
        qtbot.waitUntil(lambda: bool(finished) or not worker.is_running, timeout=10_000)
        qtbot.wait(100)  # let queued error slots run
    return errors, done, raised


def test_a_medviewer_error_is_reported_once_and_not_reraised(qtbot):
    errors, done, raised = _run(qtbot, _failing(DicomError("IM1.dcm: truncated pixel data")))
    assert errors == ["IM1.dcm: truncated pixel data"] and not done
    assert raised == []


def test_an_unexpected_error_is_reported_with_its_type(qtbot):
    errors, done, raised = _run(qtbot, _failing(ZeroDivisionError("division by zero")))
    assert errors == ["unexpected error (ZeroDivisionError: division by zero)"]
    assert raised == []


def test_a_cancelled_job_is_silent(qtbot):
    errors, done, raised = _run(qtbot, _failing(Cancelled()))
    assert errors == [] and done == [] and raised == []
