"""Command line: ``medviewer inspect | convert | gui``.

Exit codes: 0 success, 1 could not do it (one-line reason on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
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


def cmd_convert(args) -> int:
    _output_kind(args.output)  # a usage error (exit 2) before any scanning
    from medviewer.dicom import load_volume
    from medviewer.dicom.export import write_volume

    result = _scan(args.paths)
    if args.series:
        series = result.find_series(args.series)
    else:
        all_series = result.all_series()
        if not all_series:
            raise MedviewerError(
                f"no image series found in {', '.join(args.paths)} ({len(result.skipped)} "
                "file(s) skipped; 'medviewer inspect' lists the reasons)"
            )
        if len(all_series) != 1:
            keys = ", ".join(s.key for s in all_series) or "none found"
            raise MedviewerError(
                f"{len(all_series)} series found; choose one with --series ({keys})"
            )
        series = all_series[0]
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


def cmd_gui(args) -> int:
    try:
        from medviewer.qt.app import main as gui_main
    except ImportError as exc:
        raise MedviewerError(f"the desktop interface cannot start: {exc}") from exc
    return gui_main(args.paths)


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
        "gui", help="open the viewer (on the sample study when no PATH); also: medviewer PATH"
    )
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.set_defaults(func=cmd_gui)
    return parser


COMMANDS = ("inspect", "convert", "gui")


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
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
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
