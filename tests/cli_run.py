"""Running ``medviewer``'s command line in-process from a test."""

from __future__ import annotations

from medviewer.cli import main


def run_cli(capsys, *args):
    """main(ARGS) -> (exit code, stdout, stderr); argparse's usage errors exit with 2. No
    traceback may reach the user."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err
