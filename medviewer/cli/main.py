"""The ``medviewer`` command line: builds the parser from each command module's ``register``
and dispatches to the chosen command's handler (``medviewer PATH`` means ``gui PATH``).

Only argparse and light modules load here; each command imports what it needs when it runs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from medviewer import __version__
from medviewer.cli import (
    ai,
    anonymize,
    dicom_net,
    export_dicom,
    gui,
    labels,
    selftest,
    study,
    train,
    triage,
)
from medviewer.cli.common import CommandParser
from medviewer.cli.output import EXIT_USAGE, run_handler

COMMAND_MODULES = (
    study,
    anonymize,
    ai,
    labels,
    train,
    triage,
    export_dicom,
    dicom_net,
    gui,
    selftest,
)
"""In the order their commands are listed in ``medviewer --help``."""

COMMANDS = (
    "inspect",
    "convert",
    "anonymize",
    "explain",
    "infer",
    "models",
    "labels",
    "train",
    "triage",
    "export-dicom",
    "dicom",
    "gui",
    "selftest",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medviewer", description="Offline DICOM viewer with an explainable classifier."
    )
    parser.add_argument("--version", action="version", version=f"medviewer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """``medviewer PATH ...`` means ``medviewer gui PATH ...``, and plain ``medviewer`` (or
    ``medviewer -v``) ``medviewer gui``: the viewer on the sample study, as a desktop app
    started without arguments does."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None and not {"-h", "--help", "--version"} & set(argv):
        return [*argv, "gui"]
    looks_like_a_path = first is not None and (
        os.sep in first or "/" in first or first.lower().endswith((".dcm", ".dicom", ".ima"))
    )
    # a path that is not there goes to ``gui`` too, which says "no such file or folder"
    # rather than argparse's "invalid choice" among the commands
    if first is not None and first not in COMMANDS and (os.path.exists(first) or looks_like_a_path):
        i = argv.index(first)
        return [*argv[:i], "gui", *argv[i:]]
    return argv


OPENMP_SPIN = "10000"
"""Busy-wait iterations of an OpenMP worker thread (libgomp, torch's OpenMP on Linux) before it
sleeps: a few microseconds instead of libgomp's default of 300,000."""


def openmp_threads_sleep() -> None:
    """Let torch's OpenMP worker threads sleep soon while they wait for work.

    By default they spin for a long while after every parallel region. With 2 cores, the
    model's second thread then burns a core between layers that the DICOM decoders, the loading
    threads or the GUI need. In a triage run it cost ~1 ms of CPU per slice; under load a
    single slice's forward pass took 26-130 ms instead of 10. Sleeping at once
    (``OMP_WAIT_POLICY=PASSIVE``) fixes that but makes a lone slice ~45 % slower on an idle
    machine (9.4-10.5 against 6.5-7.0 ms); a short spin (:data:`OPENMP_SPIN`) keeps it at
    6.9-7.2 ms with the same triage speed. It has to be set before torch is imported; a
    policy or spin count set by the user is kept."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN)


def main(argv: Sequence[str] | None = None) -> int:
    import medviewer.cli as package  # build_parser is looked up there: it may be replaced

    openmp_threads_sleep()

    parser = package.build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(triage.with_default_action(_with_default_command(argv)))
    from medviewer.logs import configure_logging

    # the rotating log file (patient values redacted) and, as before, stderr (details with -v)
    configure_logging(verbose=args.verbose, what=args.command or "")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return run_handler(args)
