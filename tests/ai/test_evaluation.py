"""Metrics of the bundled model's evaluation, checked against known answers and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from medviewer.ai import evaluation as ev


def test_auc_known_cases_and_agrees_with_sklearn():
    assert ev.auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert ev.auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert ev.auc([0.5, 0.5], [0, 1]) == 0.5  # a tie counts half
    assert np.isnan(ev.auc([0.1, 0.2], [1, 1]))
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    s = rng.normal(size=400) + y * 0.8
    s[:50] = np.round(s[:50], 1)  # some ties
    assert ev.auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_confusion_f1_and_report():
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.8 + 0.2 / 3
    cm = ev.confusion(labels, probs.argmax(1), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    f1 = ev.f1_scores(cm, ("a", "b", "c"))
    assert f1["b"] == pytest.approx(2 * 2 / (2 + 3))
    report = ev.classification_report(probs, labels, ("a", "b", "c"))
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["false_positive_rate_normal"] == 0.5
    assert report["confusion"]["matrix"] == cm.tolist()


def test_ece_small_when_calibrated_large_when_overconfident():
    rng = np.random.default_rng(1)
    n = 20000
    conf = rng.uniform(0.5, 1.0, n)
    correct = rng.random(n) < conf
    labels = np.where(correct, 0, 1)
    probs = np.stack([conf, 1 - conf], axis=1)
    assert ev.ece(probs, labels) < 0.02
    sharp = np.stack([np.full(n, 0.99), np.full(n, 0.01)], axis=1)
    assert ev.ece(sharp, labels) > 0.2


def test_fit_temperature_recovers_the_scale_of_overconfident_logits():
    rng = np.random.default_rng(2)
    true_logits = rng.normal(size=(6000, 3)) * 2.0
    p = ev.softmax(true_logits)
    labels = np.array([rng.choice(3, p=row) for row in p])
    t = ev.fit_temperature(true_logits * 3.0, labels)  # 3x too confident
    assert t == pytest.approx(3.0, rel=0.1)
    assert ev.nll(true_logits * 3.0, labels, t) < ev.nll(true_logits * 3.0, labels)


def test_pointing_game_margin_in_mm():
    mask = np.zeros((64, 64), bool)
    mask[30:34, 30:34] = True
    heat = np.zeros((64, 64), np.float32)
    heat[31, 31] = 1.0
    assert ev.pointing_hit(heat, mask, (1.0, 1.0))
    heat[:] = 0
    heat[31, 38] = 1.0  # 5 px right of the mask at 1 mm pixels: on the 5 mm margin
    assert ev.pointing_hit(heat, mask, (1.0, 1.0))
    assert not ev.pointing_hit(heat, mask, (2.0, 2.0))  # 10 mm away at 2 mm pixels
    with pytest.raises(ValueError, match="lesion mask"):
        ev.pointing_hit(heat, np.zeros_like(mask), (1.0, 1.0))
