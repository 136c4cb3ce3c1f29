"""``inspect`` (the studies, series, warnings and skipped files found in PATHs) and ``convert``
(one series written as .npy / NIfTI / NRRD / MetaImage)."""

from __future__ import annotations

import sys

from medviewer.cli.common import add_series_arguments, load_series, one_series, scan_paths
from medviewer.cli.output import UsageError, print_json


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
    result = scan_paths(args.paths)
    if args.json:
        print_json(scan_to_dict(result))
    else:
        _print_table(result, sys.stdout)
    if not result.all_series():  # nothing to view: exit 1, as every command that could not
        from medviewer.session.study import no_images_message

        print(f"medviewer inspect: {no_images_message(result, args.paths)}", file=sys.stderr)
        return 1
    return 0


def _output_kind(path: str) -> str:
    from medviewer.dicom.export import OUTPUT_SUFFIXES, output_format

    kind = output_format(path)
    if kind is None:
        raise UsageError(
            f"cannot tell the output format of {path!r}: end it with one of "
            + ", ".join(OUTPUT_SUFFIXES)
        )
    return kind


def cmd_convert(args) -> int:
    _output_kind(args.output)  # a usage error (exit 2) before any scanning
    from medviewer.dicom.export import write_volume

    result = scan_paths(args.paths)
    series = one_series(result, args)
    volume = load_series(series)
    write_volume(volume, args.output)
    for w in volume.warnings:
        print(f"warning: {w.code}: {w.message}", file=sys.stderr)
    shape = "x".join(str(v) for v in volume.array.shape)
    print(
        f"wrote {args.output} ({shape} {volume.array.dtype}, series {series.key})", file=sys.stderr
    )
    return 0


def register(sub) -> None:
    p = sub.add_parser("inspect", help="list the studies and series in files or folders")
    p.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files, folders or DICOMDIRs")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("convert", help="write one series as .npy, .nii.gz, .nrrd or .mha")
    add_series_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.set_defaults(func=cmd_convert)
