"""Benchmark: load a CT series (512x512 int16, shuffled on disk) into a (z, y, x) HU volume.

Compares, in one run and on the same files:

* ``file_read``     - the floor: open + read every byte of every file of the series;
* ``sitk_int16``    - SimpleITK ImageSeriesReader, GetGDCMSeriesFileNames sort included,
                      output pixel type int16;
* ``sitk_names``    - GetGDCMSeriesFileNames alone (SimpleITK's header scan + sort, the part
                      of ``sitk_int16`` comparable to ``mv_scan``);
* ``sitk_default``  - the same with SimpleITK's default output pixel type;
* ``pydicom_naive`` - dcmread every file, sort by ImagePositionPatient[2],
                      np.stack(pixel_array * slope + intercept): what people usually write;
* ``mv_total``      - medviewer: scan([folder]) + load_volume(series);
* ``mv_scan``       - medviewer scan alone (headers only);
* ``mv_load``       - medviewer load_volume alone (scan done beforehand, not timed);
* ``mv_first``      - start of load_volume_iter to its first yield (the middle slice is
                      displayable), scan done beforehand;
* ``mv_scan_first`` - scan + first slice: what a user waits for before seeing an image;
* ``mv_process``    - the whole process ``medviewer convert FOLDER -o OUT.npy``, spawn to exit
                      (interpreter, imports, scan, load, write, exit), beside
* ``sitk_process``  - SimpleITK's whole process doing the same (``load_process.py``), with
                      medviewer's time split into phases by an instrumented child.

Times are medians of warm repeats (page cache warm; the first run of every method is a
discarded warm-up). Peak RSS is measured once per method in a fresh subprocess
(``--child METHOD FOLDER``) as peak resident memory over the post-import baseline,
divided by the voxel bytes of the int16 volume (n * 512 * 512 * 2).

Usage::

    .venv/bin/python benchmarks/load_series.py                 # 100, 300, 1000 slices
    .venv/bin/python benchmarks/load_series.py --quick         # 100 and 300, 3 repeats
    .venv/bin/python benchmarks/load_series.py --sizes 300 --repeats 7
    .venv/bin/python benchmarks/load_series.py --profile 300   # cProfile of scan and load

Synthetic series are cached under ``benchmarks/data/`` (git-ignored) and regenerated only
when missing or incomplete.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
RESULTS = os.path.join(HERE, "results")
DEFAULT_OUTPUT = os.path.join(RESULTS, "load_series.json")
QUICK_OUTPUT = os.path.join(RESULTS, "load_series.quick.json")

if REPO not in sys.path:  # run as a script from anywhere, without installing
    sys.path.insert(0, REPO)

ROWS = COLS = 512
SEED = 1234
DATA_VERSION = 1  # bump to force regeneration of the cached series

TIMED_METHODS = [
    "file_read",
    "sitk_int16",
    "sitk_default",
    "sitk_names",
    "pydicom_naive",
    "mv_total",
    "mv_scan",
    "mv_load",
    "mv_first",
    "mv_scan_first",
]
RSS_METHODS = ["file_read", "sitk_int16", "sitk_default", "pydicom_naive", "mv_total"]

TARGETS = {
    "ratio_vs_simpleitk_max": 0.35,
    "process_ratio_vs_simpleitk_max": 0.6,
    "first_slice_s_max": 0.15,
    "peak_rss_over_voxel_bytes_max": 1.3,
}


# --------------------------------------------------------------------------------------------
# Data


def series_dir(n: int) -> str:
    return os.path.join(DATA, f"ct{n}")


def _dicom_dir(n: int) -> str:
    return os.path.join(series_dir(n), "dicom")


def _truth_path(n: int) -> str:
    return os.path.join(series_dir(n), "truth.npy")


def _manifest_path(n: int) -> str:
    return os.path.join(series_dir(n), "manifest.json")


def _manifest(n: int) -> dict:
    return {"version": DATA_VERSION, "n_slices": n, "rows": ROWS, "cols": COLS, "seed": SEED}


def _cached_ok(n: int) -> bool:
    try:
        with open(_manifest_path(n)) as fp:
            manifest = json.load(fp)
    except (OSError, ValueError):
        return False
    if {k: manifest.get(k) for k in _manifest(n)} != _manifest(n):
        return False
    try:
        files = [f for f in os.listdir(_dicom_dir(n)) if f.endswith(".dcm")]
    except OSError:
        return False
    if len(files) != n or sorted(files) != sorted(manifest.get("files", [])):
        return False
    if not os.path.isfile(_truth_path(n)):
        return False
    return True


def ensure_series(n: int, log=print) -> str:
    """The DICOM folder of an n-slice series, written (once) if missing or incomplete."""
    if _cached_ok(n):
        return _dicom_dir(n)
    import numpy as np

    from medviewer.testing.synthetic import write_series

    shutil.rmtree(series_dir(n), ignore_errors=True)
    os.makedirs(series_dir(n))
    log(f"writing synthetic CT series: {n} slices of {ROWS}x{COLS} int16 ...")
    t0 = time.perf_counter()
    written = write_series(_dicom_dir(n), n_slices=n, rows=ROWS, cols=COLS, shuffle=True, seed=SEED)
    truth = written.values.astype(np.int16)
    if not np.array_equal(truth, written.values):
        raise RuntimeError("synthetic truth does not fit int16")
    del written
    np.save(_truth_path(n), truth)
    manifest = _manifest(n)
    manifest["files"] = sorted(f for f in os.listdir(_dicom_dir(n)) if f.endswith(".dcm"))
    with open(_manifest_path(n), "w") as fp:  # written last: marks the cache complete
        json.dump(manifest, fp)
    log(f"  done in {time.perf_counter() - t0:.1f} s -> {series_dir(n)}")
    return _dicom_dir(n)


def voxel_bytes(n: int) -> int:
    return n * ROWS * COLS * 2


# --------------------------------------------------------------------------------------------
# The loaders. Each returns what it loaded (kept alive until the clock stops).


def _files(folder: str) -> list[str]:
    return [os.path.join(folder, f) for f in os.listdir(folder)]


def run_file_read(folder: str):
    total = 0
    for path in _files(folder):
        with open(path, "rb") as fp:
            total += len(fp.read())
    return total


def run_sitk(folder: str, int16: bool = True):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(folder)
    reader.SetFileNames(names)
    if int16:
        reader.SetOutputPixelType(sitk.sitkInt16)
    return reader.Execute()


def run_sitk_names(folder: str):
    import SimpleITK as sitk

    return sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder)


def run_pydicom_naive(folder: str):
    import numpy as np
    import pydicom

    slices = [pydicom.dcmread(path) for path in _files(folder)]
    slices.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    return np.stack(
        [ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in slices]
    )


def _only_series(result):
    series = result.all_series()
    if len(series) != 1:
        raise RuntimeError(f"expected one series, scan found {len(series)}")
    return series[0]


def run_mv_total(folder: str):
    from medviewer.dicom import load_volume, scan

    return load_volume(_only_series(scan([folder])))


def run_mv_scan(folder: str):
    from medviewer.dicom import scan

    return scan([folder])


def run_mv_load(series):
    from medviewer.dicom import load_volume

    return load_volume(series)


def run_mv_first(series):
    from medviewer.dicom import load_volume_iter

    job = load_volume_iter(series)
    step = next(job)
    return job, step


def run_mv_scan_first(folder: str):
    from medviewer.dicom import load_volume_iter, scan

    job = load_volume_iter(_only_series(scan([folder])))
    step = next(job)
    return job, step


# --------------------------------------------------------------------------------------------
# Timing


def _timed(fn, arg) -> float:
    t0 = time.perf_counter()
    out = fn(arg)
    elapsed = time.perf_counter() - t0
    if isinstance(out, tuple) and out and hasattr(out[0], "close"):
        out[0].close()  # a generator stopped after its first step
    del out
    return elapsed


def time_size(n: int, folder: str, repeats: int, log=print) -> dict[str, list[float]]:
    """Warm-up once, then ``repeats`` rounds over all methods (round robin, so that slow
    drifts of the machine spread over every method alike)."""
    from medviewer.dicom import scan

    series = _only_series(scan([folder]))  # for the load-only and first-slice timings
    calls = {
        "file_read": (run_file_read, folder),
        "sitk_int16": (run_sitk, folder),
        "sitk_default": (lambda f: run_sitk(f, int16=False), folder),
        "sitk_names": (run_sitk_names, folder),
        "pydicom_naive": (run_pydicom_naive, folder),
        "mv_total": (run_mv_total, folder),
        "mv_scan": (run_mv_scan, folder),
        "mv_load": (run_mv_load, series),
        "mv_first": (run_mv_first, series),
        "mv_scan_first": (run_mv_scan_first, folder),
    }
    times: dict[str, list[float]] = {m: [] for m in TIMED_METHODS}
    for rnd in range(repeats + 1):
        for method in TIMED_METHODS:
            fn, arg = calls[method]
            gc.collect()
            elapsed = _timed(fn, arg)
            if rnd > 0:
                times[method].append(elapsed)
        label = "warm-up" if rnd == 0 else f"repeat {rnd}/{repeats}"
        detail = "done" if rnd == 0 else " ".join(f"{m}={times[m][-1]:.3f}s" for m in TIMED_METHODS)
        log(f"  ct{n} {label}: {detail}")
    return times


# --------------------------------------------------------------------------------------------
# Correctness


def check_correctness(n: int, folder: str) -> dict:
    import numpy as np
    import SimpleITK as sitk

    from medviewer.dicom import load_volume, scan

    truth = np.load(_truth_path(n))
    volume = load_volume(_only_series(scan([folder])))
    mv = volume.array
    image = run_sitk(folder, int16=True)
    sk = sitk.GetArrayFromImage(image)
    out: dict = {
        "medviewer_dtype": str(mv.dtype),
        "medviewer_shape": list(mv.shape),
        "simpleitk_int16_dtype": str(sk.dtype),
        "simpleitk_int16_shape": list(sk.shape),
    }
    if sk.shape == mv.shape and np.array_equal(sk, truth):
        out["simpleitk_order"] = "ascending position along the normal (same as medviewer)"
        sk_sorted = sk
    elif sk.shape == mv.shape and np.array_equal(sk[::-1], truth):
        out["simpleitk_order"] = "descending position; flipped along z to compare"
        sk_sorted = sk[::-1]
    else:
        out["simpleitk_order"] = "matches truth in neither direction"
        sk_sorted = sk
    out["medviewer_equals_truth"] = bool(mv.shape == truth.shape and np.array_equal(mv, truth))
    out["medviewer_equals_simpleitk_int16"] = bool(
        mv.shape == sk_sorted.shape and np.array_equal(mv, sk_sorted)
    )
    out["simpleitk_int16_equals_truth"] = bool(
        sk_sorted.shape == truth.shape and np.array_equal(sk_sorted, truth)
    )
    if not out["medviewer_equals_truth"] and mv.shape == truth.shape:
        out["medviewer_max_abs_diff_vs_truth"] = int(
            np.max(np.abs(mv.astype(np.int32) - truth.astype(np.int32)))
        )
    # Geometry: origin of the first slice and slice spacing, medviewer vs SimpleITK.
    sk_origin = np.asarray(image.GetOrigin())
    sk_spacing_z = float(image.GetSpacing()[2])
    if out["simpleitk_order"].startswith("descending"):
        sk_first = sk_origin + np.asarray(image.GetDirection()).reshape(3, 3)[:, 2] * (
            sk_spacing_z * (image.GetSize()[2] - 1)
        )
    else:
        sk_first = sk_origin
    out["origin_matches_simpleitk"] = bool(
        np.allclose(np.asarray(volume.geometry.origin), sk_first, atol=1e-3)
    )
    out["z_spacing_matches_simpleitk"] = bool(abs(volume.geometry.spacing[0] - sk_spacing_z) < 1e-3)
    del sk, sk_sorted, image
    default = run_sitk(folder, int16=False)
    sk_default = sitk.GetArrayFromImage(default)
    out["simpleitk_default_dtype"] = str(sk_default.dtype)
    out["simpleitk_default_pixel_type"] = default.GetPixelIDTypeAsString()
    if out["simpleitk_order"].startswith("descending"):
        sk_default = sk_default[::-1]
    out["simpleitk_default_equals_truth"] = bool(
        sk_default.shape == truth.shape and np.array_equal(sk_default, truth)
    )
    del sk_default, default
    naive = run_pydicom_naive(folder)
    out["pydicom_naive_dtype"] = str(naive.dtype)
    out["pydicom_naive_equals_truth"] = bool(
        naive.shape == truth.shape and np.array_equal(naive, truth)
    )
    del naive
    first_job, first = run_mv_first(volume.series)
    mid = n // 2
    first_volume = first.detail
    out["first_yield_middle_slice_loaded"] = bool(
        first_volume.loaded is not None and first_volume.loaded[mid]
    )
    out["first_yield_middle_slice_correct"] = bool(
        np.array_equal(first_volume.array[mid], truth[mid])
    )
    first_job.close()
    out["all_ok"] = bool(
        out["medviewer_equals_truth"]
        and out["medviewer_equals_simpleitk_int16"]
        and out["first_yield_middle_slice_loaded"]
        and out["first_yield_middle_slice_correct"]
    )
    return out


# --------------------------------------------------------------------------------------------
# Peak RSS, one fresh subprocess per method


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fp:
            for line in fp:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; Linux >= 4.0."""
    try:
        with open("/proc/self/clear_refs", "w") as fp:
            fp.write("5")
        return True
    except OSError:
        return False


