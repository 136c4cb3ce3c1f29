"""``labels stats | export | import``: the label store (counts; CSV / JSON out and in)."""

from __future__ import annotations

import os
import sys

from medviewer.cli.common import scan_paths
from medviewer.cli.output import UsageError, print_json
from medviewer.errors import MedviewerError


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
        print_json({"store": str(path), **stats})
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
        raise UsageError(f"the labels are written as .csv or .json: rename {args.output!r}")
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
            raise UsageError(
                f"no label set {args.label_set!r}; known: {', '.join(sorted(sets)) or 'none'}"
            )
        label_set = sets[args.label_set]
    else:
        label_set = default_label_set()
    known = None
    if args.study:
        result = scan_paths(args.study)
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
        print_json({"file": args.file, **report.to_dict()})
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
    raise UsageError("say what to do: labels stats | export -o FILE | import FILE")


def register(sub) -> None:
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
