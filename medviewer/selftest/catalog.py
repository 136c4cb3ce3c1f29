"""The selftest's list of checks: :func:`core_checks`, every Qt-free check in report order,
with the window check (``medviewer.qt.selftest``) slotted in after the packages."""

from __future__ import annotations

from medviewer.selftest.decoding import check_decoder_processes, check_decoding, check_sample
from medviewer.selftest.models import (
    bundled_entries,
    check_bundled_models,
    check_explanations,
    check_torch,
    model_check,
)
from medviewer.selftest.packages import check_decoders, check_packages, check_python
from medviewer.selftest.runner import REINSTALL, Check, log
from medviewer.selftest.storage import check_label_store, check_log


def core_checks(window: Check | None = None) -> list[Check]:
    """Every check in report order; ``window`` (the Qt check) goes after the packages."""
    checks = [
        Check("python", check_python, "use the packaged build of medviewer"),
        Check("packages", check_packages, REINSTALL),
    ]
    if window is not None:
        checks.append(window)
    checks += [
        Check("dicom decoders", check_decoders, REINSTALL),
        Check("dicom decoding", check_decoding, REINSTALL),
        Check("decoder process", check_decoder_processes, REINSTALL),
        Check("sample study", check_sample, REINSTALL),
        Check("torch device", check_torch, "run models on the CPU (--device cpu)"),
        Check("bundled models", check_bundled_models, REINSTALL),
    ]
    try:
        _, entries, _ = bundled_entries()
    except Exception as exc:  # reported by the bundled models check
        log.debug("bundled models not listed: %s", exc)
        entries = []
    checks += [model_check(e) for e in entries]
    checks += [
        Check("grad-cam", check_explanations, REINSTALL),
        Check("label store", check_label_store, "choose another label store (Labels menu)"),
        Check("log file", check_log, "set MEDVIEWER_LOG_DIR to a writable folder"),
    ]
    return checks
