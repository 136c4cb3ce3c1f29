"""Benchmark: model loading, forward passes, a series' throughput and explanation cost.

Models
    * ``lesion_evidence``, the primary model: the package the product uses by default,
      ``models/headct-lesions/2.0.0`` (trained weights, 256 x 256 x 3 channels of CT windows),
      loaded from its folder with ``medviewer.ai.package.load_package`` (manifest, sha256 of the
      weights, safetensors). Where that folder does not exist (the training run writes it),
      a random-weight package of the same architecture, written with
      ``medviewer.testing.tiny_model.make_package`` in a temporary folder, stands in; the
      results' ``package`` / ``weights`` keys say which ran. The summary is about this model.
    * ``cbam_resnet``, the previous bundled version ``models/headct-lesions/1.0.0``, measured
      the same way in the same run (the summary's ``previous``).
    * ``resnet18`` (torchvision), for comparison: random seeded weights, 256 x 256 x 3, written
      with ``make_package`` and loaded with ``load_package`` the same way. Speed does not depend
      on the weights' values.

Data
    The bundled sample head CT (``medviewer.resources.sample_study_dir()``, 108 slices), loaded
    once with ``medviewer.dicom.load_volume``; timings use its real slices.

What is timed (``time.perf_counter``; CUDA runs synchronise before reading the clock)
    * ``model_load_s``: ``load_package`` (manifest, sha256 of the weights, safetensors, build,
      ``load_state_dict``, eval, ``.to(device)``); median of warm repeats in this process
      (torch already imported), and the first load.
    * ``forward_ms_b1``: the plain forward pass, batch 1, under ``torch.inference_mode``, on a
      preprocessed slice already on the device (median). This is the anchor the other numbers
      are divided by.
    * batches 1, 4, 8, 16, 32: forward time per slice; the best is used for the series.
    * ``series_slices_per_s``: all 108 slices, ``LoadedModel.preprocess`` of each + forward in
      batches of the best size + softmax, to the probabilities on the CPU.
    * ``first_result_s``: from a freshly loaded model to the first prediction for one slice
      (the first, cold, forward included): ``medviewer.ai.classifier.predict_iter``'s first
      yielded Progress when that exists, else preprocess + forward + softmax of one slice;
      ``first_result_how`` says which.
    * explanations: ``medviewer.ai.explain.explain(model, slice, method, faithfulness=False)``
      per method, from the raw slice to the float32 map on the slice's grid (preprocess, CAM,
      resize back). Timed alternately with a plain forward pass, so drifts hit both;
      ``*_over_forward`` = median explain / median forward. ``gradcam_full_backward`` is the same
      Grad-CAM with pytorch-grad-cam's own full backward (through the whole backbone, weight
      gradients included) instead of ours, which stops at the CAM layer: same map, see the tests.
    * ``faithfulness_s``: the ROAD score alone (explain with it minus without).

Targets (CPU, primary model, in ``summary``)
    ``forward_ms_b1`` < 30 ms (``forward_under_30ms_b1``); Grad-CAM <= 3x a forward pass
    (``cam_over_forward_ratio``); ``first_result_s`` < 0.5 s; ``model_load_s`` < 1 s.

Usage::

    .venv/bin/python benchmarks/inference.py            # ~3-4 min on 2 CPUs
    .venv/bin/python benchmarks/inference.py --quick    # fewer repeats, no Score-CAM on resnet

A full run writes ``benchmarks/results/inference.json``; ``--quick`` writes
``inference.quick.json``. The Markdown table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from medviewer.ai import explain as ex
from medviewer.ai.package import load_package
from medviewer.testing.tiny_model import make_package

ROOT = Path(__file__).resolve().parent.parent

BUNDLED = ROOT / "models" / "headct-lesions" / "2.0.0"
PRIMARY = "lesion_evidence"
PREVIOUS_FOLDER = ROOT / "models" / "headct-lesions" / "1.0.0"
PREVIOUS = "cbam_resnet"
CLASSES = ("normal", "hyperdense_lesion", "hypodense_lesion")
INPUT = (256, 256)
BATCHES = (1, 4, 8, 16, 32)
THREADS = 2
TARGETS = {
    "forward_ms_b1": 30.0,
    "cam_over_forward_ratio": 3.0,
    "first_result_s": 0.5,
    "model_load_s": 1.0,
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(fn, device: str) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def _median_ms(samples: list[float]) -> float:
    return 1e3 * statistics.median(samples)


def load_sample():
    from medviewer.dicom import load_volume, scan
    from medviewer.resources import sample_study_dir

    result = scan([str(sample_study_dir())])
    series = max(result.all_series(), key=lambda s: s.shape[0])
    return load_volume(series)


def measure_load(folder: Path, device: str, repeats: int) -> dict:
    first = _time(lambda: load_package(folder, device=device), device)
    samples = [_time(lambda: load_package(folder, device=device), device) for _ in range(repeats)]
    return {"first_s": first, "median_s": statistics.median(samples), "samples_s": samples}


def forward_fn(model, x):
    def run():
        with torch.inference_mode():
            model.module(x)

    return run


def measure_batches(model, volume, device: str, repeats: int) -> dict:
    """Forward time per slice for each batch size, round robin over the sizes."""
    n = volume.array.shape[0]
    runs = {}
    for b in BATCHES:
        idx = [(n // 2 + i) % n for i in range(b)]
        x = torch.from_numpy(np.stack([model.preprocess(volume.array[i]) for i in idx])).to(device)
        runs[b] = forward_fn(model, x)
        runs[b]()
    samples = {b: [] for b in BATCHES}
    for _ in range(repeats):
        for b, run in runs.items():
            samples[b].append(_time(run, device))
    return {
        str(b): {"ms_per_slice": _median_ms(v) / b, "ms_per_batch": _median_ms(v)}
        for b, v in samples.items()
    }


def predict_series(model, volume, batch: int, invert: bool) -> np.ndarray:
    probs = []
    arr = volume.array
    for start in range(0, arr.shape[0], batch):
        chunk = np.stack([model.preprocess(s, invert=invert) for s in arr[start : start + batch]])
        with torch.inference_mode():
            logits = model.module(torch.from_numpy(chunk).to(model.device))
            probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(probs)


def _first_prediction(model, volume, k: int):
    """(callable giving the first prediction for slice k, what it does)."""
    try:
        from medviewer.ai.classifier import predict_iter
    except ImportError:
        predict_iter = None
    if predict_iter is not None:

        def first():
            job = predict_iter(model, volume, first=k)
            next(job)
            job.close()

        return first, f"first Progress yielded by predict_iter(model, volume, first={k})"

    def plain():
        x = model.preprocess(volume.array[k], invert=volume.invert)
        with torch.inference_mode():
            logits = model.module(torch.from_numpy(x)[None].to(model.device))
            torch.softmax(logits.float(), dim=1).cpu()

    return plain, (
        "preprocess + forward + softmax of one slice (medviewer.ai.classifier.predict_iter "
        "not available)"
    )


def _series_prediction(model, volume, batch: int):
    try:
        from medviewer.ai.classifier import predict
    except ImportError:
        return None
    return lambda: predict(model, volume, batch_size=batch)


def measure_first_result(folder: Path, volume, device: str, repeats: int) -> dict:
    """A fresh model each time, then the first prediction for the middle slice."""
    k = volume.array.shape[0] // 2
    samples, how = [], ""
    for _ in range(repeats):
        model = load_package(folder, device=device)
        first, how = _first_prediction(model, volume, k)
        samples.append(_time(first, device))
    return {"median_s": statistics.median(samples), "samples_s": samples, "how": how}


def measure_explain(model, volume, device: str, repeats: dict, methods) -> dict:
    k = volume.array.shape[0] // 2
    values = volume.array[k]
    x = torch.from_numpy(model.preprocess(values, invert=volume.invert))[None].to(device)
    fwd = forward_fn(model, x)
    out = {}
    avail = ex.available_methods(model)
    variants = [(m, True) for m in methods if avail[m] is None]
    if "gradcam" in methods:
        variants.append(("gradcam", False))
    for method, truncate in variants:
        name = method if truncate else "gradcam_full_backward"
        n = repeats["scorecam"] if method == "scorecam" else repeats["cam"]
        if n <= 0:
            continue

        def run(method=method, truncate=truncate):
            list(ex._steps(model, values, method, None, volume.invert, False, truncate=truncate))

        run()  # warm-up (and pytorch_grad_cam's import on the first)
        fwd()
        cam_s, fwd_s = [], []
        for _ in range(n):
            fwd_s.append(_time(fwd, device))
            cam_s.append(_time(run, device))
        out[name] = {
            "ms": _median_ms(cam_s),
            "forward_ms": _median_ms(fwd_s),
            "over_forward": statistics.median(cam_s) / statistics.median(fwd_s),
            "repeats": n,
        }
        log(f"    {name:<22} {out[name]['ms']:9.1f} ms  ({out[name]['over_forward']:.2f}x forward)")
    # the ROAD score on its own
    with_f = [
        _time(lambda: ex.explain(model, values, "gradcam", invert=volume.invert), device)
        for _ in range(repeats["faithfulness"])
    ]
    out["faithfulness_s"] = statistics.median(with_f) - out["gradcam"]["ms"] / 1e3
    # what building the CAM object and its hooks costs (it is made per call)
    import pytorch_grad_cam as pgc

    from medviewer.ai.builders import find_module

    layer = find_module(model.module, model.manifest.cam_target_layer)

    def make_cam():
        cam = pgc.GradCAM(model=model.module, target_layers=[layer])
        cam.activations_and_grads.release()

    make_cam()
    out["cam_object_setup_ms"] = _median_ms([_time(make_cam, device) for _ in range(20)])
    # pieces around the CAM
    out["preprocess_ms"] = _median_ms(
        [_time(lambda: model.preprocess(values), device) for _ in range(10)]
    )
    grid = np.random.default_rng(0).random(model.manifest.input_size).astype(np.float32)
    out["to_slice_ms"] = _median_ms(
        [_time(lambda: model.to_slice(grid, values.shape[:2]), device) for _ in range(10)]
    )
    return out


def bench_model(key: str, pkg: dict, volume, device: str, quick: bool) -> dict:
    folder = pkg["folder"]
    log(f"{key} ({pkg['package']}, {pkg['weights']}) on {device}")
    r = {"device": device, **{k: v for k, v in pkg.items() if k != "folder"}}
    r["load"] = measure_load(folder, device, 3 if quick else 5)
    log(f"  load {r['load']['median_s']:.3f} s (first {r['load']['first_s']:.3f} s)")
    model = load_package(folder, device=device)
    m = model.manifest
    r["architecture"] = m.architecture
    r["input"] = [*m.input_size, m.channels]
    r["weights_sha256"] = m.sha256
    r["parameters"] = sum(p.numel() for p in model.module.parameters())
    k = volume.array.shape[0] // 2
    x = torch.from_numpy(model.preprocess(volume.array[k], invert=volume.invert))[None].to(device)
    fwd = forward_fn(model, x)
    for _ in range(3):
        fwd()
    samples = [_time(fwd, device) for _ in range(10 if quick else 30)]
    r["forward_ms_b1"] = _median_ms(samples)
    r["forward_ms_b1_min"] = 1e3 * min(samples)
    log(f"  forward b1 {r['forward_ms_b1']:.1f} ms")
    r["batches"] = measure_batches(model, volume, device, 2 if quick else 4)
    best = min(r["batches"], key=lambda b: r["batches"][b]["ms_per_slice"])
    r["best_batch"] = int(best)
    r["best_batch_ms_per_slice"] = r["batches"][best]["ms_per_slice"]
    log(f"  best batch {best}: {r['best_batch_ms_per_slice']:.1f} ms/slice")
    n = int(volume.array.shape[0])
    r["series_slices"] = n
    plain = lambda: predict_series(model, volume, int(best), volume.invert)  # noqa: E731
    app = _series_prediction(model, volume, int(best))
    r["series_how"] = (
        "medviewer.ai.classifier.predict(model, volume, batch_size=best)"
        if app is not None
        else "preprocess + forward in batches of the best size + softmax"
    )
    runs = {"plain": plain, "app": app or plain}
    for fn in runs.values():
        fn()
    samples = {name: [] for name in runs}
    for _ in range(2 if quick else 3):
        for name, fn in runs.items():
            samples[name].append(_time(fn, device))
    r["series_s"] = statistics.median(samples["app"])
    r["series_slices_per_s"] = n / r["series_s"]
    r["series_plain_slices_per_s"] = n / statistics.median(samples["plain"])
    log(
        f"  series {r['series_slices_per_s']:.1f} slices/s "
        f"(plain loop {r['series_plain_slices_per_s']:.1f})"
    )
    r["first_result"] = measure_first_result(folder, volume, device, 3)
    log(f"  first result {r['first_result']['median_s']:.3f} s")
    scorecam = 0 if (quick and key != PRIMARY) else 1
    repeats = {"cam": 4 if quick else 10, "scorecam": scorecam, "faithfulness": 1 if quick else 3}
    r["explain"] = measure_explain(model, volume, device, repeats, ex.METHODS)
    return r


def measure_grad_cam_import(repeats: int = 3) -> dict:
    """``import pytorch_grad_cam`` in a fresh interpreter that has already imported torch:
    what the first explanation of a session waits for on top of the computation."""
    code = (
        "import time, torch, torchvision; t = time.perf_counter(); import pytorch_grad_cam; "
        "print(time.perf_counter() - t)"
    )
    samples = []
    for _ in range(repeats):
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
        )
        samples.append(float(run.stdout.strip().splitlines()[-1]))
    return {"median_s": statistics.median(samples), "samples_s": samples}


def machine_info() -> dict:
    import importlib.metadata as md

    info = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torchvision": md.version("torchvision"),
        "grad-cam": md.version("grad-cam"),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
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


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as fp:
            for line in fp:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def summarise(cpu: dict) -> dict:
    a = cpu[PRIMARY]
    h, w, c = a["input"]
    s = {
        "model": f"{a['package']} ({a['architecture']}, {a['weights']}) {h}x{w}x{c}, CPU",
        "package": a["package"],
        "weights": a["weights"],
        "weights_sha256": a["weights_sha256"],
        "forward_ms_b1": a["forward_ms_b1"],
        "best_batch": a["best_batch"],
        "best_batch_ms_per_slice": a["best_batch_ms_per_slice"],
        "series_slices_per_s": a["series_slices_per_s"],
        "cam_ms": a["explain"]["gradcam"]["ms"],
        "cam_over_forward_ratio": a["explain"]["gradcam"]["over_forward"],
        "cam_over_forward_ratio_full_backward": a["explain"]["gradcam_full_backward"][
            "over_forward"
        ],
        "cam_over_forward_by_method": {
            m: v["over_forward"]
            for m, v in a["explain"].items()
            if isinstance(v, dict) and "over_forward" in v
        },
        "faithfulness_s": a["explain"]["faithfulness_s"],
        "first_result_s": a["first_result"]["median_s"],
        "first_result_how": a["first_result"]["how"],
        "model_load_s": a["load"]["median_s"],
        "model_load_first_s": a["load"]["first_s"],
        "targets": {
            "forward_ms_b1": f"< {TARGETS['forward_ms_b1']}",
            "cam_over_forward_ratio": f"<= {TARGETS['cam_over_forward_ratio']} (Grad-CAM)",
            "first_result_s": f"< {TARGETS['first_result_s']}",
            "model_load_s": f"< {TARGETS['model_load_s']}",
        },
    }
    s["forward_under_30ms_b1"] = s["forward_ms_b1"] < TARGETS["forward_ms_b1"]
    s["met"] = {
        "forward_ms_b1": s["forward_under_30ms_b1"],
        "cam_over_forward_ratio": s["cam_over_forward_ratio"] <= TARGETS["cam_over_forward_ratio"],
        "first_result_s": s["first_result_s"] < TARGETS["first_result_s"],
        "model_load_s": s["model_load_s"] < TARGETS["model_load_s"],
    }
    s["targets_met"] = all(s["met"].values())
    if PREVIOUS in cpu:
        p = cpu[PREVIOUS]
        s["previous"] = {
            "package": p["package"],
            "forward_ms_b1": p["forward_ms_b1"],
            "best_batch_ms_per_slice": p["best_batch_ms_per_slice"],
            "cam_over_forward_ratio": p["explain"]["gradcam"]["over_forward"],
            "forward_speedup": p["forward_ms_b1"] / a["forward_ms_b1"],
        }
    return s


def _ms_x(e: dict) -> str:
    return f"{e['ms']:.0f} ({e['over_forward']:.2f}x)"


def _column(r: dict) -> str:
    h, w, c = r["input"]
    if r["weights"] == "trained":
        return f"{r['package']} ({r['architecture']}) {h}x{w}x{c}"
    return f"{r['architecture']}, random weights, {h}x{w}x{c}"


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = []
    for device, models in results["devices"].items():
        names = list(models)
        lines += [
            f"**{device}** ({m['cpu_count']} CPUs, {m['cpu_model']}, torch {m['torch']}, "
            f"{m['torch_threads']} threads" + (f", {m['cuda']}" if device == "cuda" else "") + ")",
            "",
            "| | " + " | ".join(_column(models[n]) for n in names) + " |",
            "|---|" + "---:|" * len(names),
        ]

        def row(label, fn, models=models, names=names):
            cells = []
            for n in names:
                try:
                    cells.append(fn(models[n]))
                except KeyError:
                    cells.append("-")
            return f"| {label} | " + " | ".join(cells) + " |"

        lines.append(
            row(
                "model load, s (median; first)",
                lambda r: f"{r['load']['median_s']:.3f} ({r['load']['first_s']:.3f})",
            )
        )
        lines.append(row("parameters", lambda r: f"{r['parameters'] / 1e6:.2f} M"))
        lines.append(row("**plain forward, batch 1, ms**", lambda r: f"{r['forward_ms_b1']:.1f}"))
        for b in BATCHES[1:]:
            lines.append(
                row(
                    f"forward, batch {b}, ms/slice",
                    lambda r, b=b: f"{r['batches'][str(b)]['ms_per_slice']:.1f}",
                )
            )
        lines.append(
            row(
                f"series ({next(iter(models.values()))['series_slices']} slices), `predict`, "
                "best batch, slices/s",
                lambda r: f"{r['series_slices_per_s']:.1f} (batch {r['best_batch']})",
            )
        )
        lines.append(
            row(
                "series, plain preprocess + forward loop, slices/s",
                lambda r: f"{r['series_plain_slices_per_s']:.1f}",
            )
        )
        lines.append(
            row(
                "first result from a loaded model, s",
                lambda r: f"{r['first_result']['median_s']:.3f}",
            )
        )
        for meth in (*ex.METHODS, "gradcam_full_backward"):
            label = ex.METHOD_LABELS.get(meth, "Grad-CAM, library's full backward")
            lines.append(
                row(
                    f"{label}, ms (x forward)",
                    lambda r, meth=meth: _ms_x(r["explain"][meth]),
                )
            )
        lines.append(
            row("ROAD faithfulness score, s", lambda r: f"{r['explain']['faithfulness_s']:.2f}")
        )
        lines.append(
            row(
                "preprocess / to_slice / CAM object setup, ms",
                lambda r: (
                    f"{r['explain']['preprocess_ms']:.1f} / {r['explain']['to_slice_ms']:.2f} / "
                    f"{r['explain']['cam_object_setup_ms']:.2f}"
                ),
            )
        )
        lines.append("")
    s = results["summary"]
    lines += [
        f"| summary ({s['package']}, {s['weights']} weights, CPU) | value | target | met |",
        "|---|---:|---|---|",
        f"| forward, batch 1, ms | {s['forward_ms_b1']:.1f} | {s['targets']['forward_ms_b1']} | "
        f"{s['met']['forward_ms_b1']} |",
        f"| Grad-CAM / forward | {s['cam_over_forward_ratio']:.2f}x | "
        f"{s['targets']['cam_over_forward_ratio']} | {s['met']['cam_over_forward_ratio']} |",
        f"| first result, s | {s['first_result_s']:.3f} | {s['targets']['first_result_s']} | "
        f"{s['met']['first_result_s']} |",
        f"| model load, s | {s['model_load_s']:.3f} | {s['targets']['model_load_s']} | "
        f"{s['met']['model_load_s']} |",
        f"| series, slices/s | {s['series_slices_per_s']:.1f} | - | - |",
        *(
            [
                f"| forward, batch 1, ms, {s['previous']['package']} (same run) | "
                f"{s['previous']['forward_ms_b1']:.1f} | - | - |",
                f"| Grad-CAM / forward, {s['previous']['package']} | "
                f"{s['previous']['cam_over_forward_ratio']:.2f}x | - | - |",
            ]
            if "previous" in s
            else []
        ),
        f"| `import pytorch_grad_cam` (first explanation only), s | "
        f"{s['grad_cam_import_s']:.2f} | - | - |",
    ]
    return "\n".join(lines)


def bundled_package(tmp: Path, folder: Path = BUNDLED, arch: str = PRIMARY) -> dict:
    """A bundled package's folder, or a random-weight stand-in of the same architecture."""
    if (folder / "manifest.json").is_file():
        return {
            "folder": folder,
            "package": f"{folder.parent.name} {folder.name}",
            "package_folder": str(folder.relative_to(ROOT)),
            "weights": "trained",
        }
    log(f"{folder} not found: benchmarking a random-weight {arch} package instead")
    stand_in = make_package(
        tmp / arch,
        name="headct-lesions-random",
        architecture=arch,
        classes=CLASSES,
        input_size=INPUT,
    )
    return {
        "folder": stand_in,
        "package": f"{arch} (random stand-in for {folder.parent.name} {folder.name})",
        "package_folder": None,
        "weights": "random (seeded)",
    }


