"""Benchmark: a reading-room day in one process: open and close 50 series, classify 20 times,
and see whether memory comes back, beside a plain pydicom + torch loop doing the same.

Data
    The bundled sample head CT (``medviewer.resources.sample_study_dir()``, 108 slices,
    256 x 256, JPEG 2000 lossless) and synthetic head CTs written with
    ``medviewer.testing.synthetic.write_series`` into a temporary folder: native explicit VR
    little endian, RLE, JPEG 2000 and big endian (shuffled files, random names).

The medviewer run (``--child medviewer``, a fresh process)
    Logging is configured as the app does it (``medviewer.logs.configure_logging``: DEBUG to
    the rotating file, patient values redacted). 50 cycles; cycle ``i`` opens series ``i mod 5``
    (sample, native, RLE, sample, JPEG 2000 / big endian alternating) the way the viewer does:
    a new ``StudySession``, ``open_iter`` (scan), ``default_series``, ``load_iter`` (the volume),
    the default window and the window menu. Each cycle's scan also reads a small series (10
    slices, 32 x 32) of a patient not seen before, as a worklist brings new patients all day;
    whatever the process keeps per patient (the redaction registry) shows in the curve. On 20
    evenly spaced cycles the series is classified:
    ``ModelRegistry.load(modality="CT", device="cpu")`` (the bundled ``headct-lesions``, cached
    after the first load, as in the app) and ``medviewer.ai.classifier.predict``. Then the
    session is dropped (closed) and the process's resident set size (RSS, psutil) is read.
    No ``gc.collect()`` is forced: what is measured is what the app would hold.

The anchor (``--child anchor``, another fresh process)
    The same 50 cycles without medviewer's DICOM core and classifier: the new patient's headers
    (``dcmread(stop_before_pixels=True)``), then ``pydicom.dcmread`` of every file, sort by
    ImagePositionPatient z, ``np.stack`` of ``pixel_array * slope + intercept`` as int16; on
    the same 20 cycles a plain torch loop over the slices (three CT
    windows in numpy, ``F.interpolate`` to 256 x 256, the bundled network's forward pass in
    batches of 16 under ``torch.inference_mode``, softmax). Its own RSS curve says how much a
    plain Python imaging loop drifts on this machine (allocator behaviour, torch's caches).

Result
    For each run: RSS after every cycle, first, last, max, ``last / first``. Target
    (``summary.target_met``): medviewer's RSS after the last cycle within 10 % of the RSS after
    the first cycle (which already holds torch, the model and one volume's worth of freed
    heap). ``summary.volume_mib`` lists each series' voxel bytes for scale.

    .venv/bin/python benchmarks/soak.py            # 50 cycles, 20 inferences (~2-4 min)
    .venv/bin/python benchmarks/soak.py --quick    # 10 cycles, 4 inferences

A full run writes ``benchmarks/results/soak.json``; ``--quick`` writes ``soak.quick.json``.
The Markdown table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.10
TORCH_THREADS = 2


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


# -- data ---------------------------------------------------------------------------------------


def write_synthetic(folder: Path) -> list[tuple[str, str]]:
    """The synthetic series (name, folder); small enough to write in a few seconds."""
    import warnings

    from pydicom.uid import (
        ExplicitVRBigEndian,
        ExplicitVRLittleEndian,
        JPEG2000Lossless,
        RLELossless,
    )

    from medviewer.testing.synthetic import write_series

    specs = [
        ("native 256x256x60", ExplicitVRLittleEndian, 60, 256),
        ("RLE 256x256x40", RLELossless, 40, 256),
        ("JPEG 2000 128x128x40", JPEG2000Lossless, 40, 128),
        ("big endian 256x256x30", ExplicitVRBigEndian, 30, 256),
    ]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, (name, ts, n, size) in enumerate(specs):
            path = folder / f"series{k}"
            write_series(path, n_slices=n, rows=size, cols=size, transfer_syntax=ts, seed=k)
            out.append((name, str(path)))
    return out


def write_new_patients(folder: Path, n: int) -> list[str]:
    """``n`` small series (10 slices, 32 x 32), each of a patient not seen before."""
    import warnings

    import numpy as np

    from medviewer.testing.synthetic import head_phantom, make_dataset, save

    out = []
    hu = head_phantom(10, 32, 32, seed=99)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            path = folder / f"patient{i:03d}"
            path.mkdir(parents=True)
            for k in range(len(hu)):
                ds = make_dataset(
                    (hu[k].astype(np.int32) + 1024).astype(np.int16),
                    position=(0.0, 0.0, 2.5 * k),
                    intercept=-1024.0,
                    instance_number=k + 1,
                    patient_id=f"SOAK-{i:06d}",
                    series_uid=f"2.25.{1000 + i}",
                    study_uid=f"2.25.{5000 + i}",
                )
                ds.PatientName = f"Soak{i:03d}^Patient{i:03d}"
                ds.PatientBirthDate = f"19{i % 100:02d}0101"
                save(ds, str(path / f"IM{k:04d}.dcm"))
            out.append(str(path))
    return out


def cycle_plan(series: list[tuple[str, str]], new_patients: list[str], n_cycles: int, n_infer: int):
    """(series name, folder, new patient's folder, classify?) per cycle.

    The series opened rotates sample, native, RLE, sample, J2K / big endian; the scan of every
    cycle also reads a small series of a patient not seen before (a reading room's worklist),
    so what the process keeps per patient (log redaction) shows in the curve.
    """
    sample = ("sample head CT 256x256x108 (JPEG 2000)", str(_sample_dir()))
    native, rle, j2k, big = series
    rotation = [sample, native, rle, sample]
    infer_at = {round(j * n_cycles / n_infer) for j in range(n_infer)} if n_infer else set()
    plan = []
    for i in range(n_cycles):
        slot = i % 5
        name, folder = rotation[slot] if slot < 4 else (j2k if (i // 5) % 2 == 0 else big)
        plan.append((name, folder, new_patients[i], i in infer_at))
    return plan


def _sample_dir() -> Path:
    from medviewer.resources import sample_study_dir

    return sample_study_dir()


# -- the two runs (each in its own process) ------------------------------------------------------


def run_medviewer(plan, tmp: Path) -> dict:
    import torch

    torch.set_num_threads(TORCH_THREADS)
    from medviewer.ai.classifier import predict
    from medviewer.ai.registry import ModelRegistry
    from medviewer.logs import configure_logging
    from medviewer.session.study import StudySession

    configure_logging(what="soak")  # as the app: DEBUG to the rotating file, values redacted
    registry = ModelRegistry(ROOT / "models", tmp / "models", tmp / "active_models.json")
    rss_start = rss_mib()
    cycles = []
    for i, (name, folder, new_patient, classify) in enumerate(plan):
        t0 = time.perf_counter()
        session = StudySession()
        _drive(session.open_iter([folder, new_patient]))
        series = session.default_series()
        volume = _drive(session.load_iter(series))
        session.available_windows()
        top = None
        if classify:
            model = registry.load(modality="CT", device="cpu")
            result = predict(model, volume, batch_size=16)
            top = max(result.probabilities, key=result.probabilities.get)
        voxels_mib = volume.array.nbytes / 2**20
        del session, series, volume  # closing the study
        if classify:
            del model, result
        rss = rss_mib()
        cycles.append(cycle_record(i, name, classify, top, voxels_mib, t0, rss))
        log(f"medviewer cycle {i + 1}/{len(plan)}: {name}, rss {rss:.1f} MiB")
    return {"rss_start_mib": round(rss_start, 1), "cycles": cycles}


def cycle_record(i, name, classify, top, voxels_mib, t0, rss) -> dict:
    """One cycle's line of the results, the same for medviewer and the anchor."""
    return {
        "cycle": i + 1,
        "series": name,
        "classified": classify,
        "top_class": top,
        "volume_mib": round(voxels_mib, 2),
        "seconds": round(time.perf_counter() - t0, 3),
        "rss_mib": round(rss, 1),
        "gc_objects": len(gc.get_objects()),
    }


def run_anchor(plan, tmp: Path) -> dict:
    import warnings

    import numpy as np
    import pydicom
    import torch
    import torch.nn.functional as F  # noqa: N812

    torch.set_num_threads(TORCH_THREADS)
    from medviewer.ai.package import load_package

    module = None
    windows = [(40.0, 80.0), (75.0, 215.0), (40.0, 40.0)]  # 2.0.0: brain, subdural, stroke
    rss_start = rss_mib()
    cycles = []
    for i, (name, folder, new_patient, classify) in enumerate(plan):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for f in os.listdir(new_patient):  # the other patient's headers, as the scan does
                pydicom.dcmread(os.path.join(new_patient, f), stop_before_pixels=True)
            datasets = [pydicom.dcmread(os.path.join(folder, f)) for f in os.listdir(folder)]
            datasets.sort(key=lambda d: float(d.ImagePositionPatient[2]))
            volume = np.stack(
                [
                    (
                        d.pixel_array * float(d.get("RescaleSlope", 1))
                        + float(d.get("RescaleIntercept", 0))
                    ).astype(np.int16)
                    for d in datasets
                ]
            )
        top = None
        if classify:
            if module is None:  # the same network, loaded once (the app caches it too)
                module = load_package(ROOT / "models" / "headct-lesions" / "2.0.0").module
            probs = []
            with torch.inference_mode():
                for start in range(0, len(volume), 16):
                    chunk = volume[start : start + 16].astype(np.float32)
                    x = np.stack(
                        [np.clip((chunk - (c - w / 2)) / w, 0.0, 1.0) for c, w in windows], 1
                    )
                    t = F.interpolate(torch.from_numpy(x), size=(256, 256), mode="bilinear")
                    probs.append(torch.softmax(module(t), dim=1).numpy())
            top = int(np.concatenate(probs).mean(0).argmax())
            del probs, x, t, chunk
        voxels_mib = volume.nbytes / 2**20
        del datasets, volume
        rss = rss_mib()
        cycles.append(cycle_record(i, name, classify, top, voxels_mib, t0, rss))
        log(f"anchor cycle {i + 1}/{len(plan)}: {name}, rss {rss:.1f} MiB")
    return {"rss_start_mib": round(rss_start, 1), "cycles": cycles}


def _drive(job):
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


def child(which: str, plan_file: str) -> int:
    with open(plan_file) as fp:
        plan = [tuple(p) for p in json.load(fp)]
    with tempfile.TemporaryDirectory(prefix="mv-soak-child-") as tmp:
        os.environ["MEDVIEWER_CONFIG_DIR"] = os.path.join(tmp, "config")
        os.environ["MEDVIEWER_DATA_DIR"] = os.path.join(tmp, "data")
        os.environ["MEDVIEWER_LOG_DIR"] = os.path.join(tmp, "logs")
        run = run_medviewer if which == "medviewer" else run_anchor
        result = run(plan, Path(tmp))
    json.dump(result, sys.stdout)
    return 0


# -- the parent: data, both runs, summary ---------------------------------------------------------


def curve_summary(run: dict) -> dict:
    rss = [c["rss_mib"] for c in run["cycles"]]
    return {
        "rss_before_first_cycle_mib": run["rss_start_mib"],
        "first_cycle_rss_mib": rss[0],
        "last_cycle_rss_mib": rss[-1],
        "max_rss_mib": max(rss),
        "min_rss_mib": min(rss),
        "last_over_first": round(rss[-1] / rss[0], 4),
        "max_over_first": round(max(rss) / rss[0], 4),
        "growth_mib": round(rss[-1] - rss[0], 1),
        "growth_after_cycle_10_mib": round(rss[-1] - rss[min(9, len(rss) - 1)], 1),
        "gc_objects_first_last": [run["cycles"][0]["gc_objects"], run["cycles"][-1]["gc_objects"]],
    }


def machine_info() -> dict:
    import importlib.metadata as md

    import numpy as np

    info = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pydicom": md.version("pydicom"),
        "torch": md.version("torch"),
        "torch_threads": TORCH_THREADS,
    }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        info["medviewer_commit"] = commit or None
    except OSError:
        info["medviewer_commit"] = None
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=None, help="series opened and closed")
    ap.add_argument("--inferences", type=int, default=None, help="cycles that classify")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--output", default=None)
    ap.add_argument("--child", choices=["medviewer", "anchor"], help=argparse.SUPPRESS)
    ap.add_argument("--plan", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child, args.plan)

    n_cycles = args.cycles or (10 if args.quick else 50)
    n_infer = args.inferences if args.inferences is not None else (4 if args.quick else 20)
    output = Path(args.output or RESULTS / ("soak.quick.json" if args.quick else "soak.json"))

    with tempfile.TemporaryDirectory(prefix="mv-soak-") as tmp:
        t = time.perf_counter()
        series = write_synthetic(Path(tmp))
        patients = write_new_patients(Path(tmp) / "worklist", n_cycles)
        log(
            f"wrote {len(series)} synthetic series and {len(patients)} patients' small series "
            f"in {time.perf_counter() - t:.1f} s"
        )
        plan = cycle_plan(series, patients, n_cycles, n_infer)
        plan_file = os.path.join(tmp, "plan.json")
        with open(plan_file, "w") as fp:
            json.dump(plan, fp)
        runs = {}
        for which in ("medviewer", "anchor"):
            log(f"{which}: {n_cycles} cycles, {n_infer} classified, in a fresh process")
            t = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, __file__, "--child", which, "--plan", plan_file],
                stdout=subprocess.PIPE,
                text=True,
                check=True,
            )
            runs[which] = json.loads(proc.stdout)
            runs[which]["wall_s"] = round(time.perf_counter() - t, 1)

    mv, anchor = curve_summary(runs["medviewer"]), curve_summary(runs["anchor"])
    volumes = {}
    for c in runs["medviewer"]["cycles"]:
        volumes.setdefault(c["series"], c["volume_mib"])
    summary = {
        "cycles": n_cycles,
        "inferences": n_infer,
        "first_cycle_rss_mib": mv["first_cycle_rss_mib"],
        "last_cycle_rss_mib": mv["last_cycle_rss_mib"],
        "max_rss_mib": mv["max_rss_mib"],
        "last_over_first": mv["last_over_first"],
        "anchor_first_cycle_rss_mib": anchor["first_cycle_rss_mib"],
        "anchor_last_cycle_rss_mib": anchor["last_cycle_rss_mib"],
        "anchor_max_rss_mib": anchor["max_rss_mib"],
        "anchor_last_over_first": anchor["last_over_first"],
        "volume_mib": volumes,
        "target": f"RSS after the last cycle <= {TARGET_RATIO:.2f} x RSS after the first",
        "target_met": mv["last_over_first"] <= TARGET_RATIO,
    }
    result = {
        "benchmark": "soak",
        "description": (
            "One process opens and closes series (scan + load through StudySession) and "
            "classifies some with the bundled model on the CPU; RSS after each cycle, beside "
            "a plain pydicom + torch loop over the same cycles in another fresh process."
        ),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": {
            "cycles": n_cycles,
            "inferences": n_infer,
            "batch_size": 16,
            "device": "cpu",
            "model": "headct-lesions (bundled)",
            "series": sorted(volumes),
            "quick": bool(args.quick),
        },
        "medviewer": {**mv, "wall_s": runs["medviewer"]["wall_s"], **runs["medviewer"]},
        "anchor": {**anchor, "wall_s": runs["anchor"]["wall_s"], **runs["anchor"]},
        "summary": summary,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {output}")

    print(
        f"| run ({n_cycles} cycles, {n_infer} classified) | first MiB | last MiB | max MiB "
        "| last / first |"
    )
    print("|---|---:|---:|---:|---:|")
    for label, s in (
        ("medviewer (StudySession + predict)", mv),
        ("anchor (pydicom + torch)", anchor),
    ):
        print(
            f"| {label} | {s['first_cycle_rss_mib']:.1f} | {s['last_cycle_rss_mib']:.1f} | "
            f"{s['max_rss_mib']:.1f} | {s['last_over_first']:.3f} |"
        )
    print(
        f"\nTarget: last <= {TARGET_RATIO:.2f} x first: "
        f"{'met' if summary['target_met'] else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
