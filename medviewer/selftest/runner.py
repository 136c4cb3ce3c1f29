"""The selftest's machinery: check and result types, running checks with a timeout, the report.

Each check is a function of a shared :class:`Context` that returns a one-line detail (or raises
:class:`CheckFailed` with what is wrong and what to do). :func:`run_selftest` runs them in
order, times each, and turns anything a check raises into a FAIL with the error's text, so the
report always completes. :meth:`Report.to_dict` is what ``medviewer selftest --json`` prints.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from medviewer import __version__

log = logging.getLogger("medviewer.selftest")  # one logger for the whole selftest

CHECK_TIMEOUT_S = 60.0
"""A check still running after this long is reported as a FAIL and left behind."""

REINSTALL = "reinstall medviewer (the packaged build, or `pip install` of it in a fresh venv)"


class CheckFailed(Exception):
    """A check's verdict: ``detail`` says what is wrong, ``hint`` what to do about it."""

    def __init__(self, detail: str, hint: str = "", data: dict | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint
        self.data = data or {}


@dataclass
class Context:
    """What one check hands to the next (the device, the sample volume, loaded models)."""

    device: str = "cpu"
    volume: Any = None
    models: list = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    """One named check: ``run(context)`` returns a detail, or ``(detail, data)``."""

    name: str
    run: Callable[[Context], Any]
    hint: str
    """What to do when it fails with an unexpected error (a CheckFailed brings its own)."""
    main_thread: bool = False
    """Run on the calling thread without a timeout (Qt must create its objects there)."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float
    hint: str = ""
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
            "hint": self.hint,
            "data": self.data,
        }

    def line(self) -> str:
        """``PASS  name  detail (s)``; a failure adds `` — what to do: hint``."""
        text = f"{'PASS' if self.ok else 'FAIL'}  {self.name:<26} {self.detail}"
        if not self.ok and self.hint:
            text += f" — what to do: {self.hint}"
        return f"{text} [{self.seconds:.1f} s]"


@dataclass
class Report:
    checks: list[CheckResult]
    seconds: float

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "medviewer": __version__,
            "checks": [c.to_dict() for c in self.checks],
        }

    def summary(self) -> str:
        n = len(self.checks)
        failed = [c.name for c in self.checks if not c.ok]
        if not failed:
            return f"All {n} checks passed in {self.seconds:.1f} s."
        return (
            f"{len(failed)} of {n} checks FAILED ({', '.join(failed)}) in {self.seconds:.1f} s; "
            "each FAIL line says what to do."
        )


# -- running ----------------------------------------------------------------------------------
def error_text(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters of it)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _call(check: Check, ctx: Context) -> tuple[bool, str, str, dict]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library chatter is not a verdict
            value = check.run(ctx)
    except CheckFailed as exc:
        return False, exc.detail, exc.hint or check.hint, exc.data
    except (Exception, SystemExit) as exc:
        log.debug("selftest check %r raised", check.name, exc_info=True)
        return False, f"unexpected error ({error_text(exc)})", check.hint, {}
    if isinstance(value, tuple):
        detail, data = value
        return True, str(detail), "", dict(data)
    return True, str(value), "", {}


def run_check(check: Check, ctx: Context, timeout: float = CHECK_TIMEOUT_S) -> CheckResult:
    """Run one check; never raises. Off the main thread with ``timeout`` unless it needs it."""
    start = time.perf_counter()
    if check.main_thread:
        ok, detail, hint, data = _call(check, ctx)
    else:
        box: list = []
        worker = threading.Thread(
            target=lambda: box.append(_call(check, ctx)),
            name=f"selftest-{check.name}",
            daemon=True,
        )
        worker.start()
        worker.join(timeout)
        if box:
            ok, detail, hint, data = box[0]
        else:
            ok, detail, hint, data = (
                False,
                f"did not finish within {timeout:g} s (still running; result unknown)",
                check.hint,
                {},
            )
    result = CheckResult(check.name, ok, detail, time.perf_counter() - start, hint, data)
    log.log(logging.INFO if ok else logging.WARNING, "selftest %s", result.line())
    return result


def run_selftest(
    checks: list[Check],
    on_result: Callable[[CheckResult], None] | None = None,
    timeout: float = CHECK_TIMEOUT_S,
) -> Report:
    """Run ``checks`` in order (each gets the same :class:`Context`); the report."""
    start = time.perf_counter()
    ctx = Context()
    results = []
    for check in checks:
        result = run_check(check, ctx, timeout)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return Report(results, time.perf_counter() - start)
