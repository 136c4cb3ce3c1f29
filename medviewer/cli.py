"""Command line: ``medviewer inspect | convert | infer | explain | models | gui``.

- ``inspect PATH...``: the studies, series, warnings and skipped files (``--json``: one object)
- ``convert PATH... -o OUT``: one series as .npy / .nii(.gz) / .nrrd / .mha, in HU for CT
- ``anonymize IN OUT``: de-identified copies (DICOM PS3.15 Basic profile), same folder layout
- ``infer PATH...``: classify every slice of one series with a model; the series result
- ``explain PATH... --slice K --method M -o OUT.npy``: one slice's heat map, aligned with it
- ``models list | import | remove | activate``: the bundled and the user's model packages
- ``labels stats | export | import``: the label store (counts; CSV / JSON out and in)
- ``train --store PATH --base NAME[:VERSION]``: fine-tune a model on the store's final labels;
  a new user version (not activated); ``--json``: one object. Runs under ``torchrun`` too
- ``gui [PATH...]``: the desktop viewer (``medviewer PATH`` too); the samples when no PATH
- ``selftest [--json]``: check this installation (packages, decoders, window, torch, models,
  Grad-CAM, label store, log); exit 0 only when every check passes

Exit codes: 0 success, 1 could not do it (one-line reason on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence

from medviewer import __version__
from medviewer.errors import MedviewerError

log = logging.getLogger("medviewer")


class _ProgressBar:
    """A one-line text progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, label: str, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self._last = -1

    def __call__(self, step) -> None:
        if not self.enabled or not step.total:
            return
        pct = int(100 * step.done / step.total)
        if pct == self._last:
            return
        self._last = pct
        filled = pct * 30 // 100
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {pct:3d}% ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._last >= 0:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


def _scan(paths: Sequence[str]):
    from medviewer.dicom import scan

    missing = [p for p in paths if not os.path.exists(p)]
    if missing and len(missing) == len(paths):
        raise MedviewerError(f"no such file or folder: {missing[0]}")
    bar = _ProgressBar("scanning")
    try:
        return scan(paths, on_progress=bar)
    finally:
        bar.close()


def series_to_dict(series) -> dict:
    fmt = series.pixel_format
    return {
        "series_uid": series.series_uid,
        "key": series.key,
        "modality": series.modality,
        "description": series.description,
        "series_number": series.series_number,
        "n_files": series.n_files,
        "n_frames": series.n_frames,
        "shape": list(series.shape[:3]),
        "spacing": [round(float(v), 6) for v in series.geometry.spacing],
        "orientation": series.geometry.orientation,
        "photometric": fmt.photometric,
        "transfer_syntaxes": list(series.transfer_syntaxes),
        "warnings": [w.to_dict() for w in series.warnings],
    }


def scan_to_dict(result) -> dict:
    return {
        "studies": [
            {
                "study_uid": st.study_uid,
                "patient_id": st.patient_id,
                "study_date": st.study_date,
                "description": st.description,
                "series": [series_to_dict(s) for s in st.series],
            }
            for st in result.studies
        ],
        "skipped": [s.to_dict() for s in result.skipped],
    }


def _print_table(result, out) -> None:
    if not result.studies:
        out.write("No image series found.\n")
    for st in result.studies:
        out.write(
            f"Study {st.study_uid}\n  patient {st.patient_id or '-'}  date {st.study_date or '-'}"
            f"  {st.description}\n"
        )
        header = (
            f"  {'#':>4} {'mod':<5} {'shape (z,y,x)':<18} {'spacing mm (z,y,x)':<24} "
            f"{'orient':<9} description"
        )
        out.write(header + "\n")
        for s in st.series:
            shape = "x".join(str(v) for v in s.shape[:3])
            spacing = ", ".join(f"{v:.3g}" for v in s.geometry.spacing)
            num = "" if s.series_number is None else str(s.series_number)
            out.write(
                f"  {num:>4} {s.modality:<5} {shape:<18} {spacing:<24} "
                f"{s.geometry.orientation:<9} {s.description}\n"
            )
            out.write(f"       key {s.key}\n")
            for w in s.warnings:
                out.write(f"       ! {w.code}: {w.message}\n")
    if result.skipped:
        out.write(f"\nSkipped {len(result.skipped)} file(s):\n")
        for s in result.skipped:
            out.write(f"  {s.code:<18} {s.path}\n  {'':<18} {s.reason}\n")


