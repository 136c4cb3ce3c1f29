"""Benchmark: fine-tuning throughput of the bundled model on this CPU, beside a plain loop.

Model
    The bundled package ``models/headct-lesions/2.0.0`` (``lesion_evidence``, 256 x 256 x 3 CT
    windows) as the base; a new class ``skull_base`` is added (the head grows to 4 outputs).

Data
    The bundled sample head CT (``medviewer.resources.sample_study_dir()``, 108 slices, one
    patient), labeled through ``LabelStore``: ``skull_base`` for the lowest 35 slices,
    ``normal`` for the rest. For the 200-slice run, four copies of the study are written with
    new UIDs and PatientIDs (``benchmarks/data/finetune/``, git-ignored) and 50 slices of each
    are labeled (every other slice): 200 labeled slices, 4 patients, split 150 / 50 by patient.

What is timed (``time.perf_counter``)
    * ``probe`` / ``full``: ``medviewer.ai.train.finetune_iter`` on the sample study (81
      training slices, 27 validation, batch 16, augmentation on, no early stopping). Training
      throughput counts the slices of batches 2..n of each epoch over the time from the end of
      batch 1 to the end of batch n (so validation, the base model's scoring, saving and each
      epoch's first batch are not in it); epoch 1 is a warm-up and left out.
    * ``anchor``: in the same process, in rounds before, between and after the two runs, a
      plain loop of the same module (the bundled network with its 4-output head) on random
      inputs of the same shape, batch 16: forward + cross entropy + backward + AdamW step
      (``anchor_full``), and an eval-mode forward pass without gradients through the whole
      network (``anchor_forward``: a linear probe's ceiling, since it runs the whole forward
      pass for every augmented batch).
      ``*_over_anchor`` = fine-tuning throughput / anchor throughput.
    * ``run_200x5_full``: everything a user waits for: ``prepare_iter`` (labels, scan, loading
      four series) and ``finetune_iter`` (base scoring, 5 full epochs of 150 slices with
      validation of 50 after each, temperature, metrics, saving), wall clock.

Target (``summary.target_met``): 200 labeled slices x 5 epochs of full fine-tuning in under
3 minutes on 2 cores. ``minutes_200x5_full`` is the measured end-to-end run;
``minutes_200x5_full_all_train`` projects the stricter case where all 200 slices train
(1000 slices at ``full_slices_per_s``) and is checked too.

Usage::

    .venv/bin/python benchmarks/finetune.py            # ~3 min on 2 CPUs
    .venv/bin/python benchmarks/finetune.py --quick    # 2 epochs, no 200-slice run

A full run writes ``benchmarks/results/finetune.json``; ``--quick`` writes
``finetune.quick.json``. The Markdown table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASE = "headct-lesions:2.0.0"
BATCH = 16
TARGET_MINUTES = 3.0
DATA = ROOT / "benchmarks" / "data" / "finetune"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _registry(tmp: Path):
    from medviewer.ai.registry import ModelRegistry

    return ModelRegistry(ROOT / "models", tmp / "models", tmp / "active_models.json")


def _label(store_path: Path, series_list, pick) -> int:
    from medviewer.labels.schema import SliceKey
    from medviewer.labels.store import LabelStore

    n = 0
    with LabelStore(store_path) as st, st.transaction():
        for series in series_list:
            for k, ref in enumerate(series.slices):
                if not pick(k):
                    continue
                key = SliceKey(series.study_uid, series.series_uid, ref.sop_instance_uid)
                label = "skull_base" if k < 35 else "normal"
                st.set_label(key, label, annotator="bench", path_hint=ref.path)
                n += 1
    return n


def _copies(n: int) -> list:
    """``n`` copies of the sample study with new UIDs and PatientIDs (cached on disk)."""
    import pydicom
    from pydicom.uid import generate_uid

    from medviewer.dicom import scan
    from medviewer.resources import sample_study_dir

    src = sorted(p for p in sample_study_dir().iterdir() if p.is_file())
    out = []
    for c in range(n):
        folder = DATA / f"patient{c}"
        marker = folder / ".complete"
        if not marker.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            study, series = generate_uid(), generate_uid()
            for p in src:
                try:
                    ds = pydicom.dcmread(p)
                except Exception:
                    continue
                ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
                ds.SOPInstanceUID = generate_uid()
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                ds.PatientID = f"BENCH-{c:03d}"
                ds.save_as(folder / p.name)
            marker.write_text("ok\n")
        (st,) = scan([str(folder)]).studies
        out.append(st.series[0])
    return out


def _throughput(stamps: list[tuple[float, object]]) -> dict:
    """Training slices/s from (time, BatchProgress) of each batch, epochs 2.. only."""
    by_epoch: dict[int, list] = {}
    for t, d in stamps:
        by_epoch.setdefault(d.epoch, []).append((t, d))
    slices, seconds, per_epoch = 0, 0.0, []
    for epoch, rows in sorted(by_epoch.items()):
        if len(rows) < 2:
            continue
        n = sum(d.slices for _, d in rows[1:])
        dt = rows[-1][0] - rows[0][0]
        per_epoch.append({"epoch": epoch, "slices": n, "seconds": dt, "slices_per_s": n / dt})
        if epoch > 1:
            slices += n
            seconds += dt
    return {
        "slices_per_s": slices / seconds if seconds else None,
        "epochs": per_epoch,
    }


def run_mode(plan, mode: str, epochs: int, tmp: Path) -> dict:
    from medviewer.ai.train import BatchProgress, EpochResult, TrainOptions, finetune_iter
    from medviewer.jobs import run_job

    registry = _registry(tmp / mode)
    stamps, epochs_seen = [], []

    def on_progress(step):
        if isinstance(step.detail, BatchProgress):
            stamps.append((time.perf_counter(), step.detail))
        elif isinstance(step.detail, EpochResult):
            epochs_seen.append(step.detail)
            log(step.message)

    opts = TrainOptions(
        mode=mode, epochs=epochs, lr=1e-2, batch_size=BATCH, early_stopping=0, head_epochs=1
    )
    t0 = time.perf_counter()
    res = run_job(finetune_iter(plan, opts, registry=registry), on_progress)
    wall = time.perf_counter() - t0
    thr = _throughput(stamps)
    return {
        "mode": mode,
        "epochs": epochs,
        "train_slices": len(plan.train),
        "val_slices": len(plan.val),
        "batch_size": BATCH,
        "wall_s": wall,
        "slices_per_s": thr["slices_per_s"],
        "per_epoch": thr["epochs"],
        "epoch_seconds_with_validation": [e.seconds for e in epochs_seen],
        "new_version": res.entry.ref,
        "base_macro_f1": res.base_metrics["macro_f1"],
        "new_macro_f1": res.new_metrics["macro_f1"],
    }


class Anchor:
    """The plain loop of the same module; measured in rounds between the fine-tuning runs so
    that drifts of a shared machine hit both alike."""

    def __init__(self) -> None:
        import copy

        import torch

        from medviewer.ai.package import load_package
        from medviewer.ai.train import grow_head

        model = load_package(ROOT / "models" / "headct-lesions" / "2.0.0")
        self.net = copy.deepcopy(model.module)
        grow_head(self.net, 3, 4)
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(BATCH, 3, 256, 256, generator=g)
        self.y = torch.randint(0, 4, (BATCH,), generator=g)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-4)
        self.times: dict[str, list[float]] = {"anchor_full": [], "anchor_forward": []}
        self._full()  # warm-up
        self._forward()

    def _full(self) -> None:
        import torch.nn.functional as F  # noqa: N812

        self.net.train()
        self.opt.zero_grad(set_to_none=True)
        F.cross_entropy(self.net(self.x), self.y).backward()
        self.opt.step()

    def _forward(self) -> None:  # eval mode, as a probe runs its frozen backbone
        import torch

        self.net.eval()
        with torch.no_grad():
            self.net(self.x)

    def round(self, repeats: int) -> None:
        for name, fn in (("anchor_full", self._full), ("anchor_forward", self._forward)):
            for _ in range(repeats):
                t = time.perf_counter()
                fn()
                self.times[name].append(time.perf_counter() - t)
            log(f"{name}: {BATCH / statistics.median(self.times[name][-repeats:]):.1f} slices/s")

    def result(self) -> dict:
        out = {}
        for name, times in self.times.items():
            med = statistics.median(times)
            out[name] = {"batch_s_median": med, "slices_per_s": BATCH / med, "repeats": times}
        return out


def run_200x5(tmp: Path) -> dict:
    from medviewer.ai.datasets import prepare_iter
    from medviewer.ai.train import TrainOptions, finetune_iter
    from medviewer.jobs import run_job

    log("writing / reusing 4 copies of the sample study")
    series = _copies(4)
    store = tmp / "labels200.sqlite"
    n = _label(store, series, lambda k: k % 2 == 0 and k < 100)
    registry = _registry(tmp / "200x5")
    t0 = time.perf_counter()
    plan = run_job(prepare_iter(store, BASE, add_classes=True, registry=registry))
    t1 = time.perf_counter()
    opts = TrainOptions(mode="full", epochs=5, lr=1e-3, batch_size=BATCH, early_stopping=0)
    res = run_job(
        finetune_iter(plan, opts, registry=registry),
        lambda s: log(s.message) if "batch" not in s.message else None,
    )
    t2 = time.perf_counter()
    return {
        "labeled_slices": n,
        "train_slices": len(plan.train),
        "val_slices": len(plan.val),
        "patients": plan.patients,
        "epochs": 5,
        "prepare_s": t1 - t0,
        "finetune_s": t2 - t1,
        "total_s": t2 - t0,
        "minutes": (t2 - t0) / 60.0,
        "new_version": res.entry.ref,
        "base_macro_f1": res.base_metrics["macro_f1"],
        "new_macro_f1": res.new_metrics["macro_f1"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--epochs", type=int, default=None)
    args = ap.parse_args(argv)
    import torch

    from medviewer.ai.datasets import SplitOptions, prepare_iter
    from medviewer.dicom import scan
    from medviewer.jobs import run_job
    from medviewer.resources import sample_study_dir

    epochs = args.epochs or (2 if args.quick else 3)
    tmp = Path(tempfile.mkdtemp(prefix="mv-finetune-bench-"))
    try:
        (study,) = scan([sample_study_dir()]).studies
        store = tmp / "labels.sqlite"
        _label(store, [study.series[0]], lambda k: True)
        plan = run_job(
            prepare_iter(
                store,
                BASE,
                split=SplitOptions(allow_single_patient=True),
                add_classes=True,
                registry=_registry(tmp / "prep"),
            )
        )
        log(f"sample study: {len(plan.train)} training, {len(plan.val)} validation slices")
        reps = 3 if args.quick else 5
        bench = Anchor()
        bench.round(reps)
        modes = {}
        for mode in ("probe", "full"):
            log(f"fine-tuning ({mode}, {epochs} epochs)")
            modes[mode] = run_mode(plan, mode, epochs, tmp)
            log(f"{mode}: {modes[mode]['slices_per_s']:.1f} training slices/s")
            bench.round(reps)
        anchors = bench.result()
        big = None if args.quick else run_200x5(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    full_sps = modes["full"]["slices_per_s"]
    probe_sps = modes["probe"]["slices_per_s"]
    all_train_min = 200 * 5 / full_sps / 60.0
    summary = {
        "probe_slices_per_s": probe_sps,
        "full_slices_per_s": full_sps,
        "anchor_full_slices_per_s": anchors["anchor_full"]["slices_per_s"],
        "anchor_forward_slices_per_s": anchors["anchor_forward"]["slices_per_s"],
        "full_over_anchor": full_sps / anchors["anchor_full"]["slices_per_s"],
        "probe_over_anchor_forward": probe_sps / anchors["anchor_forward"]["slices_per_s"],
        "minutes_200x5_full": big["minutes"] if big else all_train_min,
        "minutes_200x5_full_how": (
            "measured: prepare + finetune of 200 labeled slices (150 train / 50 val), 5 epochs"
            if big
            else "projected: 1000 slices at full_slices_per_s (--quick)"
        ),
        "minutes_200x5_full_all_train": all_train_min,
        "target": f"200 labeled slices x 5 epochs full fine-tune < {TARGET_MINUTES:g} min",
    }
    summary["target_met"] = bool(
        summary["minutes_200x5_full"] < TARGET_MINUTES and all_train_min < TARGET_MINUTES
    )
    result = {
        "benchmark": "finetune",
        "description": __doc__.split("\n\n")[0],
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
        },
        "config": {"base": BASE, "batch_size": BATCH, "epochs": epochs, "quick": args.quick},
        "anchor": anchors,
        "modes": modes,
        "run_200x5_full": big,
        "summary": summary,
    }
    name = "finetune.quick.json" if args.quick else "finetune.json"
    out = ROOT / "benchmarks" / "results" / name
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {out}")
    af, fw = summary["anchor_full_slices_per_s"], summary["anchor_forward_slices_per_s"]
    verdict = "met" if summary["target_met"] else "NOT met"
    rows = [
        "| measure | slices/s | over anchor |",
        "|---|---:|---:|",
        f"| anchor: forward + backward + AdamW, batch {BATCH} | {af:.1f} | 1.00 |",
        f"| anchor: forward only, batch {BATCH} | {fw:.1f} | 1.00 |",
        f"| full fine-tune (training batches) | {full_sps:.1f} | "
        f"{summary['full_over_anchor']:.2f} |",
        f"| linear probe (training batches) | {probe_sps:.1f} | "
        f"{summary['probe_over_anchor_forward']:.2f} (of forward) |",
        "",
        f"200 labeled slices x 5 epochs, full: {summary['minutes_200x5_full']:.2f} min "
        f"({summary['minutes_200x5_full_how']}); all 200 training: {all_train_min:.2f} min; "
        f"target < {TARGET_MINUTES:g} min: {verdict}",
    ]
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
