"""Data-parallel training under ``torchrun``: process group set-up and tear-down.

``torchrun --nproc_per_node N -m medviewer train ...`` starts N copies of the command with
``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. Each copy
joins one process group (gloo on the CPU, NCCL on CUDA GPUs); rank 0 evaluates, saves and
prints. Without ``WORLD_SIZE`` (or with 1) nothing here does anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a distributed run (world_size 1: not distributed)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    backend: str = ""
    owns_group: bool = False
    """True when :func:`setup` created the process group (and :func:`teardown` ends it)."""

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _int_env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def world_size() -> int:
    """``WORLD_SIZE`` from the environment (1 when not run by torchrun)."""
    return max(1, _int_env("WORLD_SIZE", 1))


def rank() -> int:
    return _int_env("RANK", 0) if world_size() > 1 else 0


def setup(device: str) -> tuple[DistContext, str]:
    """Join the process group when ``WORLD_SIZE`` > 1; returns the context and the device this
    rank should use (``cuda:LOCAL_RANK`` on GPUs)."""
    n = world_size()
    if n <= 1:
        return DistContext(), device
    import torch
    import torch.distributed as dist

    from medviewer.errors import ModelError

    r, local = _int_env("RANK", 0), _int_env("LOCAL_RANK", 0)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        device = f"cuda:{local % max(1, torch.cuda.device_count())}"
        torch.cuda.set_device(device)
    owns = False
    if not dist.is_initialized():
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        try:
            dist.init_process_group(backend=backend, rank=r, world_size=n)
        except Exception as exc:
            raise ModelError(
                f"cannot join the distributed run (rank {r} of {n}, {backend}): {exc}; start it "
                "with torchrun --nproc_per_node N, with MASTER_ADDR/MASTER_PORT reachable"
            ) from None
        owns = True
    return DistContext(n, r, local, backend, owns), device


def teardown(ctx: DistContext) -> None:
    """Leave the process group if :func:`setup` created it."""
    if not ctx.owns_group:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        import torch.distributed as dist

        dist.barrier()


def mean_across(ctx: DistContext, value: float) -> float:
    """The mean of ``value`` over all ranks (``value`` itself when not distributed)."""
    if not ctx.distributed:
        return value
    import torch
    import torch.distributed as dist

    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size
