"""What every command shares on the terminal: exit codes, the one-line error report, the
text progress bar on stderr and ``--json`` output on stdout."""

from __future__ import annotations

import json
import logging
import os
import sys

from medviewer.errors import MedviewerError

log = logging.getLogger("medviewer")

EXIT_OK = 0
EXIT_FAILED = 1
"""Could not do it; one line on stderr says why."""
EXIT_USAGE = 2


class UsageError(Exception):
    """A wrong use found after parsing: exit 2 with ``medviewer COMMAND: error: reason``."""


class ProgressBar:
    """A one-line text progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, label: str, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self._last = -1

    def __call__(self, step) -> None:
        if not self.enabled or not step.total:
            return
        pct = int(100 * step.done / step.total)
        if pct == self._last:
            return
        self._last = pct
        filled = pct * 30 // 100
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {pct:3d}% ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._last >= 0:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def print_json(obj) -> None:
    """``--json``: one indented object on stdout."""
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so flushing it at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (tests)
        pass


def run_handler(args) -> int:
    """Run the parsed command's handler; any failure becomes one line on stderr and its exit
    code (details in the log, and on stderr with ``-v``)."""
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"medviewer {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MedviewerError as exc:
        log.debug("command failed", exc_info=True)
        print(f"medviewer {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("medviewer: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # whoever read the output stopped reading (``medviewer ... --json | head``): the work
        # is done and stored, there is just no one left to tell
        _stdout_to_devnull()
        return EXIT_FAILED
    except Exception as exc:  # last line of defence: one line, details only with -v
        log.debug("unexpected failure", exc_info=True)
        print(
            f"medviewer {args.command}: unexpected error ({type(exc).__name__}: {exc}); "
            "run again with -v for details",
            file=sys.stderr,
        )
        return EXIT_FAILED
