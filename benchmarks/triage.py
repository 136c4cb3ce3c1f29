"""Benchmark: triage of a synthetic head-CT archive, beside a plain loop, in the same run.

The archive (written once under ``benchmarks/data/triage``, seeded): ``--series`` series
(default 200) of one synthetic head phantom each, mixed sizes (16 to 48 slices; 256 x 256 and
every fifth one 512 x 512) and transfer syntaxes (every fourth RLE Lossless, every seventh
JPEG 2000 Lossless, the rest native little endian), spread over patients and dates.

* ``medviewer`` - ``medviewer triage ARCHIVE --results R --model headct-lesions:2.0.0`` as a
  process (the bundled model, CPU, default options): scan, queue, loads on a thread with the
  compressed slices decoded in a warm pool of processes and the network's inputs made there
  too, batched inference on the folded network (BatchNorm folded into the convolutions,
  each ReLU and residual sum fused into its convolution, channels-last), one results row per
  series. Its OpenMP threads spin only briefly before they sleep (the command line sets
  ``GOMP_SPINCOUNT=10000`` unless the user chose a spin count or a policy). Its default
  ``--precision auto`` runs in bfloat16 where the CPU does it in hardware (AVX-512 BF16 / AMX)
  and says which it used.
* ``medviewer_fp32`` - the same with ``--precision fp32``.
* ``plain``     - what one would write without medviewer, in one process: for every folder,
  ``pydicom.dcmread`` every file, sort by ImagePositionPatient, ``pixel_array`` * slope +
  intercept, the model's own preprocessing per slice and a forward pass of the network as
  built and loaded (float32) in batches of 16 under ``torch.inference_mode()`` (loaded once,
  same threads).

``agreement`` compares the default run's rows with the float32 run's: top class, most
suspicious slice, largest difference of a series probability.

Both see the same folders; series per minute = series / wall seconds (medviewer's includes its
interpreter start and model load, the plain loop's its model load). Peak RSS of medviewer's
process (with its decoder processes, sampled every 20 ms) is measured on the first quarter of
the archive and on all of it: memory must not grow with the archive (only the results do).

    .venv/bin/python benchmarks/triage.py                 # 200 series
    .venv/bin/python benchmarks/triage.py --series 40     # a quick look

Writes ``benchmarks/results/triage.json`` (``--series`` other than 200: ``triage.quick.json``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data", "triage")
RESULTS = os.path.join(HERE, "results")
MODEL = "headct-lesions:2.0.0"
TARGET_SPEEDUP = 2.0
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def archive(n: int, log) -> list[str]:
    """Folders of the first ``n`` series of the archive, written once each."""
    import numpy as np
    from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

    from medviewer.testing.synthetic import head_phantom, write_series

    folders = []
    for k in range(n):
        folder = os.path.join(DATA, f"series{k:04d}")
        folders.append(folder)
        if os.path.exists(os.path.join(folder, ".complete")):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        rng = np.random.default_rng(k)
        slices = int(rng.integers(16, 49))
        size = 512 if k % 5 == 0 else 256
        ts = JPEG2000Lossless if k % 7 == 0 else RLELossless if k % 4 == 0 else None
        if k % 20 == 0:
            log(f"writing series {k + 1}/{n} ...")
        write_series(
            folder,
            n_slices=slices,
            rows=size,
            cols=size,
            hu=head_phantom(slices, size, size, seed=k).astype(np.float64),
            spacing=(5.0, 220.0 / size, 220.0 / size),
            transfer_syntax=ts or ExplicitVRLittleEndian,
            patient_id=f"TRIAGE{k // 3:04d}",
            study_date=f"2026{1 + k % 12:02d}{1 + k % 28:02d}",
            body_part="HEAD",
            series_description=f"Head {size} {k}",
            seed=k,
        )
        open(os.path.join(folder, ".complete"), "w").close()
    return folders


def run_medviewer(folders: list[str], results: str, *extra: str) -> dict:
    """``medviewer triage`` over ``folders`` in a fresh process: wall seconds and the peak
    resident memory of it and its decoder processes together (sampled every 20 ms)."""
    import psutil

    if os.path.exists(results):
        os.remove(results)
    cmd = [sys.executable, "-m", "medviewer", "triage", *folders, "--results", results]
    cmd += ["--model", MODEL, "--device", "cpu", "--json", *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            rss = watched.memory_info().rss
            rss += sum(c.memory_info().rss for c in watched.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"medviewer triage failed ({proc.returncode}): {err[-3000:]}")
    return {"seconds": seconds, "peak_rss_mib": peak / 2**20, "summary": json.loads(out)}


def run_plain(folders: list[str]) -> dict:
    """The plain loop, in this process: series done, wall seconds, one top result each."""
    import numpy as np
    import pydicom
    import torch

    from medviewer.ai.registry import ModelRegistry

    t0 = time.perf_counter()
    model = ModelRegistry().load(ref=MODEL, device="cpu")
    tops = []
    for folder in folders:
        files = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".dcm")]
        slices = [pydicom.dcmread(f) for f in files]
        slices.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
        hu = [ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in slices]
        inputs = np.stack([model.preprocess(v) for v in hu])
        probs = []
        with torch.inference_mode():
            for b in range(0, len(inputs), 16):
                logits = model.module(torch.from_numpy(inputs[b : b + 16]))
                probs.append(torch.softmax(logits.double(), dim=1).numpy())
        tops.append(float(np.concatenate(probs).max()))
    return {"seconds": time.perf_counter() - t0, "series": len(tops)}


def compare(path: str, reference: str) -> dict:
    """How the rows of ``path`` agree with those of ``reference`` (same series)."""
    from medviewer.triage.store import ResultsStore

    with ResultsStore(path, read_only=True) as a, ResultsStore(reference, read_only=True) as b:
        rows, ref = a.results(), {r.series_key: r for r in b.results()}
    same_top = same_slice = 0
    diff = 0.0
    for row in rows:
        other = ref[row.series_key]
        same_top += row.top_class == other.top_class
        same_slice += row.top_slice == other.top_slice
        for cls, p in row.probabilities.items():
            diff = max(diff, abs(p - other.probabilities[cls]))
    return {
        "series": len(rows),
        "same_top_class": same_top,
        "same_top_slice": same_slice,
        "max_probability_difference": diff,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--output", default=None)
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    folders = archive(args.series, log)
    quarter = folders[: max(1, len(folders) // 4)]
    tmp = tempfile.mkdtemp(prefix="mv-triage-bench-")
    try:
        os.environ.setdefault("MEDVIEWER_DATA_DIR", os.path.join(tmp, "data"))
        log(f"medviewer triage, {len(quarter)} series (RSS check) ...")
        small = run_medviewer(quarter, os.path.join(tmp, "quarter.sqlite"))
        log(f"medviewer triage, {len(folders)} series ...")
        full = run_medviewer(folders, os.path.join(tmp, "all.sqlite"))
        log(f"medviewer triage --precision fp32, {len(folders)} series ...")
        fp32 = run_medviewer(folders, os.path.join(tmp, "fp32.sqlite"), "--precision", "fp32")
        log(f"plain loop, {len(folders)} series ...")
        plain = run_plain(folders)
        agreement = compare(os.path.join(tmp, "all.sqlite"), os.path.join(tmp, "fp32.sqlite"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mv_rate = 60.0 * len(folders) / full["seconds"]
    fp32_rate = 60.0 * len(folders) / fp32["seconds"]
    plain_rate = 60.0 * plain["series"] / plain["seconds"]
    speedup = mv_rate / plain_rate
    rss_growth = (
        full["peak_rss_mib"] / small["peak_rss_mib"]
        if full["peak_rss_mib"] and small["peak_rss_mib"]
        else None
    )
    import numpy
    import torch

    result = {
        "benchmark": "triage",
        "description": __doc__.split("\n\n")[0],
        "series": len(folders),
        "model": MODEL,
        "medviewer": {**full, "series_per_min": mv_rate},
        "precision": full["summary"].get("precision"),
        "medviewer_quarter": small,
        "medviewer_fp32": {**fp32, "series_per_min": fp32_rate},
        "speedup_fp32": fp32_rate / plain_rate,
        "agreement": agreement,
        "plain": {**plain, "series_per_min": plain_rate},
        "speedup": speedup,
        "peak_rss_growth_quarter_to_all": rss_growth,
        "targets": {"speedup_min": TARGET_SPEEDUP},
        "targets_met": {"speedup": speedup >= TARGET_SPEEDUP},
        "machine": {
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        },
    }
    name = "triage.json" if args.series == 200 else "triage.quick.json"
    output = args.output or os.path.join(RESULTS, name)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as fp:
        json.dump(result, fp, indent=2)
        fp.write("\n")
    print(
        "| series | medviewer triage (default: precision) | plain loop | speedup "
        "| --precision fp32 (speedup) | peak RSS (1/4 -> all) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    rss = (
        f"{small['peak_rss_mib']:.0f} -> {full['peak_rss_mib']:.0f} MiB"
        if small["peak_rss_mib"] and full["peak_rss_mib"]
        else "n/a"
    )
    print(
        f"| {len(folders)} | {mv_rate:.1f} series/min ({full['seconds']:.0f} s; "
        f"{result['precision']}) "
        f"| {plain_rate:.1f} series/min ({plain['seconds']:.0f} s) | **{speedup:.2f}x** "
        f"| {fp32_rate:.1f} series/min ({fp32_rate / plain_rate:.2f}x) | {rss} |"
    )
    a = agreement
    print(
        f"\nagreement with float32: top class {a['same_top_class']}/{a['series']}, most "
        f"suspicious slice {a['same_top_slice']}/{a['series']}, largest probability "
        f"difference {a['max_probability_difference']:.4f}"
    )
    log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
