"""The bundled model's MODEL_CARD.md, written from its measured metrics (no hand-copied numbers)."""

from __future__ import annotations

import json
from pathlib import Path


def _pct(v: float) -> str:
    return f"{100.0 * v:.1f} %"


def _confusion(block: dict) -> str:
    names = block["confusion"]["rows_true_cols_predicted"]
    rows = ["| true \\ predicted | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name, row in zip(names, block["confusion"]["matrix"]):
        rows.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(rows)


def _pointing_by_class(block: dict) -> str:
    parts = []
    for method, label in (("gradcam", "Grad-CAM"), ("attention", "attention")):
        by = block["pointing_game"][method].get("by_class", {})
        if by:
            parts.append(label + ": " + ", ".join(f"{k} {_pct(v)}" for k, v in by.items()))
        else:
            return ""
    return "By lesion class (held-out test): " + "; ".join(parts) + "."


def _class_recall(block: dict) -> str:
    """One bullet per lesion class: how often the model names it, and what it says instead."""
    names = block["confusion"]["rows_true_cols_predicted"]
    matrix = block["confusion"]["matrix"]
    lines = []
    for i, name in enumerate(names):
        if name == "normal":
            continue
        total = sum(matrix[i]) or 1
        recall = matrix[i][i] / total
        as_normal = matrix[i][names.index("normal")] / total if "normal" in names else 0.0
        if recall < 0.8:
            lines.append(
                f"- **{name} is mostly missed**: {_pct(recall)} of held-out {name} slices are "
                f"called {name}, {_pct(as_normal)} are called normal (AUC "
                f"{block['auc'][name]:.3f}: its probability still ranks them above normal "
                f"slices, but rarely wins). A `normal` result is no evidence against such a "
                f"lesion."
            )
        else:
            lines.append(f"- {name}: {_pct(recall)} of held-out {name} slices are found.")
    return "\n".join(lines)


def _training_summary(out: Path) -> dict:
    path = out / "training_log.jsonl"
    if not path.is_file():
        return {}
    lines = [json.loads(s) for s in path.read_text().splitlines() if s.strip()]
    done = [e for e in lines if e.get("event") == "done"]
    return {"epochs": [e for e in lines if "epoch" in e], "done": done[-1] if done else {}}


def render_card(result: dict, manifest, out: Path) -> str:
    t, s = result["test"], result["shifted"]
    train = _training_summary(out)
    done = train.get("done", {})
    epochs = train.get("epochs", [])
    target_rows = "\n".join(
        f"| {label} | {v['value']:.3f} | {'<=' if 'ECE' in label else '>='} {v['target']:.2f} | "
        f"{'met' if v['met'] else '**missed**'} |"
        for label, v in result["targets"].items()
    )
    missed = [label for label, v in result["targets"].items() if not v["met"]]
    missed_text = (
        "All targets set for this model are met."
        if not missed
        else "**Targets missed:** "
        + "; ".join(f"{m} = {result['targets'][m]['value']:.3f}" for m in missed)
        + ". The numbers are reported as measured; see the failure modes below."
    )
    c, w = zip(*manifest.preprocessing.windows)
    return f"""# {manifest.name} {manifest.version} — head CT focal lesion classifier (demonstration)

> **Research and demonstration use only. Not for diagnosis.** This model has never seen real
> pathology: it was trained on synthetic lesions placed into a single real head CT.

## Intended use
- Show, out of the box and offline, how medviewer runs a classifier slice by slice, aggregates
  a series result and explains it with Grad-CAM and attention maps.
- A starting point for fine-tuning on your own labelled head CT (see the last section); a
  fine-tuned model is saved as a new version and this one stays untouched.
- **Not** for clinical decisions, triage, or as evidence of any finding in a real patient.

## Task
Per-slice classification of axial head CT into `normal`, `hyperdense_lesion` (blood-like,
+25 to +60 HU above the local parenchyma) and `hypodense_lesion` (oedema/infarct-like, -8 to
-25 HU). A slice holding both kinds counts as the kind of its larger lesion cut. Slices without
brain (vertex, skull base) are `normal`. The series result (`abnormal_max`) gives each lesion
class its highest slice probability and `normal` its lowest: a series is normal only if every
slice is.

## Training data and licence
- Anatomy: the InVesalius example head CT "Cranium" (Debian `invesalius-examples`, GPL-2;
  108 axial slices, 256 x 256, 0.957 x 0.957 x 1.5 mm), the same images as medviewer's sample
  study. One adult head; no patient information. Because the weights derive from GPL-2 data
  they are distributed under {manifest.licence}.
- Lesions: synthetic, from `medviewer/ai/lesions.py`. 6-30 mm across (log-uniform), ellipsoids
  bent into lobulated/irregular blobs, soft edges, texture on the lesion's own 3D grid so
  neighbouring slices agree; placed only in parenchyma (never bone, air or ventricles); 1-3
  per slice, sometimes with a small one of the other kind. The ground-truth masks are kept.
- Split by slice position, never by sample: train slices 0-23, 47-61, 85-107; validation
  27-31, 65-69; test 35-43, 73-81 (4.5 mm gaps). Every training sample is drawn fresh and
  augmented (left-right flip, rotation +-12 deg, scale 0.9-1.1, shift +-10 px, HU offset
  +-6, added noise up to 3 HU).
- Second test set ("shifted"): the same test slices with lesions from a *different* generator
  (unions of 2-5 Gaussian metaballs, a different edge profile, coarse mottled texture and a
  density gradient) never used in training — to check the model learned lesions, not one
  generator's look.

## Preprocessing
Three CT windows as channels, each mapped to 0..1 (centre/width in HU): brain {c[0]:g}/{w[0]:g},
subdural {c[1]:g}/{w[1]:g}, stroke {c[2]:g}/{w[2]:g}; the slice resized (bilinear) to 256 x 256.
Why these: the brain window is the reading standard for parenchyma; the narrow stroke window
doubles the contrast of subtle hypodensities (-8 HU is a tenth of the brain window but a fifth
of the stroke window); the subdural window keeps blood-like densities (up to ~100 HU) below
saturation and separates them from bone, which saturates. A bone window was left out: every
lesion of this task lies in parenchyma, and it would spend a channel on the skull.

## Model
`cbam_resnet`: a compact ResNet (stem to stride 4, three stages of two basic blocks, widths
48/96/128, final stride 8 so maps are 32 x 32) with CBAM channel + spatial attention in the
two deeper stages, global average pooling and a linear head; ~1 M parameters,
{(out / manifest.weights_file).stat().st_size / 1e6 if (out / manifest.weights_file).exists() else 0:.1f} MB
of safetensors. Grad-CAM uses `stage3`; the attention overlay is the spatial gate of the last
block (`stage3.1.spatial.map`). Calibration: temperature scaling fitted on the validation set,
T = {result["temperature"]:.3f} (logits are divided by T before the softmax).

## Training
Plain cross-entropy (classes are drawn equally often). A run with class weights
1.0 / 0.6 / 1.4 favouring the hard hypodense class raised macro AUC to 0.90 but called 75 %
of normal slices hypodense and its Grad-CAM maps no longer pointed at lesions, so it was
discarded. AdamW
(lr 2e-3, weight decay 1e-4), one-cycle schedule, batch 32, {len(epochs)} epochs of fresh
samples; the epoch with the lowest validation loss was kept (epoch {done.get("best_epoch", "?")}).
Seed {done.get("seed", "?")}; {done.get("minutes", "?")} minutes on {done.get("machine", "?")}
with {done.get("threads", "?")} threads. Reproduce with `make train-model` (same seed, same
data); re-measure with `make eval-model`. The log is `training_log.jsonl`.

## Evaluation (test slices only; temperature scaling applied)
{missed_text}

| target | value | required | |
|---|---|---|---|
{target_rows}

| | held-out test ({t["n"]} slices) | shifted generator ({s["n"]} slices) |
|---|---|---|
| AUC normal (one-vs-rest) | {t["auc"]["normal"]:.4f} | {s["auc"]["normal"]:.4f} |
| AUC hyperdense_lesion | {t["auc"]["hyperdense_lesion"]:.4f} | {s["auc"]["hyperdense_lesion"]:.4f} |
| AUC hypodense_lesion | {t["auc"]["hypodense_lesion"]:.4f} | {s["auc"]["hypodense_lesion"]:.4f} |
| **macro AUC** | **{t["auc"]["macro"]:.4f}** | **{s["auc"]["macro"]:.4f}** |
| macro F1 | {t["f1"]["macro"]:.4f} | {s["f1"]["macro"]:.4f} |
| accuracy | {_pct(t["accuracy"])} | {_pct(s["accuracy"])} |
| ECE before scaling | {t["ece_before_scaling"]:.4f} | {s["ece_before_scaling"]:.4f} |
| ECE after scaling | {t["ece"]:.4f} | {s["ece"]:.4f} |
| false positives on lesion-free slices | {_pct(t["false_positive_rate_normal"])} | {_pct(s["false_positive_rate_normal"])} |
| Grad-CAM pointing game | {_pct(t["pointing_game"]["gradcam"]["hit_rate"])} (n={t["pointing_game"]["gradcam"]["n"]}) | {_pct(s["pointing_game"]["gradcam"]["hit_rate"])} (n={s["pointing_game"]["gradcam"]["n"]}) |
| attention pointing game | {_pct(t["pointing_game"]["attention"]["hit_rate"])} (n={t["pointing_game"]["attention"]["n"]}) | {_pct(s["pointing_game"]["attention"]["hit_rate"])} (n={s["pointing_game"]["attention"]["n"]}) |

Pointing game: on lesion slices, the fraction whose map maximum (for the true class) lies in
the lesion mask dilated by 5 mm. ECE: 15 equal-width confidence bins.
{_pointing_by_class(t)}

Confusion, held-out test (rows: truth):

{_confusion(t)}

Confusion, shifted generator:

{_confusion(s)}

## Known limits and failure modes
{_class_recall(t)}
- One head. Anatomy, scanner, reconstruction kernel and noise come from a single CT; other
  scanners, slice thicknesses, children, post-operative heads, motion or metal artefacts are
  outside what it has seen.
- Synthetic lesions only: no mass effect, no midline shift, no subdural/epidural or
  subarachnoid blood, no calcifications, no chronic infarcts with volume loss. Real findings
  that look different from a focal blob may be missed or misnamed.
- Small and faint lesions (under ~8 mm, or hypodense by under ~10 HU) are the most often
  missed. A slice whose largest lesion cut is smaller than a 6 mm disc (the tip of a lesion)
  has an ambiguous label; such slices are left out of training and evaluation, and the model
  may call them either way.
- Lesions touching the skull or ventricles are cut back to the parenchyma here; real
  extra-axial collections are a different task.
- Out of scope input (MR, ultrasound, CT of other body parts, non-axial reformats) gives
  meaningless results; medviewer warns (modality, BodyPartExamined, an intensity check) but
  lets you run it.

## How to fine-tune it
The intended path is medviewer's own: label slices of your studies in the Labeling panel
(`normal`, `hyperdense_lesion`, `hypodense_lesion`) and fine-tune from this package in the
Fine-tune dialog, which validates and saves a new version beside this one (this package is
never modified). Those two features are the next to be built; until they land, the recipe is
`models/train_bundled.py` (data, model, loss, schedule, calibration, evaluation) — start from
these weights with a lower learning rate (e.g. 2e-4) and keep a validation split of your own.
"""
