"""torch, torchvision and pytorch-grad-cam are imported by one thread at a time.

Their imports are not thread-safe against each other: torchvision and grad-cam reach into
``torch._dynamo`` and ``torch.distributed``, which look up operators (``torch.ops.prims``)
that another thread's half-finished import of torch has not registered yet, and fail with
``'_OpNamespace' 'prims' object has no attribute 'sum'``. The viewer imports them on a worker
ahead of time (its warm-up) while a Run or a heat map may start its own worker, so every path
that needs them first passes through :func:`import_heavy`, which imports them under one lock.
Once imported, a call costs a dictionary look-up.
"""

from __future__ import annotations

import threading

_LOCK = threading.Lock()
_imported: set[str] = set()


def import_heavy(grad_cam: bool = False) -> None:
    """Import torch and torchvision (and pytorch-grad-cam with ``grad_cam``), waiting for
    another thread that is importing them."""
    wanted = {"torch", "grad_cam"} if grad_cam else {"torch"}
    if wanted <= _imported:
        return
    with _LOCK:
        if "torch" not in _imported:
            import torch  # noqa: F401
            import torchvision  # noqa: F401

            _imported.add("torch")
        if grad_cam and "grad_cam" not in _imported:
            import pytorch_grad_cam  # noqa: F401

            _imported.add("grad_cam")


__all__ = ["import_heavy"]
