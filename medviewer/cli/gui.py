"""``gui [PATH...]``: the desktop viewer (``medviewer PATH`` too); the samples when no PATH."""

from __future__ import annotations

import os
import sys

from medviewer.errors import MedviewerError


def _display_problem() -> str | None:
    """Why no window can be shown here (Linux without a display), else None."""
    if not sys.platform.startswith("linux"):
        return None
    if os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY"):
        return None
    if os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set): run it "
        "in a desktop session, over ssh -X, or under xvfb-run; the command line works without "
        "one (medviewer --help)"
    )


def cmd_gui(args) -> int:
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        raise MedviewerError(
            f"no such file or folder: {', '.join(missing)}; give a DICOM folder, file or "
            "DICOMDIR (or no path for the sample study)"
        )
    problem = _display_problem()
    if problem:
        raise MedviewerError(problem)
    try:
        from medviewer.qt.app import main as gui_main
    except ImportError as exc:
        raise MedviewerError(f"the desktop interface cannot start: {exc}") from exc
    return gui_main(args.paths)


def register(sub) -> None:
    p = sub.add_parser(
        "gui",
        help="open the viewer (on the sample study when no PATH); also: medviewer [PATH]",
    )
    p.add_argument(
        "paths", nargs="*", metavar="PATH", help="DICOM folders, files or DICOMDIRs to open"
    )
    p.set_defaults(func=cmd_gui)
