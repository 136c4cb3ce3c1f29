"""``selftest [--json]``: check this installation (packages, decoders, window, torch, models,
Grad-CAM, label store, log), in-process; exit 0 only when every check passes."""

from __future__ import annotations

import contextlib
import os
import sys

from medviewer import __version__
from medviewer.cli.output import print_json


def _window_check():
    """The selftest's Qt window check, or one that fails saying why Qt cannot be imported."""
    from medviewer.selftest import Check, CheckFailed

    try:
        from medviewer.qt.selftest import window_check
    except ImportError as exc:
        reason = f"the desktop interface cannot be imported ({exc})"

        def failed(ctx):
            raise CheckFailed(reason)

        return Check("qt window", failed, "reinstall medviewer (PySide6 is missing or broken)")
    return window_check()


@contextlib.contextmanager
def _stdout_to_stderr():
    """Send whatever is printed meanwhile (by libraries too, from C) to stderr, so that
    ``--json`` leaves exactly one object on stdout."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no file descriptor 1 (a windowed build): Python's own stream only
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def cmd_selftest(args) -> int:
    """Check this installation, in-process; exit 0 only when every check passes."""
    from medviewer.selftest import core_checks, run_selftest

    checks = core_checks(window=_window_check())
    if args.json:
        with _stdout_to_stderr():
            report = run_selftest(checks)
        print_json(report.to_dict())
    else:
        print(f"medviewer {__version__} selftest", flush=True)
        report = run_selftest(checks, on_result=lambda r: print(r.line(), flush=True))
        print(report.summary())
    return 0 if report.ok else 1


def register(sub) -> None:
    p = sub.add_parser(
        "selftest", help="check this installation: packages, decoders, window, models, store"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_selftest)
