"""Which torch device to run on, and how to recognise running out of its memory.

``auto`` takes a CUDA GPU when there is one, else Apple's MPS, else the CPU. A device that was
asked for but is absent is never an error: the model runs on the CPU and a notice says so.
"""

from __future__ import annotations

import re
import sys

from medviewer.errors import ModelError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
"""What ``--device`` and the device box accept (``cuda:N`` picks one of several GPUs)."""

_NAMES = {"cuda": "CUDA", "mps": "Apple MPS"}


def _mps_available(torch) -> bool:
    backend = getattr(torch.backends, "mps", None)
    try:
        return bool(backend is not None and backend.is_available())
    except Exception:  # old or odd builds: no MPS
        return False


def pick_device(preference: str = "auto") -> tuple[str, list[str]]:
    """Return ``(device, notices)`` for ``preference`` (auto, cpu, cuda, cuda:N or mps).

    ``notices`` are one-line messages for the user, e.g. when CUDA was requested but no CUDA
    GPU is available and the CPU is used instead. An unknown preference is a
    :class:`~medviewer.errors.ModelError` listing the choices.
    """
    pref = (preference or "auto").strip().lower()
    match = re.fullmatch(r"cuda:(\d+)", pref)
    if pref not in DEVICE_CHOICES and match is None:
        raise ModelError(
            f"unknown device {preference!r}: choose one of {', '.join(DEVICE_CHOICES)}"
        )
    if pref == "cpu":
        return "cpu", []
    import torch

    cuda = bool(torch.cuda.is_available())
    if pref == "auto":
        if cuda:
            return "cuda", []
        if _mps_available(torch):
            return "mps", []
        return "cpu", []
    if pref == "mps":
        if _mps_available(torch):
            return "mps", []
        return "cpu", [
            "Apple MPS was requested but this machine has no MPS GPU available; running on the CPU"
        ]
    if not cuda:
        return "cpu", [
            f"CUDA was requested{f' ({pref})' if match else ''} but no CUDA GPU is available; "
            "running on the CPU"
        ]
    if match is not None:
        index, count = int(match.group(1)), torch.cuda.device_count()
        if index >= count:
            return "cuda", [
                f"{pref} was requested but this machine has {count} CUDA GPU(s) "
                f"(cuda:0..cuda:{count - 1}); running on cuda:0"
            ]
        return pref, []
    return "cuda", []


def is_out_of_memory(exc: BaseException) -> bool:
    """True when ``exc`` says the device ran out of memory (CUDA, MPS or a plain CPU alloc)."""
    torch = sys.modules.get("torch")  # not imported yet: none of its errors can be here
    oom_type = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_cached_memory(device: str) -> None:
    """Give the allocator's cached blocks back after an out-of-memory error (best effort)."""
    try:
        import torch

        if device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()
        elif device == "mps" and _mps_available(torch):
            torch.mps.empty_cache()
    except Exception:  # cleanup only; the retry reports any real problem
        pass


def device_label(device: str) -> str:
    """A readable name: 'CUDA GPU (cuda:0)', 'Apple MPS', 'CPU'."""
    base = device.split(":")[0]
    if base == "cuda":
        return f"CUDA GPU ({device})"
    return _NAMES.get(base, device.upper())


def native_bf16(device: str) -> bool:
    """True when ``device`` does bfloat16 matrix arithmetic in hardware: a CUDA GPU that
    supports it (Ampere and later), or a CPU with AVX-512 BF16 or AMX. Elsewhere bfloat16 is
    emulated and slower than float32."""
    import torch

    dev = str(device)
    try:
        if dev.startswith("cuda"):
            return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        if dev == "cpu":
            cpu = torch.cpu
            return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # a build without these probes: assume not
        return False
    return False
