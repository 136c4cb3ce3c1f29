"""``medviewer selftest``: can this installation do its job? Checked in-process, in seconds.

Each check is a function of a shared :class:`Context` that returns a one-line detail (or raises
:class:`CheckFailed` with what is wrong and what to do). :func:`run_selftest` runs them in
order, times each, and turns anything a check raises into a FAIL with the error's text, so the
report always completes. Checks run in-process (never ``sys.executable -m ...``), so they work
the same in a PyInstaller build; only the decoder-process check starts a child, exactly as the
viewer does when it decodes.

This package holds the checks that need no Qt; the window check lives in
``medviewer.qt.selftest`` and the command line composes both (:func:`core_checks`).

- ``runner``: Check, CheckFailed, Context, CheckResult, Report; run_check, run_selftest
- ``packages``: the Python, the core packages, the DICOM decoder plug-ins
- ``decoding``: decoding the sample and made-up images, the decoder process, the sample study
- ``models``: torch and its device, the bundled models on the sample, Grad-CAM
- ``storage``: the label store and the log file
- ``catalog``: core_checks, every check in report order
"""

from __future__ import annotations

from medviewer.selftest.catalog import core_checks
from medviewer.selftest.decoding import check_sample
from medviewer.selftest.models import model_check
from medviewer.selftest.packages import package_version
from medviewer.selftest.runner import (
    CHECK_TIMEOUT_S,
    Check,
    CheckFailed,
    CheckResult,
    Context,
    Report,
    run_check,
    run_selftest,
)
from medviewer.selftest.storage import check_label_store

__all__ = [
    "CHECK_TIMEOUT_S",
    "Check",
    "CheckFailed",
    "CheckResult",
    "Context",
    "Report",
    "check_label_store",
    "check_sample",
    "core_checks",
    "model_check",
    "package_version",
    "run_check",
    "run_selftest",
]
