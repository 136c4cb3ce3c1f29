"""The model commands: ``infer`` (classify every slice of one series; the series result),
``explain`` (one slice's heat map as .npy, aligned with it) and ``models list | import | remove
| activate`` (the bundled and the user's model packages)."""

from __future__ import annotations

import os
import sys

from medviewer.ai.device import DEVICE_CHOICES
from medviewer.cli.common import (
    add_series_arguments,
    load_series,
    one_series,
    positive_int,
    scan_paths,
)
from medviewer.cli.output import ProgressBar, UsageError, print_json
from medviewer.errors import MedviewerError, ModelError


def _signed(x: float) -> str:
    text = f"{x:+.3f}"
    return "0.000" if text in ("+0.000", "-0.000") else text


def _check_slice(k: int, n: int, key: str) -> None:
    if not 0 <= k < n:
        raise MedviewerError(
            f"--slice {k} is out of range: series {key} has {n} slice(s), use 0..{n - 1} "
            "(the order of 'medviewer convert')"
        )


def _check_target(registry, ref: str | None, modality: str, target: str | None) -> None:
    """A class name the model's card does not list is refused at once, from the card alone
    (not after seconds of loading the model)."""
    if target is None or target.isdigit():
        return
    entry = registry.find(ref) if ref else registry.active(modality)
    if entry is not None and target not in entry.manifest.classes:
        raise ModelError(
            f"unknown class {target!r} for {entry.ref}: use one of "
            f"{', '.join(entry.manifest.classes)}"
        )


def cmd_explain(args) -> int:
    """Write one slice's explanation map: float32 [rows, cols] in [0, 1], aligned with it."""
    if not args.output.lower().endswith(".npy"):
        raise UsageError(f"the map is written as NumPy .npy: end {args.output!r} with .npy")
    import numpy as np

    from medviewer.ai.explain import FAITHFULNESS_HELP, METHOD_LABELS, explain
    from medviewer.ai.registry import ModelRegistry

    result = scan_paths(args.paths)
    series = one_series(result, args)
    _check_slice(args.slice, series.shape[0], series.key)
    registry = ModelRegistry()
    _check_target(registry, args.model, series.modality, args.target)  # before loading torch
    model = registry.load(ref=args.model, modality=series.modality, device=args.device)
    for notice in registry.last_notices:
        print(f"note: {notice}", file=sys.stderr)
    volume = load_series(series)
    _check_slice(args.slice, volume.array.shape[0], series.key)
    expl = explain(
        model,
        volume.array[args.slice],
        args.method,
        args.target,
        invert=volume.invert,
        faithfulness=not args.no_faithfulness,
    )
    out = os.path.abspath(args.output)
    tmp = f"{out}.part.npy"
    try:
        np.save(tmp, np.ascontiguousarray(expl.map, dtype=np.float32))
        os.replace(tmp, out)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise MedviewerError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    rows, cols = expl.map.shape
    p = "" if expl.probability is None else f", p={expl.probability:.3f}"
    print(
        f"wrote {args.output} ({rows}x{cols} float32 in [0, 1], aligned with slice "
        f"{args.slice} of series {series.key}): {METHOD_LABELS[expl.method]} for "
        f"{expl.target!r}{p}, model {model.manifest.ref} on {model.device}",
        file=sys.stderr,
    )
    if expl.faithfulness is not None:
        print(
            f"faithfulness {expl.faithfulness_name}: {_signed(expl.faithfulness)} "
            f"({FAITHFULNESS_HELP})",
            file=sys.stderr,
        )
    return 0


def _print_prediction(res, series, out) -> None:
    classes = list(res.classes)
    top = res.top
    out.write(
        f"Model {res.model} {res.version} (sha256 {res.sha256[:12]}…) on {res.device}\n"
        f"Series {series.key} ({series.modality or '?'}, {len(res.slices)} slice(s) "
        f"classified; {res.method} over slices)\n"
    )
    width = max(len(c) for c in classes)
    for c in classes:
        mark = "  <- top" if c == top else ""
        out.write(f"  {c:<{width}}  {res.probabilities[c]:.3f}{mark}\n")
    if res.method == "max":
        out.write("  (max: each class's highest slice probability; these need not sum to 1)\n")
    out.write("\nSlices (index in the order of 'medviewer convert'):\n")
    top_w = max(width, 3)
    cols = "  ".join(f"{'p(' + c + ')':>{max(len(c) + 3, 6)}}" for c in classes)
    out.write(f"  {'index':>5}  {'top':<{top_w}}  {cols}\n")
    for p in res.slices:
        vals = "  ".join(f"{p.probabilities[c]:>{max(len(c) + 3, 6)}.3f}" for c in classes)
        out.write(f"  {p.index:>5}  {p.top:<{top_w}}  {vals}\n")


def cmd_infer(args) -> int:
    """Classify every slice of one series and aggregate them (table or one JSON object)."""
    from medviewer.ai.classifier import predict
    from medviewer.ai.registry import ModelRegistry

    result = scan_paths(args.paths)
    series = one_series(result, args)
    registry = ModelRegistry()
    model = registry.load(ref=args.model, modality=series.modality, device=args.device)
    notices = list(registry.last_notices)
    for text in notices:
        print(f"notice: {text}", file=sys.stderr)
    volume = load_series(series)
    for w in volume.warnings:
        print(f"warning: {w.code}: {w.message}", file=sys.stderr)
    with ProgressBar("classifying") as bar:
        res = predict(model, volume, batch_size=args.batch_size, on_progress=bar)
    res.warnings[:0] = notices
    for text in res.warnings[len(notices) :]:
        print(f"warning: {text}", file=sys.stderr)
    if args.json:
        print_json(res.to_dict())
    else:
        _print_prediction(res, series, sys.stdout)
    return 0


