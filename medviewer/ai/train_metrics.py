"""Metrics of a fine-tuning run: the METRICS dict of the base model and of the new one on the
SAME validation slices (the base model padded with zero probability for classes it lacks; the
new one's temperature fitted on those slices), and the per-epoch monitor value."""

from __future__ import annotations

import math

import numpy as np

from medviewer.ai import evaluation as ev

RELIABILITY_BINS = 10


def _num(v) -> float | None:
    v = float(v)
    return None if not math.isfinite(v) else v


def _reliability(probs: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS) -> dict:
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = {"confidence": [], "accuracy": [], "count": []}
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        n = int(inside.sum())
        out["count"].append(n)
        out["confidence"].append(float(conf[inside].mean()) if n else None)
        out["accuracy"].append(float(correct[inside].mean()) if n else None)
    return out


def metrics_report(
    probs: np.ndarray,
    labels: np.ndarray,
    classes,
    *,
    probs_unscaled: np.ndarray | None = None,
    temperature: float = 1.0,
    cases: list[str] | None = None,
) -> dict:
    """The METRICS dict: accuracy, macro F1 / AUC (over the classes present in ``labels``),
    ECE before and after temperature scaling, per-class precision / recall / F1 / AUC /
    support, confusion (rows true), reliability bins."""
    classes = list(classes)
    labels = np.asarray(labels, dtype=np.int64)
    pred = probs.argmax(axis=1)
    cm = ev.confusion(labels, pred, len(classes))
    per_class = {}
    f1s, aucs = [], []
    for i, c in enumerate(classes):
        tp = int(cm[i, i])
        support = int(cm[i, :].sum())
        predicted = int(cm[:, i].sum())
        precision = tp / predicted if predicted else float("nan")
        recall = tp / support if support else float("nan")
        denom = support + predicted
        f1 = 2.0 * tp / denom if denom else float("nan")
        a = ev.auc(probs[:, i], labels == i)
        per_class[c] = {
            "precision": _num(precision),
            "recall": _num(recall),
            "f1": _num(f1),
            "auc": _num(a),
            "support": support,
        }
        if support:
            f1s.append(f1)
            if math.isfinite(a):
                aucs.append(a)
    unscaled = probs if probs_unscaled is None else probs_unscaled
    out = {
        "n": int(len(labels)),
        "classes": classes,
        "accuracy": _num((pred == labels).mean()) if len(labels) else None,
        "macro_f1": _num(np.mean(f1s)) if f1s else None,
        "macro_auc": _num(np.mean(aucs)) if aucs else None,
        "ece": _num(ev.ece(probs, labels)),
        "ece_before_scaling": _num(ev.ece(unscaled, labels)),
        "temperature": float(temperature),
        "per_class": per_class,
        "confusion": cm.tolist(),
        "reliability": _reliability(probs, labels),
    }
    if cases is not None:
        out["cases"] = list(cases)
    return out


def monitor_value(monitor: str, logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(value, val_loss) of one epoch; ``value`` is oriented so that higher is better."""
    val_loss = ev.nll(logits, labels) if len(labels) else float("nan")
    if monitor == "val_loss":
        return -val_loss, val_loss
    probs = ev.softmax(logits)
    rep = metrics_report(probs, labels, list(range(logits.shape[1])))
    v = rep["accuracy" if monitor == "accuracy" else monitor]
    return (float("-inf") if v is None else float(v)), val_loss


def score_base(logits: np.ndarray, base_entry, plan, labels: np.ndarray, cases) -> dict:
    """The base model's metrics on the validation slices, at its card's temperature; a class
    it does not know gets probability 0 (with a note saying so)."""
    n_added = len(plan.classes) - len(base_entry.manifest.classes)
    t_base = base_entry.manifest.temperature
    pb = ev.softmax(logits, t_base)
    pb1 = ev.softmax(logits)
    if n_added:
        pad = np.zeros((len(pb), n_added))
        pb, pb1 = np.hstack([pb, pad]), np.hstack([pb1, pad])
    out = metrics_report(
        pb, labels, plan.classes, probs_unscaled=pb1, temperature=t_base, cases=cases
    )
    if n_added:
        out["note"] = (
            f"{base_entry.ref} has no output for {', '.join(plan.added_classes)}: its "
            "probability for them is 0, so it can never predict them"
        )
    return out


def score_new(logits: np.ndarray, labels: np.ndarray, classes, cases) -> tuple[float, dict]:
    """(temperature fitted on the validation slices, the new model's metrics there)."""
    temperature = float(min(20.0, max(0.05, ev.fit_temperature(logits, labels))))
    metrics = metrics_report(
        ev.softmax(logits, temperature),
        labels,
        classes,
        probs_unscaled=ev.softmax(logits),
        temperature=temperature,
        cases=cases,
    )
    return temperature, metrics