def child_main(method: str, folder: str) -> None:
    import resource

    import numpy  # noqa: F401  (part of every method's baseline)

    if method.startswith("sitk"):
        import SimpleITK  # noqa: F401
    elif method == "pydicom_naive":
        import pydicom  # noqa: F401
        import pydicom.pixels  # noqa: F401
    elif method.startswith("mv"):
        import medviewer.dicom  # noqa: F401
        import medviewer.dicom.volume  # noqa: F401

    gc.collect()
    reset = _reset_peak()
    baseline_kib = _status_kib("VmRSS")
    maxrss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn = {
        "file_read": run_file_read,
        "sitk_int16": run_sitk,
        "sitk_default": lambda f: run_sitk(f, int16=False),
        "pydicom_naive": run_pydicom_naive,
        "mv_total": run_mv_total,
    }[method]
    t0 = time.perf_counter()
    result = fn(folder)
    elapsed = time.perf_counter() - t0
    hwm_kib = _status_kib("VmHWM")
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    end_kib = _status_kib("VmRSS")
    if reset and hwm_kib is not None:
        peak_kib, how = hwm_kib, "VmHWM after clear_refs reset"
    else:
        peak_kib, how = maxrss_kib, "ru_maxrss"
    del result
    print(
        json.dumps(
            {
                "method": method,
                "seconds": elapsed,
                "baseline_rss_bytes": baseline_kib * 1024,
                "peak_rss_bytes": peak_kib * 1024,
                "peak_over_baseline_bytes": (peak_kib - baseline_kib) * 1024,
                "rss_at_end_over_baseline_bytes": (end_kib - baseline_kib) * 1024,
                "ru_maxrss_before_bytes": maxrss_before_kib * 1024,
                "ru_maxrss_bytes": maxrss_kib * 1024,
                "peak_source": how,
            }
        )
    )


