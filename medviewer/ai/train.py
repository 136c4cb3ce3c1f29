"""Fine-tune a model package on the site's own labels; save the result as a new user version.

:func:`finetune_iter` is a job: it yields a :class:`~medviewer.jobs.Progress` per batch
(``detail``: :class:`BatchProgress`), per epoch (:class:`EpochResult`) and while scoring
(:class:`Evaluating`), and returns a :class:`FinetuneResult`. Inputs come from
``LoadedModel.preprocess`` (the inference path), then light augmentation on the model input
(left-right flip, rotation, shift, intensity), drawn from a seeded ``torch.Generator``.

Transfer modes: ``probe`` trains only the last linear layer (the backbone, BatchNorm
statistics included, stays bit-identical), ``full`` trains everything, ``two_stage`` trains
the head for ``head_epochs`` and then all layers at a tenth of the learning rate. A class the
base model does not know adds an output row to the last layer; the old rows start as they were.

The base model and the new one are scored on the SAME validation slices; the new one's
temperature is fitted on them. The result is written into a ``.tmp-*`` folder of the user
models folder and renamed into ``<name>/<version>`` only when complete, so a killed run
leaves no half-written model behind. Bundled packages are only read.

This module holds the training loop (batches, out-of-memory halving, NaN stop, cancel, early
stopping); the parts live in ``train_options`` / ``train_records`` (options, progress records,
result), ``train_network`` (head growth, modes, optimizer, loss), ``train_inputs`` (inputs,
augmentation), ``train_metrics`` (base vs new metrics) and ``train_versions`` (saving). Every
name is importable from here as before.
"""

from __future__ import annotations

import copy
import logging
import math
import os  # noqa: F401  (tests patch ``train.os.rename`` to fail the save)
import time

import numpy as np

from medviewer.ai.datasets import DataPlan, key_text
from medviewer.ai.train_inputs import augment_batch
from medviewer.ai.train_inputs import model_inputs as _inputs
from medviewer.ai.train_metrics import RELIABILITY_BINS as RELIABILITY_BINS
from medviewer.ai.train_metrics import metrics_report, score_base, score_new
from medviewer.ai.train_metrics import monitor_value as _monitor_value
from medviewer.ai.train_network import FOCAL_GAMMA as FOCAL_GAMMA
from medviewer.ai.train_network import find_head, grow_head
from medviewer.ai.train_network import loss_function as _loss_fn
from medviewer.ai.train_network import make_optimizer as _optimizer
from medviewer.ai.train_network import stages_of as _stages
from medviewer.ai.train_options import LOSSES as LOSSES
from medviewer.ai.train_options import MODES as MODES
from medviewer.ai.train_options import MONITORS as MONITORS
from medviewer.ai.train_options import OPTIMIZERS as OPTIMIZERS
from medviewer.ai.train_options import TrainOptions, check_options
from medviewer.ai.train_records import BatchProgress, EpochResult, Evaluating, FinetuneResult
from medviewer.ai.train_versions import model_card, save_version, version_fields
from medviewer.errors import ModelError
from medviewer.jobs import CancelToken, Job, Progress

log = logging.getLogger(__name__)

EVAL_BATCH = 32


def _placement(device: str) -> str:
    """The torch device that really holds the tensors for ``device`` (tests fake a GPU by
    mapping ``cuda`` to the CPU here, as ``tests/ai/test_device.py`` fakes availability)."""
    return device


def _step(net, x, y, loss_fn, optimizer):
    """One optimisation step; returns the loss tensor (tests wrap this to fake failures)."""
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(net(x), y)
    if not bool(loss.isfinite()):
        return loss
    loss.backward()
    optimizer.step()
    return loss


def _logits(module, x, device: str, batch: int = EVAL_BATCH) -> np.ndarray:
    import torch

    module.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, x.shape[0], batch):
            xb = x[i : i + batch].to(_placement(device)).float()
            out.append(module(xb).double().cpu().numpy())
    if not out:
        return np.zeros((0, 0))
    return np.concatenate(out)


