"""Cohen's kappa against scikit-learn, agreement between annotators, adjudication."""

import math
import random

import pytest
from sklearn.metrics import cohen_kappa_score

from medviewer.errors import LabelStoreError
from medviewer.labels.agreement import CONSENSUS, adjudicate, agreement, cohen_kappa

CLASSES = ["normal", "hyperdense_lesion", "hypodense_lesion", "uncertain", "exclude"]


@pytest.mark.parametrize("seed", range(8))
def test_kappa_matches_sklearn(seed):
    rng = random.Random(seed)
    n = rng.randint(5, 200)
    a = [rng.choice(CLASSES[: rng.randint(2, 5)]) for _ in range(n)]
    b = [x if rng.random() < 0.7 else rng.choice(CLASSES) for x in a]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_kappa_edge_cases():
    assert cohen_kappa(["normal"] * 4, ["normal"] * 4) == 1.0
    assert math.isnan(cohen_kappa([], []))
    assert cohen_kappa(["a", "b"], ["b", "a"]) == pytest.approx(-1.0)
    assert cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == 1.0
    with pytest.raises(ValueError, match="paired"):
        cohen_kappa(["a"], [])


def test_agreement_and_adjudication(store, keys):
    for k, (la, lb) in zip(
        keys,
        [("normal", "normal"), ("normal", "uncertain"), ("exclude", "exclude"),
         ("hyperdense_lesion", "normal"), ("normal", "normal")],
    ):  # fmt: skip
        store.set_label(k, la, annotator="alice")
        store.set_label(k, lb, annotator="bob")
    store.set_label(keys[5], "normal", annotator="alice")  # only alice
    store.set_label(keys[6], "exclude", annotator="alice")  # another series
    store.set_label(keys[6], "normal", annotator="bob")
    result = agreement(store, "alice", "bob", series_uid=keys[0].series_uid)
    a = ["normal", "normal", "exclude", "hyperdense_lesion", "normal"]
    b = ["normal", "uncertain", "exclude", "normal", "normal"]
    assert result.n_common == 5 and result.observed == pytest.approx(0.6)
    assert result.kappa == pytest.approx(cohen_kappa_score(a, b))
    assert result.disagreements == [
        (keys[1], "normal", "uncertain"),
        (keys[3], "hyperdense_lesion", "normal"),
    ]
    everywhere = agreement(store, "alice", "bob")
    assert everywhere.n_common == 6 and len(everywhere.disagreements) == 3
    none = agreement(store, "alice", "nobody")
    assert none.n_common == 0 and math.isnan(none.kappa) and math.isnan(none.observed)
    with pytest.raises(LabelStoreError, match="two different annotators"):
        agreement(store, "alice", "alice")

    ann = adjudicate(store, keys[1], "uncertain", adjudicator="rita")
    assert ann.annotator == CONSENSUS and ann.label == "uncertain"
    assert ann.comment == "adjudicated by rita (alice: normal, bob: uncertain)"
    assert store.current(keys[1], annotator="alice").label == "normal"  # originals kept
    assert store.current(keys[1], annotator="bob").label == "uncertain"
    with pytest.raises(LabelStoreError, match="annotator name"):
        adjudicate(store, keys[3], "normal", adjudicator=" ")
