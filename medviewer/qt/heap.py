"""Keep full garbage collections short while the app works.

Python's cycle collector now and then walks every container object alive. After start-up
that is hundreds of thousands of long-lived objects (modules, classes, Qt wrappers, and torch
once it is imported), and a bulk job on a worker (a label import, a triage) allocates enough
to trigger such a walk: ~100 ms during which the GUI thread cannot run. ``gc.freeze()`` moves
the objects alive at that moment out of the collector's reach, so later walks only see what
the session allocates. Reference-counted garbage is still freed at once; only cycles among
the frozen objects would stay, which start-up objects do not form in practice.

The real app (:func:`medviewer.qt.app.start`) enables it; tests, which create and destroy many
windows in one process, do not.
"""

from __future__ import annotations

import gc

_enabled = False


def enable() -> None:
    """Freeze from now on (the app's start-up calls this once its window exists)."""
    global _enabled
    _enabled = True
    freeze_long_lived()


def freeze_long_lived() -> None:
    """Freeze every object alive now, when enabled (after start-up, after torch loads)."""
    if _enabled:
        gc.freeze()


def enabled() -> bool:
    return _enabled


def disable() -> None:
    """Stop freezing and give the frozen objects back to the collector (tests use it)."""
    global _enabled
    _enabled = False
    gc.unfreeze()
