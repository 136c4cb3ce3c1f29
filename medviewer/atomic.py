"""Atomic file writes: a temporary file in the target's folder, fsync, then one rename.

A reader (or a crash at any moment) sees the old file or the new one, never half of one. The
callers turn an ``OSError`` into their own message (what was being saved, what is kept).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def _write_atomic(
    path: str | os.PathLike, write, newline: str | None, binary: bool = False
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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