def measure_rss(n: int, folder: str, log=print) -> dict:
    out = {}
    for method in RSS_METHODS:
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--child", method, folder],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"child {method} failed:\n{proc.stderr}")
        rec = json.loads(proc.stdout.strip().splitlines()[-1])
        rec["peak_rss_over_voxel_bytes"] = rec["peak_over_baseline_bytes"] / voxel_bytes(n)
        out[method] = rec
        log(
            f"  ct{n} peak RSS {method}: {rec['peak_over_baseline_bytes'] / 2**20:.0f} MiB over "
            f"baseline = {rec['peak_rss_over_voxel_bytes']:.2f}x voxel bytes"
        )
    return out


# --------------------------------------------------------------------------------------------
# Report


def machine_info() -> dict:
    import numpy
    import pydicom
    import SimpleITK as sitk

    info = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_total_gib": _mem_total_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pydicom": pydicom.__version__,
        "SimpleITK": sitk.Version.VersionString(),
        "itk_threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
        "medviewer_commit": _git_commit(),
        "page_cache": "warm (files read before timing; no cache dropping)",
    }
    try:
        import medviewer

        info["medviewer"] = getattr(medviewer, "__version__", None)
    except Exception:  # pragma: no cover - informational only
        pass
    return info


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as fp:
            for line in fp:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo") as fp:
            for line in fp:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return proc.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _ratio(a, b):
    return a / b if a is not None and b else None