def random_package(tmp: Path, arch: str = "resnet18") -> dict:
    folder = make_package(tmp / arch, architecture=arch, classes=CLASSES, input_size=INPUT)
    return {"folder": folder, "package": arch, "package_folder": None, "weights": "random (seeded)"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    volume = load_sample()
    log(f"sample study: {volume.array.shape} {volume.array.dtype}")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = {
        "benchmark": "inference",
        "description": __doc__.splitlines()[0],
        "machine": machine_info(),
        "config": {
            "input": [*INPUT, 3],
            "primary": PRIMARY,
            "batches": list(BATCHES),
            "cpu_threads": THREADS,
            "sample_slices": int(volume.array.shape[0]),
            "slice_shape": list(volume.array.shape[1:]),
            "weights": (
                f"{PRIMARY} and {PREVIOUS}: the bundled packages' trained weights "
                f"({BUNDLED.relative_to(ROOT)}, {PREVIOUS_FOLDER.relative_to(ROOT)}) when they "
                "exist, else random (seeded); resnet18: random (seeded); timings do not depend "
                "on the values"
            ),
            "faithfulness": f"{ex.FAITHFULNESS_NAME} at {list(ex.FAITHFULNESS_PERCENTILES)} %",
            "quick": args.quick,
        },
        "devices": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        packages = {
            PRIMARY: bundled_package(Path(tmp)),
            PREVIOUS: bundled_package(Path(tmp), PREVIOUS_FOLDER, PREVIOUS),
            "resnet18": random_package(Path(tmp)),
        }
        for device in devices:
            results["devices"][device] = {
                key: bench_model(key, pkg, volume, device, args.quick)
                for key, pkg in packages.items()
            }
    results["grad_cam_import"] = measure_grad_cam_import()
    log(f"import pytorch_grad_cam {results['grad_cam_import']['median_s']:.2f} s")
    results["summary"] = summarise(results["devices"]["cpu"])
    results["summary"]["grad_cam_import_s"] = results["grad_cam_import"]["median_s"]
    name = "inference.quick.json" if args.quick else "inference.json"
    out = ROOT / "benchmarks" / "results" / name
    out.write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {out}")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
