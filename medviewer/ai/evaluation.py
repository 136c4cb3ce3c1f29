"""Classifier metrics in plain numpy: AUC, F1, confusion, calibration, pointing game.

Used by the bundled model's evaluation (``models/train_bundled.py``) and by fine-tuning to
report the same numbers the same way. ``probs`` are (n, classes) rows summing to 1, ``labels``
integer class indices.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.stats import rankdata


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); NaN with one class."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auc_ovr(probs: np.ndarray, labels: np.ndarray, classes) -> dict[str, float]:
    """One-vs-rest AUC per class and their mean as ``"macro"``."""
    out = {c: auc(probs[:, i], labels == i) for i, c in enumerate(classes)}
    out["macro"] = float(np.nanmean(list(out.values())))
    return out


def confusion(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(labels), np.asarray(predicted)), 1)
    return m


def f1_scores(cm: np.ndarray, classes) -> dict[str, float]:
    """F1 per class and their mean as ``"macro"``, from a confusion matrix."""
    out = {}
    for i, c in enumerate(classes):
        tp = cm[i, i]
        denom = cm[i, :].sum() + cm[:, i].sum()
        out[c] = float(2.0 * tp / denom) if denom else float("nan")
    out["macro"] = float(np.nanmean(list(out.values())))
    return out


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence, equal-width bins."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(conf[inside].mean() - correct[inside].mean())
    return float(total)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    p = softmax(logits, temperature)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, 1.0))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood (golden-section on log T)."""
    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(logits, labels, np.exp(a)), nll(logits, labels, np.exp(b))
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(logits, labels, np.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(logits, labels, np.exp(b))
    return float(np.exp((lo + hi) / 2.0))


def classification_report(probs: np.ndarray, labels: np.ndarray, classes) -> dict:
    """AUC (per class, macro), F1, confusion, ECE and the false-positive rate on normals.

    The false-positive rate is the fraction of class-0 (normal) samples given another class.
    """
    predicted = probs.argmax(axis=1)
    cm = confusion(labels, predicted, len(classes))
    normal = labels == 0
    return {
        "n": int(len(labels)),
        "auc": auc_ovr(probs, labels, classes),
        "f1": f1_scores(cm, classes),
        "accuracy": float((predicted == labels).mean()),
        "confusion": {"rows_true_cols_predicted": list(classes), "matrix": cm.tolist()},
        "ece": ece(probs, labels),
        "false_positive_rate_normal": float((predicted[normal] != 0).mean())
        if normal.any()
        else float("nan"),
    }


def pointing_hit(heat: np.ndarray, mask: np.ndarray, spacing_yx, margin_mm: float = 5.0) -> bool:
    """True when the maximum of ``heat`` lies in ``mask`` dilated by ``margin_mm``.

    Ties (a flat plateau at the maximum) count by the plateau's first pixel in C order.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("pointing game needs a lesion mask with at least one pixel")
    distance = ndi.distance_transform_edt(~mask, sampling=tuple(float(s) for s in spacing_yx))
    r, c = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return bool(distance[r, c] <= margin_mm)
