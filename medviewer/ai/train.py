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
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from medviewer.ai import evaluation as ev
from medviewer.ai.datasets import DataPlan, key_text
from medviewer.ai.registry import ModelEntry
from medviewer.errors import ModelError
from medviewer.jobs import CancelToken, Job, Progress

log = logging.getLogger(__name__)

MODES = ("probe", "full", "two_stage")
OPTIMIZERS = ("adamw", "sgd")
LOSSES = ("ce", "ce_weighted", "focal")
MONITORS = ("macro_f1", "val_loss", "macro_auc", "accuracy")
FOCAL_GAMMA = 2.0
RELIABILITY_BINS = 10
EVAL_BATCH = 32


@dataclass(frozen=True)
class TrainOptions:
    """How to fine-tune (defaults suit a few hundred labeled slices)."""

    mode: str = "two_stage"
    epochs: int = 8
    head_epochs: int = 2
    lr: float = 1e-3
    batch_size: int = 16
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    loss: str = "ce_weighted"
    label_smoothing: float = 0.0
    augment: bool = True
    early_stopping: int = 3
    monitor: str = "macro_f1"
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class BatchProgress:
    """Progress.detail after each training batch."""

    epoch: int
    n_epochs: int
    batch: int
    n_batches: int
    loss: float
    stage: str
    batch_size: int
    slices: int = 0
    """Slices in this batch (the last batch of an epoch may be smaller than batch_size)."""


@dataclass(frozen=True)
class EpochResult:
    """Progress.detail at the end of each epoch (validation of that epoch's weights)."""

    epoch: int
    n_epochs: int
    stage: str
    train_loss: float
    val_loss: float
    monitor: str
    value: float
    best: bool
    seconds: float


@dataclass(frozen=True)
class Evaluating:
    """Progress.detail while the base (``which="base"``) or new model is scored."""

    which: str


@dataclass
class FinetuneResult:
    """The new version (not activated) and how it compares with its base."""

    entry: ModelEntry
    base_ref: str
    plan: DataPlan
    options: TrainOptions
    base_metrics: dict
    new_metrics: dict
    history: list[EpochResult]
    warnings: list[str]
    device: str = "cpu"
    seconds: float = 0.0

    def to_json(self) -> dict:
        """The object ``medviewer train --json`` prints."""
        base_name, _, base_version = self.base_ref.partition(":")
        return {
            "model": {
                "name": self.entry.name,
                "version": self.entry.version,
                "path": str(self.entry.folder),
            },
            "base": {"name": base_name, "version": base_version},
            "split": {
                "train": len(self.plan.train),
                "val": len(self.plan.val),
                "patients_train": self.plan.patients.get("train", 0),
                "patients_val": self.plan.patients.get("val", 0),
            },
            "base_metrics": self.base_metrics,
            "new_metrics": self.new_metrics,
        }


