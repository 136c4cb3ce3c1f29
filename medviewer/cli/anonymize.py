"""``anonymize IN OUT``: de-identified copies (DICOM PS3.15 Basic profile), same folder layout."""

from __future__ import annotations

import sys

from medviewer.cli.output import ProgressBar, print_json


def cmd_anonymize(args) -> int:
    """De-identified copies of IN (file, folder, DICOMDIR) in the new folder OUT."""
    from medviewer.dicom.deid import anonymize

    with ProgressBar("de-identifying") as bar:
        result = anonymize(args.input, args.output, on_progress=bar)
    if args.json:
        print_json(result.to_dict())
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


def register(sub) -> None:
    p = sub.add_parser(
        "anonymize",
        help="write de-identified copies (DICOM PS3.15 Basic profile) in the same layout",
    )
    p.add_argument("input", metavar="IN", help="a DICOM file, a folder or a DICOMDIR")
    p.add_argument("output", metavar="OUT", help="a new or empty folder outside IN")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_anonymize)
