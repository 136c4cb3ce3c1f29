"""``train --store PATH --base NAME[:VERSION]``: fine-tune a model on the label store's final
labels into a new user version (not activated); ``--json``: one object. Runs under ``torchrun``
too (rank 0 reports)."""

from __future__ import annotations

import os
import sys

from medviewer.ai.device import DEVICE_CHOICES
from medviewer.cli.common import positive_int
from medviewer.cli.output import ProgressBar, UsageError, print_json
from medviewer.errors import MedviewerError


def _class_map(items) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for text in items or ():
        label, sep, target = text.partition("=")
        if not sep or not label.strip():
            raise UsageError(
                f"--map {text!r}: write LABEL=CLASS (or LABEL= to leave the label out)"
            )
        out[label.strip()] = target.strip() or None
    return out


def _print_metrics(base: dict, new: dict, out) -> None:
    def f(v):
        return "   -  " if v is None else f"{v:6.3f}"

    out.write(f"{'':<12} {'base':>6}  {'new':>6}   ({new['n']} validation slices)\n")
    for key in ("accuracy", "macro_f1", "macro_auc", "ece"):
        out.write(f"{key:<12} {f(base.get(key))}  {f(new.get(key))}\n")


def cmd_train(args) -> int:
    """Fine-tune a model on final labels; save a new user version (not activated)."""
    from medviewer.ai import ddp
    from medviewer.ai.datasets import DataFilters, SplitOptions, prepare_iter
    from medviewer.ai.train import TrainOptions, check_options, finetune_iter
    from medviewer.jobs import run_job

    if args.k_folds and args.k_folds < 2:
        raise UsageError("--k-folds must be at least 2 (or leave it out for one split)")
    if args.fold and not args.k_folds:
        raise UsageError("--fold needs --k-folds")
    if not 0.0 < args.val_fraction < 1.0:
        raise UsageError(f"--val-fraction must lie between 0 and 1, got {args.val_fraction}")
    head_epochs = TrainOptions().head_epochs if args.head_epochs is None else args.head_epochs
    options = TrainOptions(
        mode=args.mode,
        epochs=args.epochs,
        head_epochs=min(head_epochs, args.epochs),
        lr=args.lr,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        loss=args.loss,
        label_smoothing=args.label_smoothing,
        augment=not args.no_augment,
        early_stopping=args.early_stopping,
        monitor=args.monitor,
        seed=args.seed,
        device=args.device,
    )
    try:
        check_options(options)
    except MedviewerError as exc:
        raise UsageError(str(exc)) from None
    if not os.path.isfile(args.store):
        raise MedviewerError(f"no label store at {args.store}: give the file with --store")
    main_rank = ddp.rank() == 0
    filters = DataFilters(
        annotators=tuple(args.annotator or ()), review=args.review, label_set=args.label_set
    )
    split = SplitOptions(
        val_fraction=args.val_fraction,
        k_folds=args.k_folds or 0,
        fold=args.fold or 0,
        seed=args.seed,
        allow_single_patient=args.allow_single_patient,
    )
    bar = ProgressBar("preparing") if main_rank else None
    try:
        plan = run_job(
            prepare_iter(
                args.store,
                args.base,
                filters=filters,
                split=split,
                data_dirs=args.data or (),
                class_map=_class_map(args.map),
                add_classes=args.add_classes,
            ),
            bar,
        )
    finally:
        if bar is not None:
            bar.close()
    if main_rank:
        sys.stderr.write(plan.summary() + "\n")
        sys.stderr.flush()
    bar = ProgressBar("training") if main_rank else None

    def on_progress(step) -> None:
        if bar is None:
            return
        bar(step)
        from medviewer.ai.train import EpochResult

        if isinstance(step.detail, EpochResult):
            bar.close()
            bar._last = -1
            print(step.message, file=sys.stderr, flush=True)

    try:
        result = run_job(finetune_iter(plan, options), on_progress)
    finally:
        if bar is not None:
            bar.close()
    if result is None:  # a rank other than 0 of a torchrun: rank 0 reports
        return 0
    for text in result.warnings:
        if text not in plan.warnings:
            print(f"warning: {text}", file=sys.stderr)
    if args.json:
        print_json(result.to_json())
    else:
        out = sys.stdout
        out.write(
            f"saved {result.entry.ref} in {result.entry.folder} (fine-tuned from "
            f"{result.base_ref}; not active)\n"
        )
        _print_metrics(result.base_metrics, result.new_metrics, out)
        mods = ", ".join(result.entry.manifest.modalities) or "CT"
        out.write(
            f"use it: medviewer models activate {result.entry.ref} --modality "
            f"{mods.split(',')[0]}\n"
        )
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune a model on the label store's final labels (a new, inactive version)",
    )
    p.add_argument("--store", required=True, metavar="PATH", help="the label store file")
    p.add_argument(
        "--data",
        nargs="+",
        action="extend",
        metavar="FOLDER",
        help="folders to search for the labeled images by UID (default: the recorded paths)",
    )
    p.add_argument(
        "--base", required=True, metavar="NAME[:VERSION]", help="the model to start from"
    )
    p.add_argument("--mode", default="two_stage", choices=("probe", "full", "two_stage"))
    p.add_argument("--epochs", type=positive_int, default=8, metavar="N")
    p.add_argument(
        "--head-epochs",
        type=int,
        default=None,
        metavar="N",
        help="two_stage: epochs of head-only training first (default 2)",
    )
    p.add_argument("--lr", type=float, default=1e-3, metavar="X", help="learning rate")
    p.add_argument("--batch-size", type=positive_int, default=16, metavar="N")
    p.add_argument("--optimizer", default="adamw", choices=("adamw", "sgd"))
    p.add_argument("--weight-decay", type=float, default=1e-4, metavar="X")
    p.add_argument("--loss", default="ce_weighted", choices=("ce", "ce_weighted", "focal"))
    p.add_argument("--label-smoothing", type=float, default=0.0, metavar="X")
    p.add_argument("--no-augment", action="store_true", help="no flips / rotation / shift")
    p.add_argument(
        "--early-stopping", type=int, default=3, metavar="N", help="patience in epochs; 0: off"
    )
    p.add_argument(
        "--monitor", default="macro_f1", choices=("macro_f1", "val_loss", "macro_auc", "accuracy")
    )
    p.add_argument("--seed", type=int, default=0, metavar="N")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--annotator", nargs="+", action="extend", metavar="A", help="only these")
    p.add_argument("--review", default="not_flagged", choices=("any", "approved", "not_flagged"))
    p.add_argument("--label-set", metavar="NAME", help="only labels of this label set")
    p.add_argument("--val-fraction", type=float, default=0.25, metavar="X")
    p.add_argument("--k-folds", type=int, default=0, metavar="K")
    p.add_argument("--fold", type=int, default=0, metavar="F")
    p.add_argument(
        "--allow-single-patient",
        action="store_true",
        help="with one patient only, validate on other slice ranges of it (optimistic)",
    )
    p.add_argument(
        "--add-classes", action="store_true", help="label classes the base lacks become outputs"
    )
    p.add_argument(
        "--map",
        nargs="+",
        action="extend",
        metavar="LABEL=CLASS",
        help="train LABEL as the base's CLASS (LABEL= leaves it out)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_train)
