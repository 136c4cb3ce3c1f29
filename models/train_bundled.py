"""Train and evaluate the bundled head CT lesion classifier, reproducibly, on this CPU.

    python models/train_bundled.py train      # ~45-55 min on 2 CPU cores (make train-model)
    python models/train_bundled.py evaluate   # re-measures the package (make eval-model)

The package lands in ``models/headct-lesions/2.0.0/``: ``weights.safetensors``,
``manifest.json``, ``MODEL_CARD.md``, ``metrics.json`` and ``training_log.jsonl``. Version
1.0.0 (``cbam_resnet``, trained by the previous version of this script) stays as it is.

Data (``bundled_sets.py``): the real head CT of the bundled sample study
(``resources/sample/cranium-ct``, GPL-2) with synthetic focal lesions from
:mod:`medviewer.ai.lesions`, their masks kept. Slices are split by position
(``bundled_sets.SPLITS``). Every training sample is drawn fresh from a seed made of (seed, epoch,
step), class-balanced, and varied the way normal CT varies between scanners
(:mod:`medviewer.ai.ct_variation`): position, noise, kernel, slice thickness, HU calibration,
field of view, beam hardening; and, for anatomy one head lacks, head-shape deformation, the
ends of CSF spaces in partial volume, oblique slices of the head tilted out of the slice
plane, each read from one training slab only, and a second, CT-like head made from Colin27's
MRI with the real CT's CSF, parenchyma, noise and slice thickness (``colin_ct.py``; 35 % of
the samples). Earlier weights of 2.0.0: ``--no-second-head --no-csf-ends --no-tilt`` (the
first), ``--no-second-head --no-tilt`` (the second), ``--no-second-head`` (the third).

The host CT has a real chronic frontal lesion of its own (:mod:`medviewer.ai.host_lesion`).
By default (``--host as-is``, the shipped weights) it is trained on as scanned, where the
slices through it count as normal; ``--host repaired`` trains on the CT with it replaced by
healthy tissue (not adopted: see the model card). The validation slices come from the
training host; ``evaluate`` always builds its sets from the repaired host.

Model: ``lesion_evidence`` (:mod:`medviewer.ai.net_evidence`): per-class evidence maps on a
32 x 32 grid, pooled to logits by log-mean-exp.

Loss: cross-entropy on the slice label plus binary cross-entropy of each lesion class's map
against the cells its mask touches (weight ``--seg-weight``; positive cells count
``--pos-weight`` times). Without the map loss the 1.0.0 network learned the hyperdense class
and almost nothing of the hypodense one, and its explanations did not point at lesions.
Optimiser: AdamW (weight decay 1e-4), one-cycle schedule (30 % warm-up), batch 32. The epoch
with the lowest validation loss is kept; temperature scaling is fitted on the validation
logits and stored in the manifest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bundled_sets as S  # noqa: E402

from medviewer.ai import evaluation as ev  # noqa: E402
from medviewer.ai import lesions as L  # noqa: E402

VAL_PER_CLASS = 200
TEST_PER_CLASS = 300
ROBUST_PER_FAMILY = 80
BATCH = 32


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pick_device(name: str) -> str:
    import torch

    if name != "auto":
        return name
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class Batches:
    """Training batches of one epoch, made in ``workers`` processes ahead of the optimiser.

    Worker ``i`` makes steps ``i``, ``i + workers``, ... and the loader takes one batch from
    each worker in turn, so the batches arrive in step order. Every batch comes from its own
    seed (:func:`bundled_sets.training_batch`): any number of workers gives the same batches
    in the same order, hence the same weights. On 2 CPU cores making batches, not the network,
    sets the pace (~0.6 s of one core per batch against ~0.3 s for a training step); with
    more cores, more workers keep a GPU fed."""

    def __init__(
        self, anatomy, seed: int, epoch: int, steps: int, workers=1, size=BATCH, **variation
    ) -> None:
        """``variation``: ``second``, ``csf_ends`` and ``tilted`` of
        :func:`bundled_sets.training_batch`, passed on as they are."""
        import torch

        class _Stream(torch.utils.data.IterableDataset):
            def __iter__(inner):
                info = torch.utils.data.get_worker_info()
                first, every = (info.id, info.num_workers) if info else (0, 1)
                pre = S.preprocessor()
                for step in range(first, steps, every):
                    yield S.training_batch(anatomy, pre, seed, epoch, step, size, **variation)

        workers = max(0, min(workers, steps))
        self.loader = torch.utils.data.DataLoader(
            _Stream(),
            batch_size=None,
            num_workers=workers,
            prefetch_factor=3 if workers else None,
        )

    def __iter__(self):
        return iter(self.loader)


def class_shares(text: str) -> list[float]:
    """``--class-shares``: three non-negative numbers, not all zero, normalised to sum 1."""
    try:
        v = [float(x) for x in text.split(",")]
    except ValueError:
        v = []
    if len(v) != len(L.CLASSES) or not all(np.isfinite(v)) or min(v) < 0 or sum(v) <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give {len(L.CLASSES)} non-negative numbers separated by commas, "
            f"one per class ({', '.join(L.CLASSES)}), e.g. 0.4,0.2,0.4"
        )
    return [x / sum(v) for x in v]


def logits_of(net, x: np.ndarray, device: str = "cpu") -> np.ndarray:
    import torch

    out = []
    net.eval()
    with torch.inference_mode():
        for i in range(0, len(x), 64):
            xb = torch.from_numpy(x[i : i + 64].astype(np.float32)).to(device)
            out.append(net(xb).double().cpu().numpy())
    return np.concatenate(out)


def operating_point(logits: np.ndarray, labels: np.ndarray, max_fpr: float) -> np.ndarray:
    """Per-class logit offsets (normal's 0) for the most probable class to be the answer:
    on the validation slices, the offsets with the highest mean sensitivity of the lesion
    classes among those calling at most ``max_fpr`` of normal slices abnormal (ties: fewer
    false positives, then the smallest offsets); the least false positives when none does."""
    grid = np.arange(-6.0, 6.01, 0.25)
    normal = labels == 0
    best, best_key = np.zeros(logits.shape[1]), None
    for a in grid:
        for b in grid:
            offsets = np.array([0.0, a, b])
            predicted = (logits + offsets).argmax(axis=1)
            fpr = float((predicted[normal] != 0).mean())
            sens = np.mean([(predicted[labels == c] == c).mean() for c in (1, 2)])
            key = (fpr <= max_fpr, sens if fpr <= max_fpr else -fpr, -fpr, -abs(a) - abs(b))
            if best_key is None or key > best_key:
                best, best_key = offsets, key
    return best


def train(args) -> None:
    import torch

    from medviewer.ai.builders import build

    t0 = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    anatomy = S.load_anatomy(args.host)
    second = S.load_second_head(args.second_head, anatomy) if args.second_head else None
    tilted = S.tilted_heads(anatomy) if args.tilt else None
    val = S.fixed_set(anatomy, "val", args.val_per_class, "train", args.seed + 1)
    log(f"anatomy and validation set ready ({time.perf_counter() - t0:.1f} s), device {device}")
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device != "mps")
    net = build(S.ARCHITECTURE, 3, len(L.CLASSES)).to(device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.per_epoch // BATCH
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * steps, pct_start=0.3
    )
    pos_weight = torch.full((1, len(L.CLASSES) - 1, 1, 1), args.pos_weight, device=device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logfile = open(out / "training_log.jsonl", "w")
    best = (float("inf"), None, -1)
    for epoch in range(args.epochs):
        net.train()
        t_epoch = time.perf_counter()
        cls_losses, map_losses = [], []
        for step, (xb, tb, yb) in enumerate(
            Batches(
                anatomy,
                args.seed,
                epoch,
                steps,
                args.workers,
                second=second,
                csf_ends=args.csf_ends,
                tilted=tilted,
                shares=args.class_shares,
            )
        ):
            xb = xb.to(device).contiguous(memory_format=torch.channels_last)
            tb, yb = tb.to(device), yb.to(device)
            with torch.autocast(device.split(":")[0], torch.bfloat16, enabled=bf16):
                logits, maps = net.forward_maps(xb)
            cls_loss = torch.nn.functional.cross_entropy(logits.float(), yb)
            map_loss = torch.nn.functional.binary_cross_entropy_with_logits(
                maps[:, 1:].float(), tb[:, 1:], pos_weight=pos_weight
            )
            loss = cls_loss + args.seg_weight * map_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            cls_losses.append(cls_loss.item())
            map_losses.append(map_loss.item())
            if step % 20 == 0:
                log(
                    f"epoch {epoch + 1} step {step}/{steps} class loss "
                    f"{np.mean(cls_losses[-20:]):.4f} map loss {np.mean(map_losses[-20:]):.4f}"
                )
        logits = logits_of(net, val.x, device)
        report = ev.classification_report(ev.softmax(logits), val.y, L.CLASSES)
        val_loss = ev.nll(logits, val.y)
        cm = np.asarray(report["confusion"]["matrix"])
        entry = {
            "epoch": epoch + 1,
            "train_class_loss": float(np.mean(cls_losses)),
            "train_map_loss": float(np.mean(map_losses)),
            "val_loss": val_loss,
            "val_macro_auc": report["auc"]["macro"],
            "val_sensitivity": {
                c: float(cm[i, i] / max(cm[i].sum(), 1)) for i, c in enumerate(L.CLASSES)
            },
            "val_false_positive_rate": report["false_positive_rate_normal"],
            "lr_end": float(sched.get_last_lr()[0]),
            "seconds": round(time.perf_counter() - t_epoch, 1),
        }
        logfile.write(json.dumps(entry) + "\n")
        logfile.flush()
        log(json.dumps(entry))
        if val_loss < best[0]:
            state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            best = (val_loss, state, epoch + 1)
    net.load_state_dict(best[1])
    logfile.close()
    summary = {
        "event": "done",
        "best_epoch": best[2],
        "minutes_training": round((time.perf_counter() - t0) / 60.0, 1),
        "samples": args.epochs * steps * BATCH,
        "threads": args.threads,
        "workers": args.workers,
        "device": device,
        "precision": "bf16 autocast" if bf16 else "fp32",
        "seed": args.seed,
        "host": args.host,
        "second_head": bool(args.second_head),
        "second_head_style": args.second_head,
        "second_head_fraction": S.SECOND_HEAD_FRACTION if args.second_head else 0.0,
        "csf_ends": bool(args.csf_ends),
        "tilt": bool(args.tilt),
        "class_shares": args.class_shares,
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}",
    }
    finish(args, net, val, device, summary, anatomy, t0)


def finish(args, net, val, device: str, summary: dict, anatomy, t0: float) -> None:
    """Operating point and temperature from the validation slices, then the package is
    written (weights, manifest, the log's last line) and evaluated."""
    import torch
    from safetensors.torch import save_file

    from medviewer.ai.package import sha256_of

    offsets = operating_point(logits_of(net, val.x, device), val.y, args.max_fpr)
    with torch.no_grad():  # a constant added to a class map adds the same to its logit
        net.head.bias += torch.as_tensor(offsets, dtype=net.head.bias.dtype, device=device)
    logits = logits_of(net, val.x, device)
    temperature = ev.fit_temperature(logits, val.y)
    summary.update(
        {
            "val_loss": ev.nll(logits, val.y),
            "val_loss_scaled": ev.nll(logits, val.y, temperature),
            "temperature": temperature,
            "class_offsets": [float(v) for v in offsets],
            "max_fpr": args.max_fpr,
            "minutes": round((time.perf_counter() - t0) / 60.0, 1),
        }
    )
    out = Path(args.out)
    with open(out / "training_log.jsonl", "a") as logfile:
        logfile.write(json.dumps(summary) + "\n")
    log(json.dumps(summary))
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(out / "weights.safetensors"), metadata={"format": "pt"})
    second_head = bool(summary.get("second_head"))
    m = S.manifest(
        sha256_of(out / "weights.safetensors"),
        temperature,
        second_head=second_head,
        host=summary.get("host", "as-is"),
    )
    if second_head:  # the weights derive from Colin27 too: its licence goes with them
        import shutil

        shutil.copyfile(S.COLIN_LICENCE, out / "LICENSE-colin27.txt")
    (out / "manifest.json").write_text(json.dumps(m.to_dict(), indent=2) + "\n")
    log(f"package written to {out}; evaluating")
    if not args.no_evaluate:
        import bundled_eval

        # the sets come from the repaired host whatever the training host was
        bundled_eval.evaluate(
            args, anatomy if getattr(args, "host", "as-is") == "repaired" else None
        )


def calibrate(args) -> None:
    """Redo :func:`finish` on the package's weights as they were when training ended (the
    best epoch's, before any offsets): for a run interrupted after its last epoch. The log's
    last line (its summary) is replaced."""
    import torch

    from medviewer.ai.builders import build
    from medviewer.ai.package import load_state_dict

    t0 = time.perf_counter()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    lines = (out / "training_log.jsonl").read_text().splitlines()
    summary = json.loads(lines[-1])
    if summary.get("event") != "done" or summary.get("class_offsets"):
        raise SystemExit("calibrate needs a log ending in a summary without class offsets")
    (out / "training_log.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    anatomy = S.load_anatomy(summary.get("host", "as-is"))
    val = S.fixed_set(anatomy, "val", args.val_per_class, "train", args.seed + 1)
    net = build(S.ARCHITECTURE, 3, len(L.CLASSES))
    net.load_state_dict(load_state_dict(out / "weights.safetensors"))
    keep = (
        "best_epoch", "samples", "threads", "device", "precision", "seed", "second_head",
        "second_head_fraction", "second_head_style", "csf_ends", "tilt", "class_shares",
        "workers", "machine", "host",
    )  # fmt: skip
    base = {"event": "done", **{k: summary[k] for k in keep if k in summary}}
    base["minutes_training"] = summary.get("minutes")
    finish(args, net, val, "cpu", base, anatomy, t0 - 60.0 * float(summary.get("minutes", 0)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train from scratch and write the package")
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--per-epoch", type=int, default=3072, help="samples per epoch")
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument(
        "--workers",
        type=int,
        default=max(1, min(8, (os.cpu_count() or 2) - 2)),
        help="processes making training batches; default: the cores beyond 2, at least 1 "
        "(1 on 2 cores: a second competes with the network). The weights are the same for "
        "any number",
    )
    t.add_argument("--seg-weight", type=float, default=1.0)
    t.add_argument(
        "--class-shares",
        type=class_shares,
        default=None,
        metavar="N,HYPER,HYPO",
        help="how often each class (normal, hyperdense, hypodense) is drawn for training, e.g. "
        "0.4,0.2,0.4 (normalised); default: equal shares, drawn as 2.0.0's shipped weights were",
    )
    t.add_argument("--pos-weight", type=float, default=20.0)
    t.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="auto: bfloat16 autocast on CPU and CUDA (weights stay float32), float32 on MPS",
    )
    t.add_argument(
        "--second-head",
        nargs="?",
        const="mri",
        default="matched",
        choices=S.SECOND_HEAD_STYLES,
        help="the CT-like Colin27 head (colin_ct.py) that a share of "
        f"{S.SECOND_HEAD_FRACTION:.0%}% of the training samples come from. Default 'matched' "
        "(2.0.0's shipped weights): its CSF, parenchyma, noise and slice thickness made like "
        "the real CT's, measured on the CT's training slices; alone or 'mri': the first "
        "conversion (fixed tissue levels, smooth noise)",
    )
    t.add_argument(
        "--no-second-head",
        dest="second_head",
        action="store_const",
        const=None,
        help="the real CT alone (2.0.0's first three weights; with --no-tilt, --no-csf-ends)",
    )
    t.add_argument(
        "--host",
        choices=S.HOSTS,
        default="as-is",
        help="the real head CT 'repaired' (its own chronic right frontal lesion replaced by "
        "the mirrored healthy side, medviewer/ai/host_lesion.py) or 'as-is' (default, the "
        "shipped weights: every slice through that lesion counts as normal)",
    )
    t.add_argument(
        "--no-csf-ends",
        dest="csf_ends",
        action="store_false",
        help="leave out the ends of CSF spaces in partial volume (ct_variation.csf_end, "
        f"{S.TRAIN_VARIATION['csf_end']:.0%}% of the samples): with --no-tilt and "
        "--no-second-head, 2.0.0's first weights",
    )
    t.add_argument(
        "--no-tilt",
        dest="tilt",
        action="store_false",
        help="leave out the oblique slices of the head tilted out of the slice plane "
        f"(bundled_sets.tilted_heads, {S.TRAIN_VARIATION['tilt']:.0%}% of the samples): "
        "with --no-second-head, 2.0.0's second weights",
    )
    c = sub.add_parser("calibrate", help="operating point, temperature and evaluation only")
    e = sub.add_parser("evaluate", help="re-measure the package and rewrite its card")
    for sp in (t, c):
        sp.add_argument("--val-per-class", type=int, default=VAL_PER_CLASS)
        sp.add_argument(
            "--max-fpr",
            type=float,
            default=0.03,
            help="operating point: at most this share of validation normal slices called abnormal",
        )
        sp.add_argument("--no-evaluate", action="store_true", help="skip the evaluation after")
    for sp in (t, c, e):
        sp.add_argument("--out", default=str(S.OUT))
        sp.add_argument("--seed", type=int, default=S.SEED)
        sp.add_argument("--threads", type=int, default=2)
        sp.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU)")
        sp.add_argument("--test-per-class", type=int, default=TEST_PER_CLASS)
        sp.add_argument("--robust-per-family", type=int, default=ROBUST_PER_FAMILY)
    args = p.parse_args(argv)
    # The network's OpenMP threads sleep between parallel regions instead of spinning, so the
    # batch worker gets the cores they would burn: ~17 % faster epochs on 2 cores. Only
    # scheduling changes: the weights are bit-identical. Read when torch loads (later).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.command == "train":
        train(args)
    elif args.command == "calibrate":
        calibrate(args)
    else:
        import bundled_eval

        bundled_eval.evaluate(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
