"""Selftest checks of where medviewer writes: the label store and the log file.

Both only probe: a small file is written, synced and deleted; nothing is created.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from medviewer.selftest.runner import CheckFailed, Context


def _probe_folder(folder: Path, what: str, hint: str) -> str:
    """Write, sync and delete a small file in ``folder``, or in the nearest existing folder
    above it when it does not exist yet (nothing is created); "" or a note saying so."""
    target, note = folder, ""
    while not target.exists() and target.parent != target:
        target, note = target.parent, f" (its folder will be made in {target.parent})"
    if not target.is_dir():
        raise CheckFailed(
            f"the {what} {folder} cannot be made: {target} is a file, not a folder", hint
        )
    try:
        fd, name = tempfile.mkstemp(dir=target, prefix=".medviewer-selftest-", suffix=".tmp")
        try:
            os.write(fd, b"medviewer selftest\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        raise CheckFailed(
            f"cannot write in {target}, the folder of the {what} {folder} ({exc.strerror or exc})",
            hint,
        ) from None
    return note


def check_label_store(ctx: Context) -> str:
    from medviewer.labels.store import LabelStore
    from medviewer.settings import label_store_path, load_settings

    settings, _ = load_settings()
    path = label_store_path(settings)
    hint = (
        "choose a label store in a folder you may write to (Labels menu), or ask for write "
        "permission on this one"
    )
    note = _probe_folder(path.parent, "label store", hint)
    if not path.exists():
        return f"{path}: not created yet; can be{note or ' (its folder is writable)'}"
    if not os.access(path, os.W_OK):
        raise CheckFailed(f"the label store {path} is read-only", hint)
    with LabelStore(path, read_only=True) as store:
        total = store.stats()["total"]
    return f"{path}: opens, writable, {total} label(s)"


def check_log(ctx: Context) -> str:
    from medviewer.logs import LOG_DIR_ENV, current_log_file, log_path

    active = current_log_file()
    path = active or log_path()
    note = _probe_folder(
        path.parent,
        "log file",
        f"set {LOG_DIR_ENV} to a folder you may write to, or fix this folder's permissions",
    )
    if active is None:
        return f"{path}: can be written{note}; this process writes no log (not configured)"
    return f"{path}: writable, patient identifiers redacted"