def summarize_size(n: int, times: dict, rss: dict | None, correctness: dict) -> dict:
    med = {m: statistics.median(v) for m, v in times.items()}
    rec = {
        "n_slices": n,
        "shape": [n, ROWS, COLS],
        "voxel_bytes": voxel_bytes(n),
        "seconds": {
            m: {"median": med[m], "min": min(times[m]), "all": times[m]} for m in TIMED_METHODS
        },
        "ratios": {
            "medviewer_over_simpleitk_int16": _ratio(med["mv_total"], med["sitk_int16"]),
            "medviewer_over_simpleitk_default": _ratio(med["mv_total"], med["sitk_default"]),
            "medviewer_over_file_read": _ratio(med["mv_total"], med["file_read"]),
            "pydicom_naive_over_simpleitk_int16": _ratio(med["pydicom_naive"], med["sitk_int16"]),
            "simpleitk_int16_over_file_read": _ratio(med["sitk_int16"], med["file_read"]),
            "medviewer_scan_over_simpleitk_names": _ratio(med["mv_scan"], med["sitk_names"]),
            "medviewer_scan_share_of_total": _ratio(med["mv_scan"], med["mv_total"]),
        },
        "correctness": correctness,
    }
    if rss is not None:
        rec["peak_rss"] = rss
        rec["peak_rss_over_voxel_bytes"] = {
            m: r["peak_rss_over_voxel_bytes"] for m, r in rss.items()
        }
        # The RSS children also give one cold-process (first run in a fresh interpreter) time.
        rec["fresh_process_seconds"] = {m: r["seconds"] for m, r in rss.items()}
    return rec