def cmd_inspect(args) -> int:
    result = _scan(args.paths)
    if args.json:
        json.dump(scan_to_dict(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_table(result, sys.stdout)
    return 0


def _output_kind(path: str) -> str:
    from medviewer.dicom.export import OUTPUT_SUFFIXES, output_format

    kind = output_format(path)
    if kind is None:
        raise _UsageError(
            f"cannot tell the output format of {path!r}: end it with one of "
            + ", ".join(OUTPUT_SUFFIXES)
        )
    return kind


class _UsageError(Exception):
    pass


def _one_series(result, args):
    """--series, else the only series scanned (a clear error when there are none or several)."""
    if args.series:
        return result.find_series(args.series)
    all_series = result.all_series()
    if not all_series:
        raise MedviewerError(
            f"no image series found in {', '.join(args.paths)} ({len(result.skipped)} "
            "file(s) skipped; 'medviewer inspect' lists the reasons)"
        )
    if len(all_series) != 1:
        keys = ", ".join(s.key for s in all_series)
        raise MedviewerError(f"{len(all_series)} series found; choose one with --series ({keys})")
    return all_series[0]


def cmd_convert(args) -> int:
    _output_kind(args.output)  # a usage error (exit 2) before any scanning
    from medviewer.dicom import load_volume
    from medviewer.dicom.export import write_volume

    result = _scan(args.paths)
    series = _one_series(result, args)
    bar = _ProgressBar("loading")
    try:
        volume = load_volume(series, on_progress=bar)
    finally:
        bar.close()
    write_volume(volume, args.output)
    for w in volume.warnings:
        print(f"warning: {w.code}: {w.message}", file=sys.stderr)
    shape = "x".join(str(v) for v in volume.array.shape)
    print(
        f"wrote {args.output} ({shape} {volume.array.dtype}, series {series.key})", file=sys.stderr
    )
    return 0


def cmd_anonymize(args) -> int:
    """De-identified copies of IN (file, folder, DICOMDIR) in the new folder OUT."""
    from medviewer.dicom.deid import anonymize

    bar = _ProgressBar("de-identifying")
    try:
        result = anonymize(args.input, args.output, on_progress=bar)
    finally:
        bar.close()
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(
            f"wrote {result.written} de-identified file(s) to {result.output} "
            f"({result.uids_replaced} UID(s) replaced); skipped {len(result.skipped)}",
            file=sys.stderr,
        )
        for s in result.skipped:
            print(f"  skipped {s.code}: {s.path}: {s.reason}", file=sys.stderr)
        for text in result.warnings:
            print(f"warning: {text}", file=sys.stderr)
    if not result.written:
        if not args.json:
            print(f"no DICOM file in {args.input} could be de-identified", file=sys.stderr)
        return 1
    return 0


def _signed(x: float) -> str:
    text = f"{x:+.3f}"
    return "0.000" if text in ("+0.000", "-0.000") else text


def _check_slice(k: int, n: int, key: str) -> None:
    if not 0 <= k < n:
        raise MedviewerError(
            f"--slice {k} is out of range: series {key} has {n} slice(s), use 0..{n - 1} "
            "(the order of 'medviewer convert')"
        )


def cmd_explain(args) -> int:
    """Write one slice's explanation map: float32 [rows, cols] in [0, 1], aligned with it."""
    if not args.output.lower().endswith(".npy"):
        raise _UsageError(f"the map is written as NumPy .npy: end {args.output!r} with .npy")
    import numpy as np

    from medviewer.ai.explain import FAITHFULNESS_HELP, METHOD_LABELS, explain
    from medviewer.ai.registry import ModelRegistry
    from medviewer.dicom import load_volume

    result = _scan(args.paths)
    series = _one_series(result, args)
    _check_slice(args.slice, series.shape[0], series.key)
    registry = ModelRegistry()
    model = registry.load(ref=args.model, modality=series.modality, device=args.device)
    for notice in registry.last_notices:
        print(f"note: {notice}", file=sys.stderr)
    bar = _ProgressBar("loading")
    try:
        volume = load_volume(series, on_progress=bar)
    finally:
        bar.close()
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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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
    from medviewer.dicom import load_volume

    result = _scan(args.paths)
    series = _one_series(result, args)
    registry = ModelRegistry()
    model = registry.load(ref=args.model, modality=series.modality, device=args.device)
    notices = list(registry.last_notices)
    for text in notices:
        print(f"notice: {text}", file=sys.stderr)
    bar = _ProgressBar("loading")
    try:
        volume = load_volume(series, on_progress=bar)
    finally:
        bar.close()
    for w in volume.warnings:
        print(f"warning: {w.code}: {w.message}", file=sys.stderr)
    bar = _ProgressBar("classifying")
    try:
        res = predict(model, volume, batch_size=args.batch_size, on_progress=bar)
    finally:
        bar.close()
    res.warnings[:0] = notices
    for text in res.warnings[len(notices) :]:
        print(f"warning: {text}", file=sys.stderr)
    if args.json:
        json.dump(res.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
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
        json.dump({"models": rows, "problems": problems}, sys.stdout, indent=2)
        sys.stdout.write("\n")
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
    raise _UsageError("say what to do: models list | import FOLDER | remove REF | activate REF")


def _label_store(args, *, create: bool):
    """The store of --store, else the settings' store (user data dir by default)."""
    from medviewer.labels.store import LabelStore
    from medviewer.settings import label_store_path, load_settings

    path = args.store or label_store_path(load_settings()[0])
    return LabelStore(path, create=create)


def cmd_labels_stats(args) -> int:
    with _label_store(args, create=False) as store:
        stats = store.stats()
        path = store.path
    if args.json:
        json.dump({"store": str(path), **stats}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"Label store {path}: {stats['total']} label(s)\n")
    for part in ("label", "annotator", "status", "review", "source"):
        counts = stats[f"by_{part}"]
        if not counts:
            continue
        out.write(f"\nby {part}:\n")
        width = max(len(k or "(none)") for k in counts)
        for name, n in counts.items():
            out.write(f"  {name or '(none)':<{width}}  {n:>7}\n")
    return 0


def cmd_labels_export(args) -> int:
    from medviewer.labels.io import export_labels

    suffix = os.path.splitext(args.output)[1].lower()
    if suffix not in (".csv", ".json"):
        raise _UsageError(f"the labels are written as .csv or .json: rename {args.output!r}")
    filters = {
        k: v
        for k, v in (
            ("annotator", args.annotator),
            ("status", args.status),
            ("label", args.label),
            ("series_uid", args.series),
        )
        if v
    }
    with _label_store(args, create=False) as store:
        n = export_labels(store, args.output, include_phi=args.include_phi, **filters)
    phi = " including file paths (may identify patients)" if args.include_phi else ""
    print(f"wrote {n} label(s) to {args.output}{phi}", file=sys.stderr)
    return 0


def cmd_labels_import(args) -> int:
    from medviewer.labels.io import import_labels
    from medviewer.labels.label_sets import default_label_set, list_label_sets

    if args.label_set:
        sets = {ls.name: ls for ls in list_label_sets()}
        if args.label_set not in sets:
            raise _UsageError(
                f"no label set {args.label_set!r}; known: {', '.join(sorted(sets)) or 'none'}"
            )
        label_set = sets[args.label_set]
    else:
        label_set = default_label_set()
    known = None
    if args.study:
        result = _scan(args.study)
        known = {s.series_uid for s in result.all_series()}
        if not known:
            raise MedviewerError(
                f"no image series found in {', '.join(args.study)}: nothing to check the "
                "labels against"
            )
    if not os.path.isfile(args.file):
        raise MedviewerError(f"no such file: {args.file}")
    with _label_store(args, create=True) as store:
        report = import_labels(
            store, args.file, label_set=label_set, known_series=known, dry_run=args.dry_run
        )
    if args.json:
        json.dump({"file": args.file, **report.to_dict()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        verb = "would import" if args.dry_run else "imported"
        print(
            f"{args.file}: {verb} {report.imported}, unchanged {report.unchanged}, "
            f"skipped {len(report.skipped)} of {report.rows} row(s)",
            file=sys.stderr,
        )
        for text in report.warnings:
            print(f"warning: {text}", file=sys.stderr)
        for row in report.skipped:
            print(f"  line {row.line}: {row.reason}", file=sys.stderr)
    if report.rows == 0 or (report.skipped and not report.imported and not report.unchanged):
        if not args.json:
            print("nothing could be imported", file=sys.stderr)
        return 1
    return 0


def cmd_labels_usage(args) -> int:
    raise _UsageError("say what to do: labels stats | export -o FILE | import FILE")


def _class_map(items) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for text in items or ():
        label, sep, target = text.partition("=")
        if not sep or not label.strip():
            raise _UsageError(
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
        raise _UsageError("--k-folds must be at least 2 (or leave it out for one split)")
    if args.fold and not args.k_folds:
        raise _UsageError("--fold needs --k-folds")
    if not 0.0 < args.val_fraction < 1.0:
        raise _UsageError(f"--val-fraction must lie between 0 and 1, got {args.val_fraction}")
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
        raise _UsageError(str(exc)) from None
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
    bar = _ProgressBar("preparing") if main_rank else None
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
    bar = _ProgressBar("training") if main_rank else None

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
        json.dump(result.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
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


def cmd_gui(args) -> int:
    try:
        from medviewer.qt.app import main as gui_main
    except ImportError as exc:
        raise MedviewerError(f"the desktop interface cannot start: {exc}") from exc
    return gui_main(args.paths)


def _window_check():
    """The selftest's Qt window check, or one that fails saying why Qt cannot be imported."""
    from medviewer.selftest import Check, CheckFailed

    try:
        from medviewer.qt.selftest import window_check
    except ImportError as exc:
        reason = f"the desktop interface cannot be imported ({exc})"

        def failed(ctx):
            raise CheckFailed(reason)

        return Check("qt window", failed, "reinstall medviewer (PySide6 is missing or broken)")
    return window_check()


@contextlib.contextmanager
def _stdout_to_stderr():
    """Send whatever is printed meanwhile (by libraries too, from C) to stderr, so that
    ``--json`` leaves exactly one object on stdout."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no file descriptor 1 (a windowed build): Python's own stream only
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def cmd_selftest(args) -> int:
    """Check this installation, in-process; exit 0 only when every check passes."""
    from medviewer.selftest import core_checks, run_selftest

    checks = core_checks(window=_window_check())
    if args.json:
        with _stdout_to_stderr():
            report = run_selftest(checks)
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"medviewer {__version__} selftest", flush=True)
        report = run_selftest(checks, on_result=lambda r: print(r.line(), flush=True))
        print(report.summary())
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medviewer", description="Offline DICOM viewer with an explainable classifier."
    )
    parser.add_argument("--version", action="version", version=f"medviewer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("inspect", help="list the studies and series in files or folders")
    p.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files, folders or DICOMDIRs")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("convert", help="write one series as .npy, .nii.gz, .nrrd or .mha")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--series", metavar="UID", help="SeriesInstanceUID (or key from inspect)")
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser(
        "anonymize",
        help="write de-identified copies (DICOM PS3.15 Basic profile) in the same layout",
    )
    p.add_argument("input", metavar="IN", help="a DICOM file, a folder or a DICOMDIR")
    p.add_argument("output", metavar="OUT", help="a new or empty folder outside IN")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_anonymize)

    from medviewer.ai.device import DEVICE_CHOICES
    from medviewer.ai.explain import METHODS as EXPLAIN_METHODS

    p = sub.add_parser(
        "explain", help="write one slice's explanation map (Grad-CAM, ..., attention) as .npy"
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--series", metavar="UID", help="SeriesInstanceUID (or key from inspect)")
    p.add_argument(
        "--slice", type=int, required=True, metavar="K", help="slice index, in convert's order"
    )
    p.add_argument("--method", required=True, choices=EXPLAIN_METHODS)
    p.add_argument("--target", metavar="CLASS", help="class to explain (default: predicted)")
    p.add_argument("--model", metavar="NAME[:VERSION]", help="default: the series' modality")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument(
        "--no-faithfulness", action="store_true", help="skip the ROAD faithfulness score"
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT.npy")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "infer", help="classify every slice of one series with a model; series result"
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--series", metavar="UID", help="SeriesInstanceUID (or key from inspect)")
    p.add_argument(
        "--model", metavar="NAME[:VERSION]", help="default: the active model for the modality"
    )
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument("--batch-size", type=_positive_int, default=16, metavar="N")
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

    p = sub.add_parser("labels", help="the label store: counts, export and import (CSV / JSON)")
    p.set_defaults(func=cmd_labels_usage)
    lsub = p.add_subparsers(dest="labels_command", metavar="ACTION")
    store_help = "the label store file (default: the one the viewer uses)"
    q = lsub.add_parser("stats", help="counts per label, annotator, status, review and source")
    q.add_argument("--store", metavar="PATH", help=store_help)
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=cmd_labels_stats)
    q = lsub.add_parser("export", help="write the labels as .csv or .json (no PHI by default)")
    q.add_argument("-o", "--output", required=True, metavar="FILE", help=".csv or .json")
    q.add_argument("--store", metavar="PATH", help=store_help)
    q.add_argument(
        "--include-phi", action="store_true", help="also write file paths (may name patients)"
    )
    q.add_argument("--annotator", metavar="NAME", help="only this annotator's labels")
    q.add_argument("--status", choices=("draft", "final"), help="only labels with this status")
    q.add_argument("--label", metavar="CLASS", help="only this class")
    q.add_argument("--series", metavar="UID", help="only this SeriesInstanceUID")
    q.set_defaults(func=cmd_labels_export)
    q = lsub.add_parser("import", help="add labels from .csv or .json (all or nothing)")
    q.add_argument("file", metavar="FILE", help=".csv or .json written by export (or by hand)")
    q.add_argument("--store", metavar="PATH", help=store_help)
    q.add_argument(
        "--study",
        nargs="+",
        metavar="PATH",
        help="DICOM files or folders: only labels of their series are imported",
    )
    q.add_argument("--label-set", metavar="NAME", help="classes to accept (default: the default)")
    q.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
    q.add_argument("--json", action="store_true", help="print the report as one JSON object")
    q.set_defaults(func=cmd_labels_import)

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
    p.add_argument("--epochs", type=_positive_int, default=8, metavar="N")
    p.add_argument(
        "--head-epochs",
        type=int,
        default=None,
        metavar="N",
        help="two_stage: epochs of head-only training first (default 2)",
    )
    p.add_argument("--lr", type=float, default=1e-3, metavar="X", help="learning rate")
    p.add_argument("--batch-size", type=_positive_int, default=16, metavar="N")
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

    p = sub.add_parser(
        "gui", help="open the viewer (on the sample study when no PATH); also: medviewer PATH"
    )
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser(
        "selftest", help="check this installation: packages, decoders, window, models, store"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_selftest)
    return parser


COMMANDS = (
    "inspect",
    "convert",
    "anonymize",
    "explain",
    "infer",
    "models",
    "labels",
    "train",
    "gui",
    "selftest",
)


def _with_default_command(argv: list[str]) -> list[str]:
    """``medviewer PATH ...`` means ``medviewer gui PATH ...``."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in COMMANDS and os.path.exists(first):
        i = argv.index(first)
        return [*argv[:i], "gui", *argv[i:]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_with_default_command(argv))
    from medviewer.logs import configure_logging

    # the rotating log file (patient values redacted) and, as before, stderr (details with -v)
    configure_logging(verbose=args.verbose, what=args.command or "")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except _UsageError as exc:
        print(f"medviewer {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MedviewerError as exc:
        log.debug("command failed", exc_info=True)
        print(f"medviewer {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("medviewer: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # last line of defence: one line, details only with -v
        log.debug("unexpected failure", exc_info=True)
        print(
            f"medviewer {args.command}: unexpected error ({type(exc).__name__}: {exc}); "
            "run again with -v for details",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