# -- checks ------------------------------------------------------------------------------------
def check_options(o: TrainOptions) -> None:
    """ModelError naming the option, what it must be and what it was."""

    def bad(name, must, got):
        return ModelError(f"training option {name} must be {must} (got {got!r})")

    if o.mode not in MODES:
        raise bad("mode", f"one of {', '.join(MODES)}", o.mode)
    if o.optimizer not in OPTIMIZERS:
        raise bad("optimizer", f"one of {', '.join(OPTIMIZERS)}", o.optimizer)
    if o.loss not in LOSSES:
        raise bad("loss", f"one of {', '.join(LOSSES)}", o.loss)
    if o.monitor not in MONITORS:
        raise bad("monitor", f"one of {', '.join(MONITORS)}", o.monitor)
    for name in ("epochs", "batch_size"):
        v = getattr(o, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise bad(name, "a whole number of at least 1", v)
    for name in ("head_epochs", "early_stopping", "seed"):
        v = getattr(o, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise bad(name, "a whole number of at least 0", v)
    if not (isinstance(o.lr, (int, float)) and o.lr > 0 and math.isfinite(o.lr)):
        raise bad("lr", "a positive number such as 1e-3", o.lr)
    if not (o.weight_decay >= 0):
        raise bad("weight_decay", "0 or more", o.weight_decay)
    if not (0.0 <= o.label_smoothing < 1.0):
        raise bad("label_smoothing", "between 0 and 1 (e.g. 0.1)", o.label_smoothing)


# -- the network ---------------------------------------------------------------------------------
def find_head(net, n_classes: int) -> tuple[str, object]:
    """The last ``nn.Linear`` giving ``n_classes`` outputs: (dotted name, module)."""
    from torch import nn

    found = None
    for name, module in net.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == n_classes:
            found = (name, module)
    if found is None:
        raise ModelError(
            f"no final linear layer with {n_classes} outputs found in the network; this "
            "architecture cannot be fine-tuned here"
        )
    return found


def grow_head(net, n_old: int, n_new: int, seed: int = 0) -> None:
    """Replace the last linear layer by one with ``n_new`` outputs; rows ``0..n_old-1`` are
    copied exactly, the new rows start small (seeded)."""
    import torch
    from torch import nn

    name, old = find_head(net, n_old)
    if n_new == n_old:
        return
    new = nn.Linear(old.in_features, n_new, bias=old.bias is not None)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        new.weight.copy_(torch.randn(n_new, old.in_features, generator=g) * 0.01)
        new.weight[:n_old] = old.weight
        if old.bias is not None:
            new.bias.zero_()
            new.bias[:n_old] = old.bias
            new.bias[n_old:] = old.bias.min()
    new.to(old.weight.device)
    parent_name, _, attr = name.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, attr, new)


def _placement(device: str) -> str:
    """The torch device that really holds the tensors for ``device`` (tests fake a GPU by
    mapping ``cuda`` to the CPU here, as ``tests/ai/test_device.py`` fakes availability)."""
    return device


# -- batches ---------------------------------------------------------------------------------------
def augment_batch(x, generator, *, max_degrees: float = 10.0, max_shift: float = 0.06):
    """Random left-right flip, rotation (+-``max_degrees``), shift (+- a fraction of the size)
    and intensity (scale 0.9-1.1, offset +-0.05) of model inputs in [0, 1]; seeded."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    n = x.shape[0]
    u = torch.rand(n, 6, generator=generator, dtype=torch.float32)
    flip = torch.where(u[:, 0] < 0.5, -1.0, 1.0)
    theta = (u[:, 1] * 2 - 1) * math.radians(max_degrees)
    tx, ty = (u[:, 2] * 2 - 1) * max_shift * 2, (u[:, 3] * 2 - 1) * max_shift * 2
    cos, sin = torch.cos(theta), torch.sin(theta)
    mat = torch.stack(
        [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
    ).to(x.device, x.dtype)
    grid = F.affine_grid(mat, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    scale = (0.9 + 0.2 * u[:, 4]).to(x.device, x.dtype).view(n, 1, 1, 1)
    offset = ((u[:, 5] * 2 - 1) * 0.05).to(x.device, x.dtype).view(n, 1, 1, 1)
    return (out * scale + offset).clamp_(0.0, 1.0)


def _loss_fn(options: TrainOptions, train_counts: np.ndarray, device):
    import torch
    import torch.nn.functional as F  # noqa: N812

    weight = None
    if options.loss == "ce_weighted":
        present = train_counts > 0
        w = np.ones(len(train_counts))
        w[present] = train_counts[present].sum() / (present.sum() * train_counts[present])
        weight = torch.tensor(w, dtype=torch.float32, device=device)
    smoothing = float(options.label_smoothing)

    if options.loss == "focal":

        def focal(logits, y):
            logp = F.log_softmax(logits.float(), dim=1)
            lp = logp.gather(1, y[:, None])[:, 0]
            return (-((1.0 - lp.exp()) ** FOCAL_GAMMA) * lp).mean()

        return focal

    def ce(logits, y):
        return F.cross_entropy(logits.float(), y, weight=weight, label_smoothing=smoothing)

    return ce


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


# -- metrics ---------------------------------------------------------------------------------------
def _num(v) -> float | None:
    v = float(v)
    return None if not math.isfinite(v) else v


def _reliability(probs: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS) -> dict:
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = {"confidence": [], "accuracy": [], "count": []}
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        n = int(inside.sum())
        out["count"].append(n)
        out["confidence"].append(float(conf[inside].mean()) if n else None)
        out["accuracy"].append(float(correct[inside].mean()) if n else None)
    return out


def metrics_report(
    probs: np.ndarray,
    labels: np.ndarray,
    classes,
    *,
    probs_unscaled: np.ndarray | None = None,
    temperature: float = 1.0,
    cases: list[str] | None = None,
) -> dict:
    """The METRICS dict: accuracy, macro F1 / AUC (over the classes present in ``labels``),
    ECE before and after temperature scaling, per-class precision / recall / F1 / AUC /
    support, confusion (rows true), reliability bins."""
    classes = list(classes)
    labels = np.asarray(labels, dtype=np.int64)
    pred = probs.argmax(axis=1)
    cm = ev.confusion(labels, pred, len(classes))
    per_class = {}
    f1s, aucs = [], []
    for i, c in enumerate(classes):
        tp = int(cm[i, i])
        support = int(cm[i, :].sum())
        predicted = int(cm[:, i].sum())
        precision = tp / predicted if predicted else float("nan")
        recall = tp / support if support else float("nan")
        denom = support + predicted
        f1 = 2.0 * tp / denom if denom else float("nan")
        a = ev.auc(probs[:, i], labels == i)
        per_class[c] = {
            "precision": _num(precision),
            "recall": _num(recall),
            "f1": _num(f1),
            "auc": _num(a),
            "support": support,
        }
        if support:
            f1s.append(f1)
            if math.isfinite(a):
                aucs.append(a)
    unscaled = probs if probs_unscaled is None else probs_unscaled
    out = {
        "n": int(len(labels)),
        "classes": classes,
        "accuracy": _num((pred == labels).mean()) if len(labels) else None,
        "macro_f1": _num(np.mean(f1s)) if f1s else None,
        "macro_auc": _num(np.mean(aucs)) if aucs else None,
        "ece": _num(ev.ece(probs, labels)),
        "ece_before_scaling": _num(ev.ece(unscaled, labels)),
        "temperature": float(temperature),
        "per_class": per_class,
        "confusion": cm.tolist(),
        "reliability": _reliability(probs, labels),
    }
    if cases is not None:
        out["cases"] = list(cases)
    return out


def _monitor_value(monitor: str, logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(value, val_loss) of one epoch; ``value`` is oriented so that higher is better."""
    val_loss = ev.nll(logits, labels) if len(labels) else float("nan")
    if monitor == "val_loss":
        return -val_loss, val_loss
    probs = ev.softmax(logits)
    rep = metrics_report(probs, labels, list(range(logits.shape[1])))
    v = rep["accuracy" if monitor == "accuracy" else monitor]
    return (float("-inf") if v is None else float(v)), val_loss


# -- saving ----------------------------------------------------------------------------------------
def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def model_card(manifest, base, plan: DataPlan, options: TrainOptions, metrics: dict) -> str:
    """MODEL_CARD.md of a fine-tuned version."""
    b, n = metrics["base"], metrics["new"]
    lines = [
        f"# {manifest.name} {manifest.version} — fine-tuned from {base.ref}",
        "",
        "> **Research use only. Not for diagnosis.** Fine-tuned on local labels; check it on",
        "> your own held-out patients before relying on it for anything.",
        "",
        "## What it was fine-tuned from",
        f"- Base model: {base.ref} (sha256 {base.sha256}); its card stays as it was.",
        f"- Classes: {', '.join(manifest.classes)}"
        + (f" (added: {', '.join(plan.added_classes)})" if plan.added_classes else ""),
        f"- Mode: {options.mode}, {options.epochs} epoch(s), lr {options.lr:g}, batch "
        f"{options.batch_size}, optimizer {options.optimizer}, loss {options.loss}, "
        f"augmentation {'on' if options.augment else 'off'}, seed {options.seed}.",
        "",
        "## What it was fine-tuned on",
        f"- Label snapshot sha256: {plan.label_snapshot}",
        f"- Annotators: {', '.join(plan.annotators) or '-'}",
        f"- Slices: {len(plan.train)} training, {len(plan.val)} validation; patients "
        f"{plan.patients.get('train', 0)} / {plan.patients.get('val', 0)}.",
        "",
        "| class | train | val |",
        "|---|---:|---:|",
    ]
    for c in manifest.classes:
        lines.append(f"| {c} | {plan.counts['train'].get(c, 0)} | {plan.counts['val'].get(c, 0)} |")
    if plan.missing:
        lines.append(f"\n{len(plan.missing)} labeled slice(s) were not found on disk and left out.")
    lines += [
        "",
        "## Base vs new on the same validation slices",
        f"{n['n']} slices; macro over the classes present in validation.",
        "",
        "| metric | base | new |",
        "|---|---:|---:|",
    ]
    for key in ("accuracy", "macro_f1", "macro_auc", "ece"):
        lines.append(f"| {key} | {_fmt(b.get(key))} | {_fmt(n.get(key))} |")
    lines.append(f"| temperature | {b['temperature']:.3f} | {n['temperature']:.3f} |")
    if b.get("note"):
        lines += ["", f"Note: {b['note']}"]
    lines += [
        "",
        "## Caveats",
        "- The temperature was fitted on the same validation slices these numbers come from, "
        "so the calibration (ECE) of the new model is optimistic.",
    ]
    lines += [f"- {w}" for w in plan.warnings]
    lines += ["- Not for diagnosis.", ""]
    return "\n".join(lines)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fp:
        fp.write(data)
        fp.flush()
        os.fsync(fp.fileno())


def save_version(registry, base_entry, state: dict, manifest_fields: dict, card) -> ModelEntry:
    """Write a new immutable user version atomically: a ``.tmp-*`` folder in the user models
    folder, renamed to ``<name>/<version>`` once every file is on disk."""
    from safetensors.torch import save_file

    from medviewer.ai.manifest import parse_manifest
    from medviewer.ai.package import sha256_of

    name = base_entry.name
    registry.clean_stale_temporary()
    # a new version must not become active by itself: pin what is active now
    for mod in base_entry.manifest.modalities:
        if mod not in registry.active_refs():
            current = registry.active(mod)
            if current is not None:
                registry.set_active(mod, current.ref)
    root = registry.user_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-finetune-", dir=root))
    except OSError as exc:
        raise ModelError(
            f"cannot write to the user models folder {root}: {exc.strerror or exc}; check free "
            "space and permissions"
        ) from None
    try:
        weights = tmp / "weights.safetensors"
        save_file(state, str(weights), metadata={"format": "pt"})
        with open(weights, "rb+") as fp:
            os.fsync(fp.fileno())
        sha = sha256_of(weights)
        for _attempt in range(20):
            version = registry.next_version(name, base_entry.version)
            data = {**manifest_fields, "name": name, "version": version}
            data["weights"] = {"file": "weights.safetensors", "sha256": sha}
            manifest = parse_manifest(data, "fine-tuned manifest")
            _write_file(tmp / "manifest.json", (json.dumps(data, indent=2) + "\n").encode())
            _write_file(tmp / "MODEL_CARD.md", card(manifest).encode("utf-8"))
            _fsync_dir(tmp)
            dest = registry.version_folder(name, version)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                continue  # taken meanwhile (another run): next version
            try:
                os.rename(tmp, dest)
            except OSError:
                if dest.exists():
                    continue
                raise
            _fsync_dir(dest.parent)
            tmp = None
            break
        else:
            raise ModelError(f"no free version for {name} in {root}; remove old versions")
    except OSError as exc:
        raise ModelError(
            f"cannot save the fine-tuned model in {root}: {exc.strerror or exc}; check free "
            "space and permissions (nothing was installed)"
        ) from None
    finally:
        if tmp is not None and Path(tmp).exists():
            shutil.rmtree(tmp, ignore_errors=True)
    entry = registry.find(f"{name}:{version}")
    if entry.folder.resolve() != dest.resolve():
        raise ModelError(f"the saved model {name}:{version} is not the one listed ({entry.folder})")
    return entry


# -- the job ---------------------------------------------------------------------------------------
def _inputs(model, plan: DataPlan, items) -> tuple:
    """float16 (n, C, H, W) model inputs through ``model.preprocess`` and int64 labels."""
    import torch

    from medviewer.dicom.volume import load_volume

    need = [
        (it.series_key, it.index) for it in items if (it.series_key, it.index) not in plan.pixels
    ]
    for skey in sorted({s for s, _ in need}):  # a plan without pixels: read the series again
        series = plan.series.get(skey)
        if series is None:
            raise ModelError(f"series {skey} of the plan is unknown; prepare the data again")
        volume = load_volume(series)
        for it in items:
            if it.series_key == skey:
                plan.pixels[(skey, it.index)] = np.array(volume.array[it.index])
    h, w = model.manifest.input_size
    x = torch.empty((len(items), model.manifest.channels, h, w), dtype=torch.float16)
    for i, it in enumerate(items):
        arr = model.preprocess(
            plan.pixels[(it.series_key, it.index)], invert=plan.inverts.get(it.series_key, False)
        )
        x[i] = torch.from_numpy(arr)
    index = {c: i for i, c in enumerate(plan.classes)}
    y = torch.tensor([index[it.label] for it in items], dtype=torch.int64)
    return x, y


def _stages(o: TrainOptions) -> list[tuple[str, int, float]]:
    if o.mode == "probe":
        return [("head", o.epochs, o.lr)]
    if o.mode == "full":
        return [("all", o.epochs, o.lr)]
    head = min(o.head_epochs, o.epochs)
    out = [("head", head, o.lr)] if head else []
    if o.epochs - head > 0:
        out.append(("all", o.epochs - head, o.lr / 10.0))
    return out


def _optimizer(params, o: TrainOptions, lr: float):
    import torch

    if o.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=o.weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=o.weight_decay)


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
        n_added = n_cls - len(base_classes)

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
            t_base = base_entry.manifest.temperature
            pb = ev.softmax(base_logits, t_base)
            pb1 = ev.softmax(base_logits)
            if n_added:
                pad = np.zeros((len(pb), n_added))
                pb, pb1 = np.hstack([pb, pad]), np.hstack([pb1, pad])
            base_metrics = metrics_report(
                pb, yv, plan.classes, probs_unscaled=pb1, temperature=t_base, cases=cases
            )
            if n_added:
                base_metrics["note"] = (
                    f"{base_entry.ref} has no output for {', '.join(plan.added_classes)}: its "
                    "probability for them is 0, so it can never predict them"
                )
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
        temperature = float(min(20.0, max(0.05, ev.fit_temperature(logits, yv))))
        new_metrics = metrics_report(
            ev.softmax(logits, temperature),
            yv,
            plan.classes,
            probs_unscaled=ev.softmax(logits),
            temperature=temperature,
            cases=cases,
        )
        done += 1

        # -- save
        yield Progress(done, total, "saving the new version")
        net.to("cpu")
        state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
        m = base_entry.manifest
        lineage = {
            "base": {"name": m.name, "version": m.version, "sha256": m.sha256},
            "label_snapshot": plan.label_snapshot,
            "annotators": list(plan.annotators),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "split": {
                "train": len(plan.train),
                "val": len(plan.val),
                "patients_train": plan.patients.get("train", 0),
                "patients_val": plan.patients.get("val", 0),
                "counts": plan.counts,
                "single_patient": plan.single_patient,
                **asdict(plan.split),
            },
            "filters": {**asdict(plan.filters), "annotators": list(plan.filters.annotators)},
            "class_map": dict(plan.class_map),
            "added_classes": list(plan.added_classes),
            "missing": len(plan.missing),
            "options": asdict(options),
            "device": device,
            "world_size": world,
            "head": head_name,
            "history": [asdict(h) for h in history],
        }
        metrics = {"base": base_metrics, "new": new_metrics}
        fields = {
            **m.to_dict(),
            "classes": list(plan.classes),
            "temperature": temperature,
            "metrics": metrics,
            "lineage": lineage,
            "training_data": (
                f"fine-tuned from {m.ref} on {len(plan.train) + len(plan.val)} locally labeled "
                f"slice(s) (label snapshot {plan.label_snapshot[:12]}); base: {m.training_data}"
            ),
            "description": (
                f"{m.name} fine-tuned from {m.ref} on local labels ({', '.join(plan.classes)}). "
                "Research use only, not for diagnosis."
            ),
        }
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