def build_summary(sizes: dict) -> dict:
    ct = sizes.get("300")
    if ct is None:
        return {"note": "300-slice series not measured; run with --sizes including 300"}
    s = ct["seconds"]
    ratio = ct["ratios"]["medviewer_over_simpleitk_int16"]
    rss = ct.get("peak_rss_over_voxel_bytes", {}).get("mv_total")
    summary = {
        "ct300_ratio_vs_simpleitk": ratio,
        "ct300_first_slice_s": s["mv_first"]["median"],
        "ct300_scan_plus_first_slice_s": s["mv_scan_first"]["median"],
        "ct300_scan_s": s["mv_scan"]["median"],
        "ct300_load_s": s["mv_load"]["median"],
        "ct300_peak_rss_over_voxel_bytes": rss,
        "ct300_simpleitk_s": s["sitk_int16"]["median"],
        "ct300_simpleitk_names_s": s["sitk_names"]["median"],
        "ct300_medviewer_s": s["mv_total"]["median"],
        "ct300_file_read_s": s["file_read"]["median"],
        "ct300_pydicom_naive_s": s["pydicom_naive"]["median"],
        "ct300_correct": ct["correctness"]["all_ok"],
        "targets": dict(TARGETS),
    }
    process = ct.get("process")
    process_ratio = None
    if process is not None:
        ps = process["seconds"]
        process_ratio = _ratio(ps["mv_process"]["median"], ps["sitk_process"]["median"])
        summary["ct300_process_ratio_vs_simpleitk"] = process_ratio
        summary["ct300_mv_process_s"] = ps["mv_process"]["median"]
        summary["ct300_sitk_process_s"] = ps["sitk_process"]["median"]
        summary["ct300_mv_process_phases_s"] = process["mv_phases_median"]
    met = {
        "ratio_vs_simpleitk": ratio is not None and ratio <= TARGETS["ratio_vs_simpleitk_max"],
        "process_ratio_vs_simpleitk": process_ratio is not None
        and process_ratio <= TARGETS["process_ratio_vs_simpleitk_max"],
        "first_slice": summary["ct300_first_slice_s"] < TARGETS["first_slice_s_max"],
        "peak_rss": rss is not None and rss <= TARGETS["peak_rss_over_voxel_bytes_max"],
    }
    summary["targets_met"] = met
    summary["all_targets_met"] = all(met.values())
    # Informational: the first-slice target read as "from the user's click", scan included.
    summary["scan_plus_first_slice_under_first_slice_target"] = (
        summary["ct300_scan_plus_first_slice_s"] < TARGETS["first_slice_s_max"]
    )
    return summary


def _fmt_s(x: float) -> str:
    if x < 0.1:
        return f"{x * 1000:.0f} ms" if x >= 0.0095 else f"{x * 1000:.1f} ms"
    return f"{x:.2f} s"