def _active_for(registry, entries) -> dict[str, list[str]]:
    """ref -> the modalities it is the active model for (chosen or by default)."""
    modalities = set(registry.active_refs())
    for e in entries:
        modalities.update(e.manifest.modalities)
    out: dict[str, list[str]] = {}
    for mod in sorted(modalities):
        entry = registry.active(mod)
        if entry is not None:
            out.setdefault(entry.ref, []).append(mod)
    return out


def cmd_models_list(args) -> int:
    from medviewer.ai.registry import ModelRegistry

    registry = ModelRegistry()
    entries = registry.entries()
    problems = registry.problems()
    active = _active_for(registry, entries)
    rows = [
        {
            "ref": e.ref,
            "name": e.name,
            "version": e.version,
            "source": e.source,
            "bundled": e.bundled,
            "folder": str(e.folder),
            "architecture": e.manifest.architecture,
            "classes": list(e.manifest.classes),
            "modalities": list(e.manifest.modalities),
            "active_for": active.get(e.ref, []),
            "aggregation": e.manifest.aggregation,
            "description": e.manifest.description,
        }
        for e in entries
    ]
    if args.json:
        print_json({"models": rows, "problems": problems})
        return 0
    out = sys.stdout
    if not rows:
        out.write("No models installed. Import one with `medviewer models import FOLDER`.\n")
    else:
        ref_w = max(len("REF"), *(len(r["ref"]) for r in rows))
        out.write(
            f"{'REF':<{ref_w}}  {'SOURCE':<7}  {'ARCHITECTURE':<15}  {'MODALITIES':<10}  "
            f"{'ACTIVE FOR':<10}  CLASSES\n"
        )
        for r in rows:
            out.write(
                f"{r['ref']:<{ref_w}}  {r['source']:<7}  {r['architecture']:<15}  "
                f"{', '.join(r['modalities']) or 'any':<10}  "
                f"{', '.join(r['active_for']) or '-':<10}  {', '.join(r['classes'])}\n"
            )
    for text in problems:
        print(f"warning: {text}", file=sys.stderr)
    return 0


def cmd_models_import(args) -> int:
    from medviewer.ai.registry import ModelRegistry

    entry = ModelRegistry().import_package(args.folder)
    mods = ", ".join(entry.manifest.modalities) or "any modality"
    print(f"imported {entry.ref} ({mods}) into {entry.folder}", file=sys.stderr)
    return 0


def cmd_models_remove(args) -> int:
    from medviewer.ai.registry import ModelRegistry

    entry = ModelRegistry().remove(args.ref)
    print(f"removed {entry.ref} ({entry.folder})", file=sys.stderr)
    return 0


def cmd_models_activate(args) -> int:
    from medviewer.ai.registry import ModelRegistry

    modality = args.modality.strip().upper()
    entry = ModelRegistry().set_active(modality, args.ref)
    if entry.manifest.modalities and modality not in entry.manifest.modalities:
        print(
            f"warning: the model card of {entry.ref} lists {', '.join(entry.manifest.modalities)}"
            f", not {modality}: its results on {modality} series are outside what it was "
            "trained on",
            file=sys.stderr,
        )
    print(f"{entry.ref} is now the model for {modality} series", file=sys.stderr)
    return 0


def cmd_models_usage(args) -> int:
    raise UsageError("say what to do: models list | import FOLDER | remove REF | activate REF")


def _explain_arguments(p) -> None:
    """explain's arguments, added when the command is used: its --method choices come from
    medviewer.ai.explain (numpy and the model package code), which the other commands skip."""
    from medviewer.ai.explain import METHODS

    add_series_arguments(p)
    p.add_argument(
        "--slice", type=int, required=True, metavar="K", help="slice index, in convert's order"
    )
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--target", metavar="CLASS", help="class to explain (default: predicted)")
    p.add_argument(
        "--model", metavar="NAME[:VERSION]", help="default: the active model for the modality"
    )
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument(
        "--no-faithfulness", action="store_true", help="skip the ROAD faithfulness score"
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT.npy")


def register(sub) -> None:
    """explain, infer and models; ``sub`` makes :class:`~medviewer.cli.common.CommandParser`s."""
    p = sub.add_parser(
        "explain",
        help="write one slice's explanation map (Grad-CAM, ..., attention) as .npy",
        arguments=_explain_arguments,
    )
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "infer", help="classify every slice of one series with a model; series result"
    )
    add_series_arguments(p)
    p.add_argument(
        "--model", metavar="NAME[:VERSION]", help="default: the active model for the modality"
    )
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--batch-size", type=positive_int, default=16, metavar="N")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser("models", help="list, import, remove or activate model packages")
    p.set_defaults(func=cmd_models_usage)
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    q = msub.add_parser("list", help="installed models (bundled and imported)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=cmd_models_list)
    q = msub.add_parser("import", help="check a package folder and copy it to your models")
    q.add_argument("folder", metavar="FOLDER", help="folder holding manifest.json and weights")
    q.set_defaults(func=cmd_models_import)
    q = msub.add_parser("remove", help="delete an imported model (bundled ones are read-only)")
    q.add_argument("ref", metavar="REF", help="NAME:VERSION")
    q.set_defaults(func=cmd_models_remove)
    q = msub.add_parser("activate", help="use a model by default for a modality")
    q.add_argument("ref", metavar="REF", help="NAME or NAME:VERSION")
    q.add_argument("--modality", required=True, metavar="MOD", help="DICOM modality, e.g. CT")
    q.set_defaults(func=cmd_models_activate)