def finetune_iter(
    plan: DataPlan,
    options: TrainOptions = TrainOptions(),  # noqa: B008  (frozen)
    *,
    registry=None,
    cancel: CancelToken | None = None,
) -> Job[FinetuneResult]:
    """Fine-tune ``plan.base_ref`` on ``plan``; returns the saved, NOT activated, version.

    Under torchrun (``WORLD_SIZE`` > 1) every rank trains its share of each batch
    (DistributedSampler, DistributedDataParallel); rank 0 evaluates, saves and returns the
    result, the other ranks return None.
    """
    import torch

    from medviewer.ai import ddp
    from medviewer.ai.datasets import check_leakage
    from medviewer.ai.device import free_cached_memory, is_out_of_memory, pick_device
    from medviewer.ai.package import load_package
    from medviewer.ai.registry import ModelRegistry

    check_options(options)
    check_leakage(plan)
    if not plan.train or not plan.val:
        raise ModelError("the plan has no training or no validation slices; prepare it again")
    t_start = time.perf_counter()
    registry = registry if registry is not None else ModelRegistry()
    base_entry = registry.find(plan.base_ref)
    base_classes = tuple(base_entry.manifest.classes)
    if tuple(plan.classes[: len(base_classes)]) != base_classes:
        raise ModelError(
            f"the plan's classes ({', '.join(plan.classes)}) do not start with those of "
            f"{base_entry.ref} ({', '.join(base_classes)}); prepare the data again"
        )
    device, notices = pick_device(options.device)
    ctx, device = ddp.setup(device)
    warnings = list(notices)
    try:
        yield Progress(0, None, f"preparing inputs with {base_entry.ref}")
        base = load_package(base_entry.folder, "cpu")
        x_train, y_train = _inputs(base, plan, plan.train)
        x_val, y_val = _inputs(base, plan, plan.val)
        yv = y_val.numpy()
        cases = [key_text(it.key) for it in plan.val]
        n_cls = len(plan.classes)

        stages = _stages(options)
        n_epochs = sum(n for _, n, _ in stages)
        world, rank = ctx.world_size, ctx.rank
        per_rank = math.ceil(len(plan.train) / world)
        n_batches = math.ceil(per_rank / options.batch_size)
        total = n_epochs * n_batches + 2
        done = 0

        # -- the base model on the validation slices
        base_metrics = {}
        if ctx.is_main:
            yield Progress(
                done, total, f"scoring {base_entry.ref} on validation", Evaluating("base")
            )
            base_logits = _logits(base.module, x_val, "cpu")
            base_metrics = score_base(base_logits, base_entry, plan, yv, cases)
        done += 1

        # -- the network to train
        torch.manual_seed(options.seed)
        net = copy.deepcopy(base.module)
        grow_head(net, len(base_classes), n_cls, seed=options.seed)
        head_name, head = find_head(net, n_cls)
        head_params = {id(p) for p in head.parameters()}
        place = _placement(device)
        net.to(place)
        counts = np.bincount(y_train.numpy(), minlength=n_cls)
        loss_fn = _loss_fn(options, counts, place)
        gen = torch.Generator().manual_seed(options.seed + 1000 * rank)
        history: list[EpochResult] = []
        best_value, best_state, since_best = float("-inf"), None, 0
        batch_size = options.batch_size
        epoch = 0
        stopped = False
        for stage, stage_epochs, lr in stages:
            if stopped:
                break
            for p in net.parameters():
                p.requires_grad_(stage == "all" or id(p) in head_params)
            params = [p for p in net.parameters() if p.requires_grad]
            model = net
            if ctx.distributed:
                from torch.nn.parallel import DistributedDataParallel

                ids = [torch.device(place).index] if place.startswith("cuda") else None
                model = DistributedDataParallel(net, device_ids=ids)
            optimizer = _optimizer(params, options, lr)
            since_best = 0
            for _ in range(stage_epochs):
                epoch += 1
                t_epoch = time.perf_counter()
                if stage == "all":
                    net.train()
                else:
                    net.eval()  # a frozen backbone keeps its BatchNorm statistics
                if ctx.distributed:
                    from torch.utils.data import DistributedSampler

                    sampler = DistributedSampler(
                        range(len(plan.train)),
                        num_replicas=world,
                        rank=rank,
                        shuffle=True,
                        seed=options.seed,
                    )
                    sampler.set_epoch(epoch)
                    order = torch.tensor(list(sampler), dtype=torch.int64)
                else:
                    order = torch.randperm(len(plan.train), generator=gen)
                losses: list[tuple[float, int]] = []
                i = 0
                b = 0
                while i < len(order):
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    idx = order[i : i + batch_size]
                    xb = x_train[idx].float()
                    if options.augment:
                        xb = augment_batch(xb, gen)
                    xb, yb = xb.to(place), y_train[idx].to(place)
                    try:
                        loss = _step(model, xb, yb, loss_fn, optimizer)
                    except Exception as exc:
                        if not is_out_of_memory(exc):
                            raise
                        optimizer.zero_grad(set_to_none=True)
                        free_cached_memory(device)
                        if batch_size <= 1:
                            raise ModelError(
                                f"not enough memory on {device} to train even one slice per "
                                "batch: close other programs, choose the CPU or a smaller model"
                            ) from None
                        batch_size = max(1, batch_size // 2)
                        warnings.append(f"out of memory: batch halved to {batch_size}")
                        n_left = math.ceil((len(order) - i) / batch_size)
                        total += max(0, b + n_left - n_batches)
                        continue
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        raise ModelError(
                            f"training diverged at epoch {epoch} batch {b + 1} (loss {value}): "
                            f"lower the learning rate (now {lr:g}) or use the defaults"
                        )
                    losses.append((value, len(idx)))
                    i += len(idx)
                    b += 1
                    done += 1
                    nb = b + math.ceil((len(order) - i) / batch_size)
                    yield Progress(
                        done,
                        total,
                        f"epoch {epoch}/{n_epochs} ({stage}) batch {b}/{nb}: loss {value:.4f}",
                        BatchProgress(epoch, n_epochs, b, nb, value, stage, batch_size, len(idx)),
                    )
                n_seen = sum(n for _, n in losses)
                train_loss = sum(v * n for v, n in losses) / max(1, n_seen)
                train_loss = ddp.mean_across(ctx, train_loss)
                logits = _logits(net, x_val, device)
                value, val_loss = _monitor_value(options.monitor, logits, yv)
                improved = value > best_value or best_state is None
                if improved:
                    best_value, since_best = value, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    since_best += 1
                shown = -value if options.monitor == "val_loss" else value
                result = EpochResult(
                    epoch,
                    n_epochs,
                    stage,
                    float(train_loss),
                    float(val_loss),
                    options.monitor,
                    float(shown),
                    bool(improved),
                    round(time.perf_counter() - t_epoch, 3),
                )
                history.append(result)
                yield Progress(
                    done,
                    total,
                    f"epoch {epoch}/{n_epochs} ({stage}): train loss {train_loss:.4f}, val loss "
                    f"{val_loss:.4f}, {options.monitor} {shown:.4f}" + (" *" if improved else ""),
                    result,
                )
                if options.early_stopping and since_best >= options.early_stopping:
                    if epoch < n_epochs:
                        warnings.append(
                            f"stopped early at epoch {epoch}: {options.monitor} did not improve "
                            f"for {options.early_stopping} epoch(s)"
                        )
                        stopped = True
                    break
        ddp.barrier(ctx)
        if not ctx.is_main:
            return None

        # -- the new model: best epoch, temperature, metrics
        net.load_state_dict(best_state)
        yield Progress(done, total, "scoring the new model on validation", Evaluating("new"))
        logits = _logits(net, x_val, device)
        temperature, new_metrics = score_new(logits, yv, plan.classes, cases)
        done += 1

        # -- save
        yield Progress(done, total, "saving the new version")
        net.to("cpu")
        state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
        metrics = {"base": base_metrics, "new": new_metrics}
        fields = version_fields(
            base_entry,
            plan,
            options,
            metrics,
            temperature=temperature,
            device=device,
            world_size=world,
            head=head_name,
            history=history,
        )
        entry = save_version(
            registry,
            base_entry,
            state,
            fields,
            lambda man: model_card(man, base_entry.manifest, plan, options, metrics),
        )
        registry.clear_cache()
        yield Progress(total, total, f"saved {entry.ref} in {entry.folder}")
        return FinetuneResult(
            entry=entry,
            base_ref=base_entry.ref,
            plan=plan,
            options=options,
            base_metrics=base_metrics,
            new_metrics=new_metrics,
            history=history,
            warnings=[*plan.warnings, *warnings],
            device=device,
            seconds=round(time.perf_counter() - t_start, 2),
        )
    finally:
        ddp.teardown(ctx)


def finetune(plan: DataPlan, options: TrainOptions = TrainOptions(), **kw):  # noqa: B008
    """Run :func:`finetune_iter` to the end (keywords: ``registry``, ``cancel``,
    ``on_progress``)."""
    from medviewer.jobs import run_job

    on_progress = kw.pop("on_progress", None)
    return run_job(finetune_iter(plan, options, **kw), on_progress, kw.get("cancel"))


__all__ = [
    "BatchProgress",
    "EpochResult",
    "Evaluating",
    "FinetuneResult",
    "TrainOptions",
    "augment_batch",
    "check_options",
    "finetune",
    "finetune_iter",
    "find_head",
    "grow_head",
    "metrics_report",
    "model_card",
]
