"""Shared by several commands: scanning the PATHs, choosing one series (``--series``), argument
types, and a command parser whose arguments can be added when it is first used."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

from medviewer.cli.output import ProgressBar
from medviewer.errors import MedviewerError

SERIES_HELP = "SeriesInstanceUID (or key from inspect)"


class CommandParser(argparse.ArgumentParser):
    """A command's parser. ``arguments=add`` defers ``add(parser)`` until the command is used
    (parsed, or its help or usage shown), so building the whole command line imports nothing
    that only this command needs."""

    def __init__(
        self,
        *args,
        arguments: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._deferred = arguments

    def _add_deferred_arguments(self) -> None:
        if self._deferred is not None:
            add, self._deferred = self._deferred, None
            add(self)

    def parse_known_args(self, args=None, namespace=None):
        self._add_deferred_arguments()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._add_deferred_arguments()
        return super().format_usage()

    def format_help(self) -> str:
        self._add_deferred_arguments()
        return super().format_help()


def add_series_arguments(p: argparse.ArgumentParser) -> None:
    """PATH... and ``--series``: the files to scan and the one series to use."""
    p.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files, folders or DICOMDIRs")
    p.add_argument("--series", metavar="UID", help=SERIES_HELP)


def positive_int(text: str) -> int:
    """An argument type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def scan_paths(paths: Sequence[str]):
    """The ScanResult of PATH... (a progress bar meanwhile); an error when none exists."""
    from medviewer.dicom import scan

    missing = [p for p in paths if not os.path.exists(p)]
    if missing and len(missing) == len(paths):
        raise MedviewerError(f"no such file or folder: {missing[0]}")
    with ProgressBar("scanning") as bar:
        return scan(paths, on_progress=bar)


def one_series(result, args):
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


def load_series(series):
    """The series' Volume (a progress bar meanwhile)."""
    from medviewer.dicom import load_volume

    with ProgressBar("loading") as bar:
        return load_volume(series, on_progress=bar)
