"""Atomic file writes: a temporary file in the target's folder, fsync, then one rename.

A reader (or a crash at any moment) sees the old file or the new one, never half of one. The
callers turn an ``OSError`` into their own message (what was being saved, what is kept). A
replaced file keeps its permissions; one without write permission for its owner (made
read-only on purpose) is refused, as an ordinary write would be.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from pathlib import Path


def _write_atomic(
    path: str | os.PathLike, write, newline: str | None, binary: bool = False
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        old_mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        old_mode = None  # a new file: private (0600), as mkstemp makes it
    if old_mode is not None and not old_mode & stat.S_IWUSR:
        # made read-only on purpose (an administrator's lock): a rename would bypass it
        raise PermissionError(errno.EACCES, "the file is read-only", str(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if old_mode is not None:
            os.chmod(tmp, old_mode)  # the file keeps the permissions it had
        mode = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8", "newline": newline}
        with os.fdopen(fd, **mode) as fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (DICOM objects); creates the folder. Raises
    OSError."""
    return _write_atomic(path, lambda fp: fp.write(data), None, binary=True)


def write_text_atomic(path: str | os.PathLike, text: str, *, newline: str | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; creates the folder. Raises OSError."""
    return _write_atomic(path, lambda fp: fp.write(text), newline)


def write_json_atomic(path: str | os.PathLike, data, *, sort_keys: bool = False) -> Path:
    """``data`` as indented JSON with a final newline, written atomically. Raises OSError."""

    def write(fp) -> None:
        json.dump(data, fp, indent=2, sort_keys=sort_keys)
        fp.write("\n")

    return _write_atomic(path, write, None)


__all__ = ["write_bytes_atomic", "write_json_atomic", "write_text_atomic"]
