"""``export-dicom PATH... --what sr,pmap,ko -o OUT``: the classifier's result of one series as
standard DICOM objects (medviewer.reports): a Comprehensive SR (series result, flagged slices,
with ``--labels`` the labels and evidence rectangles of the series), a float32 Parametric Map
of one slice's heat map, a Key Object Selection of the flagged slices. Every object is built
and checked before the first file is written."""

from __future__ import annotations

import argparse
import os
import sys

from medviewer.ai.device import DEVICE_CHOICES
from medviewer.cli.common import add_series_arguments, load_series, one_series, scan_paths
from medviewer.cli.output import ProgressBar, UsageError, print_json
from medviewer.errors import MedviewerError

KINDS = ("sr", "pmap", "ko")


def what_list(text: str) -> list[str]:
    """An argument type: ``sr``, ``pmap``, ``ko`` or several, comma-separated."""
    kinds = [k.strip().lower() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if not kinds or unknown:
        raise argparse.ArgumentTypeError(
            f"expected sr, pmap or ko (or several, comma-separated), got {text!r}"
        )
    return list(dict.fromkeys(kinds))


def _annotations(path: str, series_uid: str) -> list:
    """The current labels of ``series_uid`` in the label store at ``path`` (all annotators)."""
    from medviewer.labels.store import LabelStore

    if not os.path.isfile(path):
        raise MedviewerError(f"no such labels file: {path}")
    with LabelStore(path, read_only=True, create=False) as store:
        return store.query(series_uid=series_uid)


def _heat_map(args, model, volume, prediction):
    """(slice index, Explanation) for the Parametric Map."""
    from medviewer.ai.explain import explain
    from medviewer.ai.findings import most_suspicious_slice

    n = int(volume.array.shape[0])
    k = most_suspicious_slice(prediction) if args.slice is None else args.slice
    if not 0 <= k < n:
        raise MedviewerError(
            f"--slice {k} is out of range: series {volume.series.key} has {n} slice(s), use "
            f"0..{n - 1} (the order of 'medviewer convert')"
        )
    expl = explain(
        model, volume.array[k], args.method, args.target, invert=volume.invert, faithfulness=False
    )
    return k, expl


def cmd_export_dicom(args) -> int:
    """Classify one series and write the asked DICOM objects into OUT."""
    from medviewer.ai.classifier import predict
    from medviewer.ai.registry import ModelRegistry
    from medviewer.reports.common import check_output_folder, write_objects

    if args.labels and "sr" not in args.what:
        raise UsageError("--labels adds the labels to the SR: add sr to --what")
    if (args.slice is not None or args.target) and "pmap" not in args.what:
        raise UsageError("--slice and --target choose the heat map: add pmap to --what")
    check_output_folder(args.output)
    result = scan_paths(args.paths)
    series = one_series(result, args)
    registry = ModelRegistry()
    model = registry.load(ref=args.model, modality=series.modality, device=args.device)
    for notice in registry.last_notices:
        print(f"note: {notice}", file=sys.stderr)
    volume = load_series(series)
    with ProgressBar("classifying") as bar:
        prediction = predict(model, volume, on_progress=bar)
    for text in prediction.warnings:
        print(f"warning: {text}", file=sys.stderr)
    objects = []
    summary: dict = {}
    if "sr" in args.what:
        from medviewer.reports.sr import make_sr

        labels = _annotations(args.labels, series.series_uid) if args.labels else []
        objects.append(("sr", make_sr(volume, prediction, labels)))
        summary["sr"] = {"labels": len(labels)}
    if "pmap" in args.what:
        from medviewer.reports.pmap import make_pmap

        k, expl = _heat_map(args, model, volume, prediction)
        m = model.manifest
        pmap = make_pmap(
            volume, k, expl.map, method=expl.method, target=expl.target, model=m.name,
            version=m.version, sha256=m.sha256,
        )  # fmt: skip
        objects.append(("pmap", pmap))
        summary["pmap"] = {"slice": k, "method": expl.method, "target": expl.target}
    if "ko" in args.what:
        from medviewer.reports.ko import make_ko

        objects.append(("ko", make_ko(volume, prediction)))
    paths = write_objects(objects, args.output)
    from medviewer.ai.findings import series_flagged_slices

    flagged = series_flagged_slices(prediction)
    written = []
    for (kind, ds), path in zip(objects, paths):
        written.append(
            {
                "what": kind,
                "path": str(path),
                "sop_class_uid": str(ds.SOPClassUID),
                "sop_instance_uid": str(ds.SOPInstanceUID),
                "series_instance_uid": str(ds.SeriesInstanceUID),
                **summary.get(kind, {}),
            }
        )
    if args.json:
        print_json(
            {
                "series": series.key,
                "model": {"name": prediction.model, "version": prediction.version,
                          "sha256": prediction.sha256},
                "flagged_slices": flagged,
                "written": written,
                "warnings": list(prediction.warnings),
            }
        )  # fmt: skip
    else:
        for w in written:
            print(f"wrote {w['what']}: {w['path']}")
        print(
            f"series {series.key}, {prediction.model} {prediction.version}: "
            f"{len(flagged)} flagged slice(s); research use only, not for diagnosis",
            file=sys.stderr,
        )
    return 0


def _arguments(p) -> None:
    """export-dicom's arguments, added when the command is used (--method's choices come from
    medviewer.ai.explain_methods, which other commands need not load)."""
    from medviewer.ai.explain_methods import METHODS

    add_series_arguments(p)
    p.add_argument(
        "--what",
        required=True,
        type=what_list,
        metavar="sr|pmap|ko",
        help="what to write: sr (structured report), pmap (heat map), ko (key objects); "
        "several comma-separated",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="folder to write into")
    p.add_argument(
        "--model", metavar="NAME[:VERSION]", help="default: the active model for the modality"
    )
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    p.add_argument(
        "--slice", type=int, metavar="K", help="pmap: slice index (default: most suspicious)"
    )
    p.add_argument("--method", default="gradcam", choices=METHODS, help="pmap: heat-map method")
    p.add_argument("--target", metavar="CLASS", help="pmap: class explained (default: predicted)")
    p.add_argument("--labels", metavar="FILE", help="sr: include this label store's labels")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def register(sub) -> None:
    p = sub.add_parser(
        "export-dicom",
        help="write a series' classifier result as DICOM (SR, parametric map, key objects)",
        arguments=_arguments,
    )
    p.set_defaults(func=cmd_export_dicom)
