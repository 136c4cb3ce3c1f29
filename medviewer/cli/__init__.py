"""Command line: ``medviewer inspect | convert | infer | explain | models | triage | gui``.

- ``inspect PATH...``: the studies, series, warnings and skipped files (``--json``: one object)
- ``convert PATH... -o OUT``: one series as .npy / .nii(.gz) / .nrrd / .mha, in HU for CT
- ``anonymize IN OUT``: de-identified copies (DICOM PS3.15 Basic profile), same folder layout
- ``infer PATH...``: classify every slice of one series with a model; the series result
- ``explain PATH... --slice K --method M -o OUT.npy``: one slice's heat map, aligned with it
- ``models list | import | remove | activate``: the bundled and the user's model packages
- ``labels stats | export | import``: the label store (counts; CSV / JSON out and in)
- ``train --store PATH --base NAME[:VERSION]``: fine-tune a model on the store's final labels;
  a new user version (not activated); ``--json``: one object. Runs under ``torchrun`` too
- ``triage PATH...``: classify every series of an archive into a results file (resumable;
  under ``torchrun`` each rank takes a share); ``triage report``: most suspicious first
- ``gui [PATH...]``: the desktop viewer (``medviewer PATH`` too); the samples when no PATH
- ``selftest [--json]``: check this installation (packages, decoders, window, torch, models,
  Grad-CAM, label store, log); exit 0 only when every check passes

Exit codes: 0 success, 1 could not do it (one-line reason on stderr), 2 usage error.

One module per command group (study: inspect / convert, anonymize, ai: infer / explain /
models, labels, train, triage, gui, selftest), each with ``register(subparsers)``; ``main``
builds the parser from them; output and common hold what several commands share. ``main``
below is the function (the console script ``medviewer.cli:main``), not the module of the same
name.
"""

from medviewer.cli.ai import (
    cmd_explain,
    cmd_infer,
    cmd_models_activate,
    cmd_models_import,
    cmd_models_list,
    cmd_models_remove,
    cmd_models_usage,
)
from medviewer.cli.anonymize import cmd_anonymize
from medviewer.cli.gui import cmd_gui
from medviewer.cli.labels import (
    cmd_labels_export,
    cmd_labels_import,
    cmd_labels_stats,
    cmd_labels_usage,
)
from medviewer.cli.main import COMMANDS, build_parser, main
from medviewer.cli.main import _with_default_command as _with_default_command
from medviewer.cli.selftest import _window_check as _window_check
from medviewer.cli.selftest import cmd_selftest
from medviewer.cli.study import cmd_convert, cmd_inspect, scan_to_dict, series_to_dict
from medviewer.cli.train import cmd_train
from medviewer.cli.triage import cmd_triage_report, cmd_triage_run

# (the private helpers above stay reachable here, as before the split: tests use them)
__all__ = [
    "COMMANDS",
    "build_parser",
    "cmd_anonymize",
    "cmd_convert",
    "cmd_explain",
    "cmd_gui",
    "cmd_infer",
    "cmd_inspect",
    "cmd_labels_export",
    "cmd_labels_import",
    "cmd_labels_stats",
    "cmd_labels_usage",
    "cmd_models_activate",
    "cmd_models_import",
    "cmd_models_list",
    "cmd_models_remove",
    "cmd_models_usage",
    "cmd_selftest",
    "cmd_train",
    "cmd_triage_report",
    "cmd_triage_run",
    "main",
    "scan_to_dict",
    "series_to_dict",
]
