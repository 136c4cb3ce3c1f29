"""Whole-process load: ``medviewer convert FOLDER -o OUT.npy`` from start to exit.

A user who converts a series from the shell, or a script that calls medviewer once per
series, pays for the interpreter, the imports, the scan, the load, the write and the exit,
not just the in-process ``scan + load_volume``. This module times that, beside SimpleITK's
whole process doing the same job (a fresh interpreter that imports SimpleITK and numpy, reads
the series with ``ImageSeriesReader`` as int16 and ``np.save``s it), in the same run and on
the same files, and breaks medviewer's time down into phases with an instrumented child
(``python benchmarks/load_process.py --phases FOLDER OUT``).

Used by ``load_series.py``; run alone for a quick look::

    .venv/bin/python benchmarks/load_process.py benchmarks/data/ct300/dicom --repeats 7
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT_DIR = os.path.join(HERE, "data", "process-out")

PROCESS_METHODS = ["mv_process", "sitk_process"]

# SimpleITK's whole process: the anchor. Same output (an int16 .npy of the sorted series).
SITK_SCRIPT = """
import sys
import numpy as np
import SimpleITK as sitk
reader = sitk.ImageSeriesReader()
reader.SetFileNames(reader.GetGDCMSeriesFileNames(sys.argv[1]))
reader.SetOutputPixelType(sitk.sitkInt16)
image = reader.Execute()  # kept alive: the array view does not own the buffer
np.save(sys.argv[2], sitk.GetArrayViewFromImage(image))
"""


def _medviewer_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m medviewer``."""
    script = os.path.join(os.path.dirname(sys.executable), "medviewer")
    if os.path.isfile(script) and os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", "medviewer"]


def commands(folder: str, out: str) -> dict[str, list[str]]:
    return {
        "mv_process": [*_medviewer_command(), "convert", folder, "-o", out],
        "sitk_process": [sys.executable, "-c", SITK_SCRIPT, folder, out],
        "mv_phases": [sys.executable, os.path.abspath(__file__), "--phases", folder, out],
    }


def _run(cmd: list[str], out: str) -> tuple[float, str]:
    """Wall seconds from spawn to exit; the output file is removed first (outside the clock),
    so every method writes a new file rather than replacing an old one."""
    if os.path.exists(out):
        os.remove(out)
    env = dict(os.environ, PYTHONPATH=REPO)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    if not os.path.isfile(out):
        raise RuntimeError(f"{' '.join(cmd[:3])} ... wrote no {out}")
    return elapsed, proc.stdout


def time_processes(folder: str, repeats: int, log=print) -> dict:
    """One warm-up round, then ``repeats`` round-robin rounds of both whole processes and the
    instrumented medviewer child; returns seconds per method and medians of the phases."""
    os.makedirs(OUT_DIR, exist_ok=True)
    out = os.path.join(OUT_DIR, "volume.npy")
    cmds = commands(folder, out)
    times: dict[str, list[float]] = {m: [] for m in PROCESS_METHODS}
    phases: list[dict] = []
    try:
        methods = [*PROCESS_METHODS, "mv_phases"]
        for rnd in range(repeats + 1):
            # Each round starts with another method: the page cache's write-back of the
            # previous runs' 150 MB outputs then slows each method's write alike.
            for method in methods[rnd % 3 :] + methods[: rnd % 3]:
                elapsed, stdout = _run(cmds[method], out)
                if not rnd:
                    continue
                if method != "mv_phases":
                    times[method].append(elapsed)
                    continue
                rec = json.loads(stdout.strip().splitlines()[-1])
                rec["process"] = elapsed
                rec["interpreter_and_exit"] = elapsed - sum(
                    rec[k] for k in ("imports", "scan", "load", "write")
                )
                phases.append(rec)
            if rnd:
                log(
                    f"  process repeat {rnd}/{repeats}: "
                    + " ".join(f"{m}={times[m][-1]:.3f}s" for m in PROCESS_METHODS)
                )
    finally:
        shutil.rmtree(OUT_DIR, ignore_errors=True)
    keys = ["interpreter_and_exit", "imports", "scan", "load", "write", "process"]
    return {
        "seconds": {
            m: {"median": statistics.median(v), "min": min(v), "all": v} for m, v in times.items()
        },
        "mv_phases_median": {k: statistics.median(p[k] for p in phases) for k in keys},
        "mv_phases_all": phases,
    }


def phases_main(folder: str, out: str) -> None:
    """The work of ``medviewer convert`` in a fresh interpreter, timed phase by phase."""
    t0 = time.perf_counter()
    import medviewer.cli  # noqa: F401  (what the console script imports first)
    from medviewer.dicom import load_volume, scan
    from medviewer.dicom.export import write_volume

    t1 = time.perf_counter()
    series = scan([folder]).all_series()[0]
    t2 = time.perf_counter()
    volume = load_volume(series)
    t3 = time.perf_counter()
    write_volume(volume, out)
    t4 = time.perf_counter()
    print(json.dumps({"imports": t1 - t0, "scan": t2 - t1, "load": t3 - t2, "write": t4 - t3}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--phases", nargs=2, metavar=("FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phases:
        phases_main(*args.phases)
        return 0
    if not args.folder:
        parser.error("give the DICOM folder of one series")
    result = time_processes(args.folder, args.repeats, lambda m: print(m, file=sys.stderr))
    med = {m: v["median"] for m, v in result["seconds"].items()}
    print(json.dumps(result["mv_phases_median"], indent=2))
    print(f"medviewer / SimpleITK whole process: {med['mv_process'] / med['sitk_process']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