def markdown(result: dict) -> str:
    sizes = result["sizes"]
    lines = [
        "| slices | file-read floor | SimpleITK int16 | SimpleITK default | pydicom naive "
        "| medviewer total | scan | load | first slice | scan + first slice "
        "| mv / SimpleITK | mv / floor |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, rec in sizes.items():
        s = {m: v["median"] for m, v in rec["seconds"].items()}
        r = rec["ratios"]
        lines.append(
            f"| {key} | {_fmt_s(s['file_read'])} | {_fmt_s(s['sitk_int16'])} "
            f"| {_fmt_s(s['sitk_default'])} | {_fmt_s(s['pydicom_naive'])} "
            f"| **{_fmt_s(s['mv_total'])}** | {_fmt_s(s['mv_scan'])} | {_fmt_s(s['mv_load'])} "
            f"| {_fmt_s(s['mv_first'])} | {_fmt_s(s['mv_scan_first'])} "
            f"| {r['medviewer_over_simpleitk_int16']:.2f} | {r['medviewer_over_file_read']:.1f} |"
        )
    if any("peak_rss_over_voxel_bytes" in rec for rec in sizes.values()):
        lines += [
            "",
            "Peak RSS over baseline, in multiples of the int16 voxel bytes (n x 512 x 512 x 2):",
            "",
            "| slices | voxel bytes | file-read floor | SimpleITK int16 | SimpleITK default "
            "| pydicom naive | medviewer |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for key, rec in sizes.items():
            p = rec.get("peak_rss_over_voxel_bytes")
            if not p:
                continue
            lines.append(
                f"| {key} | {rec['voxel_bytes'] / 2**20:.0f} MiB | {p['file_read']:.2f}x "
                f"| {p['sitk_int16']:.2f}x | {p['sitk_default']:.2f}x "
                f"| {p['pydicom_naive']:.2f}x | **{p['mv_total']:.2f}x** |"
            )
    if any("process" in rec for rec in sizes.values()):
        lines += [
            "",
            "Whole process, start to exit (`medviewer convert FOLDER -o OUT.npy` beside a "
            "SimpleITK script that reads the series as int16 and `np.save`s it), and where "
            "medviewer's time goes:",
            "",
            "| slices | SimpleITK process | medviewer process | mv / SimpleITK | interpreter "
            "+ exit | imports | scan | load | write |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for key, rec in sizes.items():
            proc = rec.get("process")
            if not proc:
                continue
            ps = {m: v["median"] for m, v in proc["seconds"].items()}
            ph = proc["mv_phases_median"]
            lines.append(
                f"| {key} | {_fmt_s(ps['sitk_process'])} | **{_fmt_s(ps['mv_process'])}** "
                f"| {ps['mv_process'] / ps['sitk_process']:.2f} "
                f"| {_fmt_s(ph['interpreter_and_exit'])} | {_fmt_s(ph['imports'])} "
                f"| {_fmt_s(ph['scan'])} | {_fmt_s(ph['load'])} | {_fmt_s(ph['write'])} |"
            )
    m = result["machine"]
    lines += [
        "",
        f"Medians of warm repeats; {m['cpu_count']} CPUs ({m['cpu_model']}), Python "
        f"{m['python']}, numpy {m['numpy']}, pydicom {m['pydicom']}, SimpleITK "
        f"{m['SimpleITK']}; {m['date'][:10]}.",
    ]
    summary = result.get("summary", {})
    if "targets_met" in summary:
        met = {k: "met" if v else "NOT met" for k, v in summary["targets_met"].items()}
        rss = summary["ct300_peak_rss_over_voxel_bytes"]
        lines += [
            "",
            "Targets (300 slices): "
            f"medviewer / SimpleITK {summary['ct300_ratio_vs_simpleitk']:.2f} "
            f"(<= {TARGETS['ratio_vs_simpleitk_max']}: {met['ratio_vs_simpleitk']}); "
            + (
                f"whole process {summary['ct300_process_ratio_vs_simpleitk']:.2f} "
                if "ct300_process_ratio_vs_simpleitk" in summary
                else "whole process not measured "
            )
            + f"(<= {TARGETS['process_ratio_vs_simpleitk_max']}: "
            f"{met['process_ratio_vs_simpleitk']}); "
            f"first slice {_fmt_s(summary['ct300_first_slice_s'])} "
            f"(< {TARGETS['first_slice_s_max']} s: {met['first_slice']}; with the scan "
            f"{_fmt_s(summary['ct300_scan_plus_first_slice_s'])}); "
            + (f"peak RSS {rss:.2f}x voxel bytes " if rss is not None else "peak RSS not measured ")
            + f"(<= {TARGETS['peak_rss_over_voxel_bytes_max']}x: {met['peak_rss']}).",
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Profiling helper


def profile(n: int, top: int = 20) -> None:
    import cProfile
    import pstats

    from medviewer.dicom import load_volume, scan

    folder = ensure_series(n)
    scan([folder])  # warm
    for label, fn in (("scan", lambda: scan([folder])), ("load_volume", None)):
        prof = cProfile.Profile()
        if fn is None:
            series = _only_series(scan([folder]))
            prof.enable()
            load_volume(series)
            prof.disable()
        else:
            prof.enable()
            fn()
            prof.disable()
        print(f"\n==== cProfile: {label} of {n} slices (top {top} by tottime) ====")
        pstats.Stats(prof).sort_stats("tottime").print_stats(top)
        print(f"==== cProfile: {label} of {n} slices (top {top} by cumulative) ====")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(top)


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", help="slice counts (default 100 300 1000)")
    parser.add_argument(
        "--repeats", type=int, help="warm repeats per size (default 7 up to 300 slices, 3 above)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="sizes 100 and 300, 3 repeats; writes results/load_series.quick.json",
    )
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument(
        "--process-sizes",
        type=int,
        nargs="*",
        default=[300],
        help="sizes also timed as whole processes (medviewer convert vs SimpleITK; default 300)",
    )
    parser.add_argument("--output", help="result JSON path")
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        help="only print a cProfile of medviewer scan and load for N slices",
    )
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        child_main(*args.child)
        return 0
    if args.profile:
        profile(args.profile)
        return 0

    sizes = args.sizes or ([100, 300] if args.quick else [100, 300, 1000])
    output = args.output or (QUICK_OUTPUT if args.quick else DEFAULT_OUTPUT)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = time.perf_counter()
    folders = {n: ensure_series(n, log) for n in sizes}
    result: dict = {
        "benchmark": "load_series",
        "description": "512x512 int16 CT head phantom, shuffled random file names; warm page "
        "cache; medians of warm repeats (first run discarded); peak RSS once per "
        "method in a fresh subprocess, over the post-import baseline",
        "machine": machine_info(),
        "methods": {
            "file_read": "open + read() every file of the series (the I/O floor)",
            "sitk_int16": "SimpleITK ImageSeriesReader: GetGDCMSeriesFileNames + Execute, "
            "output int16",
            "sitk_default": "the same with the default output pixel type",
            "sitk_names": "GetGDCMSeriesFileNames alone (SimpleITK's header scan and sort)",
            "pydicom_naive": "dcmread all, sort by ImagePositionPatient[2], "
            "np.stack(pixel_array * slope + intercept)",
            "mv_total": "medviewer scan([folder]) + load_volume(series)",
            "mv_scan": "medviewer scan([folder]) alone (headers only)",
            "mv_load": "medviewer load_volume(series) alone, series from a prior scan",
            "mv_first": "start of load_volume_iter(series) to its first yield "
            "(middle slice filled), scan done beforehand",
            "mv_scan_first": "scan + first yield of load_volume_iter",
            "mv_process": "whole process: `medviewer convert FOLDER -o OUT.npy`, spawn to exit",
            "sitk_process": "whole process: python -c 'import SimpleITK, numpy; read the "
            "series as int16; np.save', spawn to exit",
        },
        "sizes": {},
    }
    for n in sizes:
        folder = folders[n]
        repeats = args.repeats or (3 if args.quick or n > 300 else 7)
        log(f"ct{n}: checking correctness ...")
        correctness = check_correctness(n, folder)
        log(f"  {json.dumps(correctness)}")
        gc.collect()
        log(f"ct{n}: timing, 1 warm-up + {repeats} repeats ...")
        times = time_size(n, folder, repeats, log)
        gc.collect()
        rss = None
        if not args.no_rss:
            log(f"ct{n}: peak RSS, one fresh subprocess per method ...")
            rss = measure_rss(n, folder, log)
        rec = summarize_size(n, times, rss, correctness)
        rec["repeats"] = repeats
        if n in (args.process_sizes or []):
            from load_process import time_processes

            log(f"ct{n}: whole processes, 1 warm-up + {repeats} repeats ...")
            rec["process"] = time_processes(folder, repeats, log)
        result["sizes"][str(n)] = rec
    result["summary"] = build_summary(result["sizes"])
    result["wall_seconds"] = time.perf_counter() - started

    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as fp:
        json.dump(result, fp, indent=2)
        fp.write("\n")
    log(f"wrote {output} ({result['wall_seconds']:.0f} s)")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
