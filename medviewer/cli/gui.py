"""``gui [PATH...]``: the desktop viewer (``medviewer PATH`` too); the samples when no PATH."""

from __future__ import annotations

from medviewer.errors import MedviewerError


def cmd_gui(args) -> int:
    try:
        from medviewer.qt.app import main as gui_main
    except ImportError as exc:
        raise MedviewerError(f"the desktop interface cannot start: {exc}") from exc
    return gui_main(args.paths)


def register(sub) -> None:
    p = sub.add_parser(
        "gui", help="open the viewer (on the sample study when no PATH); also: medviewer PATH"
    )
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.set_defaults(func=cmd_gui)
