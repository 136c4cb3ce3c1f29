"""The application log: one rotating file per user, patient identifiers redacted.

The file is ``medviewer.log`` in :func:`log_dir`: ``$MEDVIEWER_LOG_DIR``, else
``$MEDVIEWER_DATA_DIR/logs`` when that is set (so tests and portable installs keep everything
in one folder), else ``platformdirs.user_log_dir("medviewer")``. It holds everything medviewer
logs from DEBUG up and other libraries' warnings, rotated at :data:`MAX_BYTES` with
:data:`BACKUP_COUNT` old files. Every handler installed here carries
:class:`medviewer.phi.RedactFilter`, so patient names, IDs and birth dates of the files read
are written as ``[redacted]``.

The command line and the desktop app call :func:`configure_logging` once at start; a problem
with the log file never stops them (a warning on stderr, then no file). No Qt here.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import platform
import sys
from pathlib import Path

from medviewer import __version__
from medviewer.phi import RedactFilter
from medviewer.settings import DATA_DIR_ENV

LOG_DIR_ENV = "MEDVIEWER_LOG_DIR"
FILE_NAME = "medviewer.log"
MAX_BYTES = 2_000_000
BACKUP_COUNT = 5
FILE_FORMAT = "%(asctime)s %(levelname)-7s [%(process)d %(threadName)s] %(name)s: %(message)s"
STDERR_FORMAT = "%(levelname)s %(name)s: %(message)s"

_OURS = "_medviewer_handler"
_state: dict = {}

log = logging.getLogger(__name__)


def log_dir() -> Path:
    """Where the log files live: $MEDVIEWER_LOG_DIR, else $MEDVIEWER_DATA_DIR/logs, else the
    per-user log folder of medviewer (``platformdirs.user_log_dir``)."""
    override = os.environ.get(LOG_DIR_ENV)
    if override:
        return Path(override)
    data = os.environ.get(DATA_DIR_ENV)
    if data:
        return Path(data) / "logs"
    import platformdirs

    return Path(platformdirs.user_log_dir("medviewer"))


def log_path() -> Path:
    """The current log file, ``log_dir() / "medviewer.log"``."""
    return log_dir() / FILE_NAME


class _RotatingFile(logging.handlers.RotatingFileHandler):
    """Rotates like its base, but a failed rotation (another medviewer holds the file on
    Windows, a read-only folder) keeps writing to the current file instead of erroring."""

    def doRollover(self) -> None:  # noqa: N802 (logging's name)
        try:
            super().doRollover()
        except OSError:
            if self.stream is None:
                self.stream = self._open()


QUIET_ON_STDERR = ("pynetdicom",)
"""Libraries whose failures medviewer reports itself in plain words: without ``-v`` their
own log lines reach the log file, not the terminal."""


class _NotOnStderr(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] not in QUIET_ON_STDERR


class _Origin(logging.Filter):
    """medviewer's records at any level; other libraries' from WARNING up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".")[0] == "medviewer"


def _remove_ours() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
            handler.close()


def configure_logging(*, verbose: bool = False, what: str = "") -> Path | None:
    """Send logs to the rotating file (and to stderr, as ``logging.basicConfig`` would).

    Parameters
    ----------
    verbose : bool
        Also show DEBUG records of every library on stderr (``-v``).
    what : str
        What is starting (``"gui"``, a command name), for the first line of the log. Never
        put paths or other user input here: nothing is registered for redaction yet.

    Returns
    -------
    Path or None
        The log file, or None when it cannot be written (a warning says why on stderr).

    Calling it again replaces the handlers it installed before (the file follows
    :func:`log_dir`). A stderr handler is added only when the root logger has no other
    handler, like ``basicConfig``.
    """
    _remove_ours()
    root = logging.getLogger()
    if not _state:
        _state["root_level"] = root.level
        _state["medviewer_level"] = logging.getLogger("medviewer").level
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("medviewer").setLevel(logging.DEBUG)
    redact = RedactFilter()
    if not root.handlers and sys.stderr is not None:  # None in a windowed frozen build
        stderr = logging.StreamHandler()
        stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
        stderr.setFormatter(logging.Formatter(STDERR_FORMAT))
        stderr.addFilter(redact)
        if not verbose:  # medviewer says it in one line; the library's own lines go to the file
            stderr.addFilter(_NotOnStderr())
        setattr(stderr, _OURS, True)
        root.addHandler(stderr)
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _RotatingFile(
            path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8", delay=False
        )
    except OSError as exc:
        log.warning(
            "cannot write the log file %s (%s); continuing without a log file (set %s to a "
            "writable folder)",
            path,
            exc.strerror or exc,
            LOG_DIR_ENV,
        )
        _state["path"] = None
        return None
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    handler.addFilter(_Origin())
    handler.addFilter(redact)
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    _state["path"] = path
    frozen = " (frozen)" if getattr(sys, "frozen", False) else ""
    log.info(
        "medviewer %s%s started%s: Python %s, %s",
        __version__,
        frozen,
        f" ({what})" if what else "",
        platform.python_version(),
        platform.platform(terse=True),
    )
    return path


def ensure_logging(what: str = "") -> Path | None:
    """:func:`configure_logging` unless it already ran in this process; the log file."""
    if "path" in _state and any(getattr(h, _OURS, False) for h in logging.getLogger().handlers):
        return _state["path"]
    return configure_logging(what=what)


def current_log_file() -> Path | None:
    """The file the installed handler writes to, or None when there is none."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, _OURS, False) and isinstance(handler, logging.FileHandler):
            return Path(handler.baseFilename)
    return None


def reset_logging() -> None:
    """Remove the handlers :func:`configure_logging` installed and restore the levels (tests)."""
    _remove_ours()
    if _state:
        logging.getLogger().setLevel(_state.get("root_level", logging.WARNING))
        logging.getLogger("medviewer").setLevel(_state.get("medviewer_level", logging.NOTSET))
    _state.clear()


def log_tail(max_lines: int = 200, max_bytes: int = 64_000) -> str:
    """The last lines of the current log file (already redacted), or a line saying why not."""
    path = current_log_file()
    if path is None:
        return "(no log file is being written)"
    for handler in logging.getLogger().handlers:
        if getattr(handler, _OURS, False):
            handler.flush()
    try:
        with open(path, "rb") as fp:
            fp.seek(0, os.SEEK_END)
            size = fp.tell()
            fp.seek(max(0, size - max_bytes))
            data = fp.read()
    except OSError as exc:
        return f"(the log file {path} could not be read: {exc.strerror or exc})"
    lines = data.decode("utf-8", "replace").splitlines()
    if size > max_bytes and lines:
        lines = lines[1:]  # the first one is cut
    return "\n".join(lines[-max_lines:])


__all__ = [
    "LOG_DIR_ENV",
    "configure_logging",
    "current_log_file",
    "ensure_logging",
    "log_dir",
    "log_path",
    "log_tail",
    "reset_logging",
]
