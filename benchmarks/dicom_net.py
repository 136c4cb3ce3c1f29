"""Benchmark: retrieve a 300-slice CT series from a real PACS, medviewer beside dcmtk's getscu.

A synthetic head CT series (300 slices of 512 x 512, 16-bit, uncompressed, ~157 MB; written
once under ``benchmarks/data/dicom_net``) is uploaded to Debian's Orthanc, started on
127.0.0.1 with free ports. Then, in the same run, each three times in turn:

* ``medviewer`` - :func:`medviewer.net.retrieve.retrieve_iter` by C-GET into a fresh study
  folder (each instance written atomically, fsync'd), as the app and ``medviewer dicom get``
  do. At its first progress event the series is scanned and its first slice loaded the way the
  viewer shows it; the benchmark notes how many instances had arrived by then (the target: the
  first slice is shown before 10 % of the series has arrived).
* ``getscu`` - dcmtk's ``getscu`` (C-GET, ``-od DIR``), as a process, with its default
  settings and again with ``TCP_NODELAY=1`` (dcmtk's own switch for small-packet latency): the
  faster of the two is the anchor.

    .venv/bin/python benchmarks/dicom_net.py [--slices 300] [--repeats 3]

Writes ``benchmarks/results/dicom_net.json`` (other ``--slices``: ``dicom_net.quick.json``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
TARGET_RATIO = 1.5
TARGET_FIRST_FRACTION = 0.10
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def series_folder(n: int, log) -> Path:
    import numpy as np

    from medviewer.testing.synthetic import head_phantom, write_series

    folder = HERE / "data" / "dicom_net" / f"ct{n}"
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    log(f"writing a {n}-slice 512 x 512 CT series ...")
    write_series(
        folder,
        n_slices=n,
        rows=512,
        cols=512,
        hu=head_phantom(n, 512, 512, seed=5).astype(np.float64),
        spacing=(0.75, 0.45, 0.45),
        body_part="HEAD",
        series_description=f"Head CT {n} slices",
        seed=5,
    )
    (folder / ".complete").touch()
    return folder


def run_medviewer(pacs, study_uid: str, series_uid: str, n: int, work: Path) -> dict:
    from medviewer.dicom import load_volume, scan
    from medviewer.net.nodes import LocalNode
    from medviewer.net.retrieve import retrieve_iter
    from medviewer.net.storage import StudyStore

    store = StudyStore(work, 10**12)
    local = LocalNode(bind_address="127.0.0.1")
    t0 = time.perf_counter()
    first = None
    job = retrieve_iter(pacs.node(), local, store, study_uid, series_uid, timeout=60)
    try:
        while True:
            step = next(job)
            if first is None:
                folder = store.root / study_uid / series_uid
                volume = load_volume(scan([str(step.detail.path)]).all_series()[0])
                assert volume.array.shape[0] == 1
                shown = time.perf_counter() - t0
                arrived = len([p for p in folder.iterdir() if p.suffix == ".dcm"])
                first = {"seconds": shown, "instances_arrived": arrived, "fraction": arrived / n}
    except StopIteration as stop:
        result = stop.value
    seconds = time.perf_counter() - t0
    assert len(result.stored) == n and result.ok, result.message
    return {"seconds": seconds, "first_slice": first}


def run_getscu(pacs, study_uid: str, series_uid: str, n: int, work: Path, nodelay: bool) -> float:
    work.mkdir(parents=True)
    env = dict(os.environ)
    if nodelay:
        env["TCP_NODELAY"] = "1"
    cmd = ["getscu", "-aet", "MEDVIEWER", "-aec", "ORTHANC", "127.0.0.1", str(pacs.dicom_port)]
    cmd += ["-k", "QueryRetrieveLevel=SERIES", "-k", f"StudyInstanceUID={study_uid}"]
    cmd += ["-k", f"SeriesInstanceUID={series_uid}", "-od", str(work)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    seconds = time.perf_counter() - t0
    got = len(list(work.iterdir()))
    if got != n:
        raise RuntimeError(f"getscu retrieved {got} of {n} instances")
    return seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    from medviewer.dicom import scan
    from medviewer.testing.orthanc import OrthancServer, free_port

    folder = series_folder(args.slices, log)
    series = scan([str(folder)]).all_series()[0]
    tmp = Path(tempfile.mkdtemp(prefix="mv-dicom-net-"))
    runs = {"medviewer": [], "getscu": [], "getscu_nodelay": []}
    firsts = []
    try:
        with OrthancServer(tmp / "pacs", {"medviewer": ("MEDVIEWER", free_port())}) as pacs:
            log(f"uploading {args.slices} instances to Orthanc ...")
            pacs.upload([folder])
            for k in range(args.repeats):
                log(f"round {k + 1}/{args.repeats} ...")
                mv = run_medviewer(
                    pacs, series.study_uid, series.series_uid, args.slices, tmp / f"mv{k}"
                )
                runs["medviewer"].append(mv["seconds"])
                firsts.append(mv["first_slice"])
                for name, nodelay in (("getscu", False), ("getscu_nodelay", True)):
                    runs[name].append(
                        run_getscu(
                            pacs,
                            series.study_uid,
                            series.series_uid,
                            args.slices,
                            tmp / f"{name}{k}",
                            nodelay,
                        )
                    )
                for p in tmp.glob("mv*"):
                    shutil.rmtree(p, ignore_errors=True)
                for p in tmp.glob("getscu*"):
                    shutil.rmtree(p, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    anchor = min(med["getscu"], med["getscu_nodelay"])
    ratio = med["medviewer"] / anchor
    worst_first = max(f["fraction"] for f in firsts)
    result = {
        "benchmark": "dicom_net",
        "description": __doc__.split("\n\n")[0],
        "slices": args.slices,
        "megabytes": round(sum(p.stat().st_size for p in folder.glob("*.dcm")) / 1e6, 1),
        "seconds": runs,
        "median_seconds": med,
        "anchor": "getscu_nodelay" if med["getscu_nodelay"] < med["getscu"] else "getscu",
        "ratio_to_dcmtk": ratio,
        "first_slice": firsts,
        "first_slice_worst_fraction": worst_first,
        "targets": {"ratio_max": TARGET_RATIO, "first_slice_fraction_max": TARGET_FIRST_FRACTION},
        "targets_met": {
            "ratio": ratio <= TARGET_RATIO,
            "first_slice": worst_first < TARGET_FIRST_FRACTION,
        },
        "machine": {
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    name = "dicom_net.json" if args.slices == 300 else "dicom_net.quick.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    f = firsts[0]
    print(
        "| slices | medviewer (C-GET) | getscu | getscu, TCP_NODELAY=1 | ratio "
        "| first slice shown |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.slices} ({result['megabytes']:.0f} MB) | {med['medviewer']:.2f} s "
        f"| {med['getscu']:.2f} s | {med['getscu_nodelay']:.2f} s | **{ratio:.2f}x** "
        f"| {f['seconds']:.2f} s, {f['instances_arrived']} of {args.slices} arrived "
        f"(worst {100 * worst_first:.1f} %) |"
    )
    log(f"wrote {RESULTS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
