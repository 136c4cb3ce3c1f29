"""The bundled model's training recipe (``models/``): splits that never share a slice, the
operating point chosen on validation, and map targets from lesion masks. Nothing trains here."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models"))

import bundled_sets as S  # noqa: E402
import train_bundled as T  # noqa: E402

from medviewer.ai import lesions as L  # noqa: E402


def test_splits_are_disjoint_with_gaps_and_inside_version_1s_held_out_slices():
    parts = {name: set(S.split_slices(name)) for name in S.SPLITS}
    assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"]
    assert not parts["val"] & parts["test"]
    held_out = parts["val"] | parts["test"]
    for k in held_out:  # two unused slices between a held-out slice and any training slice
        assert min(abs(k - t) for t in parts["train"]) >= 3, k
    # 1.0.0 never trained on them either, so both are compared on slices neither has seen
    assert parts["test"] <= set(L.split_slices("test"))
    assert parts["val"] <= set(L.split_slices("val"))


def test_map_targets_mark_the_cells_a_lesion_touches():
    masks = np.zeros((1, 256, 256), np.uint8)
    masks[0, 10:12, 17:30] = 2  # cells (1, 2) and (1, 3)
    masks[0, 200, 200] = 1  # cell (25, 25)
    t = S.map_targets(masks, 3)
    assert t.shape == (1, 3, 32, 32)
    assert t[0, 0].sum() == 0
    assert np.argwhere(t[0, 2]).tolist() == [[1, 2], [1, 3]]
    assert np.argwhere(t[0, 1]).tolist() == [[25, 25]]


def test_the_operating_point_keeps_validation_false_positives_under_the_limit():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 100)
    logits = rng.normal(0, 1, (300, 3))
    logits[labels == 1, 1] += 6.0
    logits[labels == 2, 2] += 1.5
    logits[:, 2] += 1.0  # a model too eager to call hypodense
    before = (logits.argmax(1)[labels == 0] != 0).mean()
    offsets = T.operating_point(logits, labels, 0.05)
    after = (logits + offsets).argmax(1)
    assert offsets[0] == 0.0 and offsets[2] < 0
    assert before > 0.3 and (after[labels == 0] != 0).mean() <= 0.05
    assert (after[labels == 1] == 1).mean() > 0.8


def test_eval_model_measures_a_copy_and_writes_every_number_the_card_needs(tmp_path):
    """``make eval-model``'s code on a copy of the committed package, with tiny sets."""
    import argparse
    import json
    import shutil

    import bundled_eval as E

    folder = tmp_path / "2.0.0"
    shutil.copytree(S.OUT, folder)
    args = argparse.Namespace(
        out=str(folder), seed=S.SEED, threads=2, test_per_class=2, robust_per_family=1
    )
    result = E.evaluate(args)
    written = json.loads((folder / "metrics.json").read_text())
    assert (
        written["sha256"]
        == result["sha256"]
        == json.loads((S.OUT / "manifest.json").read_text())["weights"]["sha256"]
    )
    assert set(written["targets"]) == set(E.TARGETS)
    assert written["test"]["n"] == 6 and written["robustness"]["n"] == len(S.ROBUSTNESS_FAMILIES)
    assert set(written["edge_cases"]) == {"all air", "all bone", "all water"}
    assert written["previous"]["model"] == "headct-lesions:1.0.0"
    card = (folder / "MODEL_CARD.md").read_text()
    for label in E.TARGETS:
        assert label in card
    assert "## What the model still misses" in card and "Not for diagnosis" in card
    assert set(written["test"]["by_position"]) == {str(k) for k in set(_test_positions())}
    assert "### By slice position (held-out test)" in card
    assert "- Where the misses lie. The test's" in card
    assert written["test"]["distinct_normal_images"] == len(set(_test_positions()[0::3]))
    # the host CT's own lesion, as scanned: every slice through it, by split, on the card
    host = written["host_lesion"]
    assert [r["slice"] for r in host["slices"]] == list(range(55, 83))
    assert {r["split"] for r in host["slices"]} == {"train", "val", "test", "buffer"}
    assert sum(v["n"] for v in host["by_split"].values()) == host["n"] == 28
    assert host["test_levels_as_scanned"]["with_the_lesion"] == list(range(74, 81))
    assert host["test_levels_as_scanned"]["without"] == list(range(36, 43))
    assert "### The host CT's own lesion, as scanned (real pathology)" in card
    assert "| 75 | test |" in card
    # the committed package itself is untouched
    assert json.loads((S.OUT / "metrics.json").read_text())["test"]["n"] == 900


def _test_positions():
    """The test slice positions the tiny evaluation drew (from the seed, as evaluate does)."""
    return S.fixed_set(S.load_anatomy(), "test", 2, "train", S.SEED + 2).slices.tolist()


def test_false_alarms_by_slice_position_name_the_levels_they_gather_at():
    import bundled_eval as E
    import card

    n = 8
    fixed = S.FixedSet(
        x=np.zeros((n, 3, 4, 4), np.float16),
        y=np.array([0, 0, 0, 0, 2, 2, 0, 1]),
        masks=np.zeros((n, 4, 4), np.uint8),
        slices=np.array([40, 40, 40, 36, 36, 40, 37, 37]),
        hus=[],
        detect={},
    )
    predicted = np.array([2, 2, 0, 0, 2, 0, 1, 1])
    per = E.by_position(predicted, fixed)
    assert per["40"]["normal_n"] == 3 and per["40"]["normal_called_abnormal"] == 2 / 3
    assert per["36"]["normal_called_abnormal"] == 0.0 and per["36"]["hypodense_lesion_found"] == 1.0
    assert per["40"]["hypodense_lesion_found"] == 0.0 and per["40"]["hyperdense_lesion_n"] == 0
    assert (
        per["37"]["hyperdense_lesion_found"] == 1.0 and per["37"]["normal_called_abnormal"] == 1.0
    )
    line = card._alarm_positions({"by_position": per})
    assert "positions 37, 40: 3 of 4 called abnormal, 3 of the test's 3 false alarms" in line
    table = card._position_table({"by_position": per})
    assert "| 40 | 3 | 66.7 % | — (n=0) | 0.0 % (n=1) |" in table
    assert card._alarm_positions({"by_position": {"36": per["36"]}}) == ""


def test_the_second_head_is_ct_like_and_takes_lesions_at_every_brain_level():
    """``--second-head``: Colin27's MRI turned into HU on the CT's grid. The parenchyma finder
    made for the real CT finds its brain on most levels; grey matter is brighter than white as
    on CT, CSF darker; bone and air are where a CT has them; it is the same on every call; and
    a hypodense lesion sample drawn from it is labelled and masked like one from the CT."""
    import colin_ct

    hu, spacing = colin_ct.colin_hu()
    assert hu.shape[1:] == (256, 256) and spacing == colin_ct.SPACING
    assert np.array_equal(hu, colin_ct.colin_hu()[0])
    head = S.load_second_head()
    levels = head.brain.sum(axis=(1, 2)) * head.pixel_mm2 >= 400
    assert levels.sum() >= 60  # of 120 levels (the real CT: 87 of 108)
    brain = hu[head.brain]
    assert 24 <= float(np.median(brain)) <= 40
    assert float((hu > 700).mean()) > 0.01 and float((hu < -900).mean()) > 0.3  # bone, air
    assert 2.5 <= float(np.median(head.noise[levels])) <= 8.0  # CT-like noise in parenchyma
    rng = np.random.default_rng(0)
    x, mask, label, k = L.make_sample(rng, head, list(range(hu.shape[0])), 2)
    assert label == 2 and (mask == 2).any() and levels[k]
    assert float(x[mask == 2].mean()) < float(head.hu[k][mask == 2].mean()) - 5  # darker


def test_tilted_heads_read_only_training_slices_and_take_lesions():
    """The tilted heads (``bundled_sets.tilted_heads``) are resliced from the real CT inside
    each training slab: changing every validation, test and buffer slice changes none of the
    slices a tilted sample may be cut from (nor their neighbours, which a thick slice averages
    in), every tilt leaves slices to cut from at two or more levels of the head, and a lesion
    sample drawn from a tilted head is labelled and masked like one from the CT."""
    from scipy import ndimage as ndi

    from medviewer.ai import ct_variation as V

    anatomy = S.load_anatomy()
    train = set(S.split_slices("train"))
    slabs = [(lo, hi) for lo, hi in S.SPLITS["train"] if hi - lo + 1 >= S.TILT_MIN_SLAB]
    region = ndi.binary_dilation(anatomy.brain.any(axis=0), iterations=12)
    changed = anatomy.hu.copy()
    changed[[k for k in range(changed.shape[0]) if k not in train]] += 500.0
    for pitch, roll in S.TILTS:
        hu, allowed = V.tilted_volume(anatomy.hu, anatomy.spacing, pitch, roll, slabs, region)
        hu2, _ = V.tilted_volume(changed, anatomy.spacing, pitch, roll, slabs, region)
        used = sorted({j + d for j in allowed for d in (-1, 0, 1)})
        assert set(used) <= train, (pitch, roll)
        assert np.array_equal(hu[used], hu2[used]), (pitch, roll)
        assert not np.array_equal(hu[allowed], anatomy.hu[allowed])  # it did tilt
        levels = {next(i for i, (lo, hi) in enumerate(slabs) if lo <= j <= hi) for j in allowed}
        assert len(levels) >= 2, (pitch, roll)
    head = L.Anatomy.from_volume(hu, anatomy.spacing)  # the last tilt
    rng = np.random.default_rng(1)
    x, mask, label, k = L.make_sample(rng, head, allowed, 2)
    assert label == 2 and (mask == 2).any() and k in allowed
    assert float(x[mask == 2].mean()) < float(head.hu[k][mask == 2].mean()) - 5


def test_batches_from_two_workers_arrive_in_step_order_as_from_one():
    """``train_bundled.Batches`` shares an epoch's steps among worker processes; the loader
    must still hand the optimiser step 0, 1, 2, ... with each step's own batch, so the weights
    do not depend on the number of workers (``--workers``)."""
    anatomy = S.load_anatomy()
    pre = S.preprocessor()
    want = [S.training_batch(anatomy, pre, 7, 2, step, 2) for step in range(5)]
    for workers in (0, 2):
        got = list(T.Batches(anatomy, 7, 2, 5, workers=workers, size=2))
        assert len(got) == 5, workers
        for step, (batch, expected) in enumerate(zip(got, want)):
            for part, part_expected in zip(batch, expected):
                assert np.array_equal(part.numpy(), part_expected), (workers, step)
    assert not np.array_equal(want[0][0], want[1][0])  # steps differ: the order is checked


def test_brain_area_is_counted_once_and_matches_the_mask():
    anatomy = S.load_anatomy()
    for k in (0, 30, 60, 107):
        assert anatomy.brain_area_mm2(k) == float(anatomy.brain[k].sum()) * anatomy.pixel_mm2
    assert L.lesion_candidates(anatomy, list(range(108))) == [
        k for k in range(108) if anatomy.brain[k].sum() * anatomy.pixel_mm2 >= 400.0
    ]


def test_the_card_counts_lesions_called_the_other_class_without_a_negative_zero():
    import card

    # 300 hyperdense slices: 1 called normal, 299 found, none the other class. Subtracting the
    # two shares in floating point gave "-0.0 %" on the card.
    t = {
        "strata": {},
        "confusion": {
            "rows_true_cols_predicted": list(L.CLASSES),
            "matrix": [[280, 0, 20], [1, 299, 0], [91, 20, 189]],
        },
    }
    text = card._misses(t)
    assert (
        "0.3 % of held-out hyperdense_lesion slices are called normal and 0.0 % the other" in text
    )
    assert (
        "30.3 % of held-out hypodense_lesion slices are called normal and 6.7 % the other" in text
    )
    assert "-0.0" not in text


def test_the_hypodense_trade_off_tells_a_ranking_miss_from_an_operating_point_miss():
    import bundled_eval as E
    import card

    # 4 normal slices, 5 hypodense ones. The hypodense logit (column 2) ranks them:
    # normal 0, 1, 2, 3; hypodense -1, 1.5, 2.5, 3.5, 4.5. At the given point (argmax with a
    # normal logit of 4) one hypodense slice is found.
    y = np.array([0, 0, 0, 0, 2, 2, 2, 2, 2])
    hypo = np.array([0.0, 1.0, 2.0, 3.0, -1.0, 1.5, 2.5, 3.5, 4.5])
    logits = np.stack([np.full(9, 4.0), np.full(9, -9.0), hypo], axis=1)
    tr = E.hypodense_tradeoff(logits, y, max_fpr=0.25)
    # one normal of 4 may be called abnormal: the threshold passes between 2.0 and 3.0;
    # found: 2.5, 3.5 and 4.5 (3 of 5)
    assert tr["best_sensitivity"] == 0.6 and tr["its_false_positive_rate"] == 0.25
    # 0.80 (4 of 5) needs the threshold below 1.5: normals 2.0 and 3.0 called abnormal
    assert tr["false_positive_rate_for_sensitivity_0.80"] == 0.5
    t = {
        "hypodense_tradeoff": tr,
        "distinct_normal_images": 2,
        "confusion": {"matrix": [[4, 0, 0], [0, 0, 0], [4, 0, 1]]},
        "auc": {"hypodense_lesion": 0.85},
    }
    text = " ".join(card._where_misses(t).split())
    assert "4 normal slices are 2 distinct images" in text and "about 50 %" in text
    assert "at most 0.600 of hypodense lesion slices are found with at most 25 %" in text
    assert "finding 0.80 of them calls 50.0 % of normal slices abnormal" in text
    assert "lies in how the model ranks slices (hypodense AUC 0.850)" in text
    tr["best_sensitivity"] = 0.9
    assert "lies in where the operating point was set" in " ".join(card._where_misses(t).split())
    # the hypodense target met at the operating point: the miss is the pair of targets
    t["sensitivity"] = {"hypodense_lesion": 0.8}
    t["false_positive_rate_normal"] = 0.5
    text = " ".join(card._where_misses(t).split())
    assert "The hypodense miss" not in text
    assert "it finds 0.800 of them and calls 50.0 % of normal slices abnormal" in text
    assert "would allow: that miss lies in where the operating point was set" in text
    tr["best_sensitivity"] = 0.6
    text = " ".join(card._where_misses(t).split())
    assert "the ranking does not allow (hypodense AUC 0.850)" in text


def test_class_shares_set_how_often_each_class_is_drawn_and_bad_shares_are_refused():
    """``--class-shares``: 0.4,0.2,0.4 draws normal and hypodense slices twice as often as
    hyperdense ones; without it the classes come equally often, from the same random stream
    as before the option (the shipped weights stay reproducible)."""
    import argparse

    import pytest

    assert T.class_shares("2,1,2") == [0.4, 0.2, 0.4]
    for bad in ("0.5,0.5", "a,b,c", "1,-1,1", "0,0,0", "nan,1,1"):
        with pytest.raises(argparse.ArgumentTypeError, match="non-negative numbers"):
            T.class_shares(bad)
    anatomy = S.load_anatomy()
    pre = S.preprocessor()
    counts = np.zeros(3, int)
    for step in range(6):
        _, _, ys = S.training_batch(anatomy, pre, 11, 0, step, 25, shares=[0.4, 0.2, 0.4])
        counts += np.bincount(ys, minlength=3)
    # 150 draws: hyperdense expected 30 (sd ~4.9), each other class 60 (sd ~6)
    assert counts[1] < 45 and counts[0] > 40 and counts[2] > 40, counts
    # labels drawn by the code before the option existed, for this seed, epoch and step
    _, _, ys_equal = S.training_batch(anatomy, pre, 11, 0, 0, 12)
    assert ys_equal.tolist() == [0, 0, 1, 2, 0, 2, 1, 0, 0, 0, 1, 1]


def test_the_matched_second_head_takes_the_real_cts_csf_level_noise_level_and_texture():
    """``--second-head matched``: the CSF of the ventricles, the parenchyma level, the noise
    level and the noise's texture (autocorrelation) are measured on the real CT's training
    slices and given to Colin27. Measured so, the real CT's ventricles are near 0 HU and its
    noise is correlated over one pixel and anticorrelated over two (a sharp kernel); the
    textured noise reproduces that, and the matched head's ventricles are darker than the
    first conversion's, its parenchyma and noise at the real CT's levels."""
    import colin_ct
    from scipy import ndimage as ndi

    real = S.load_anatomy()
    look = colin_ct.measure_ct(real.hu, real.brain, real.noise, S.split_slices("train"))
    assert -8.0 <= look.csf_hu <= 5.0
    assert 18.0 <= look.parenchyma_hu <= 32.0
    assert abs(look.noise_sd - float(np.median(real.noise[S.split_slices("train")]))) < 1e-9
    lag = colin_ct.ACF_LAG
    assert look.acf[lag, lag] == 1.0
    assert 0.1 <= look.acf[lag, lag + 1] <= 0.5 and look.acf[lag, lag + 2] < 0.0

    noise = colin_ct.textured_noise(np.random.default_rng(3), (2, 256, 256), look)
    assert abs(float(noise.std()) - look.noise_sd) < 1e-3
    z = noise[0].astype(np.float64)
    for d in (1, 2):
        got = float(np.corrcoef(z[:, :-d].ravel(), z[:, d:].ravel())[0, 1])
        assert abs(got - look.acf[lag, lag + d]) < 0.05, (d, got)

    first = S.load_second_head("mri")
    matched = S.load_second_head("matched", real)
    again = colin_ct.measure_ct(real.hu, real.brain, real.noise, S.split_slices("train"))
    assert again.csf_hu == look.csf_hu and np.array_equal(again.acf, look.acf)
    levels = matched.brain.sum(axis=(1, 2)) * matched.pixel_mm2 >= 400

    def darkest(head) -> float:  # the ventricles' cores, in the middle of the brain levels
        box = np.stack([ndi.gaussian_filter(h, 1.0)[96:160, 96:160] for h in head.hu[levels]])
        return float(np.percentile(box[(box > -50) & (box < 80)], 1))

    assert darkest(matched) < darkest(first) - 3.0, (darkest(matched), darkest(first))
    assert darkest(matched) < look.csf_hu + 3.0
    assert levels.sum() >= 60
    smooth = np.stack([ndi.gaussian_filter(h, 1.5) for h in matched.hu[levels]])
    assert abs(float(np.median(smooth[matched.brain[levels]])) - look.parenchyma_hu) < 3.0
    assert abs(float(np.median(matched.noise[levels])) - look.noise_sd) < 1.0
    try:
        S.load_second_head("photo")
    except ValueError as e:
        assert "'photo'" in str(e) and "mri, matched" in str(e)
    else:
        raise AssertionError("an unknown style was accepted")


def test_the_training_command_defaults_to_the_matched_second_head_and_its_help_prints(capsys):
    """``make train-model`` runs ``train`` with its defaults: they must be the shipped weights'
    recipe (the matched second head, CSF ends, tilted heads, equal shares, the host CT as
    scanned); ``--no-second-head`` gives the earlier weights' recipe. ``--help`` prints (a
    bare % in a help text broke it)."""
    import pytest

    seen = {}
    real_train = T.train
    T.train = lambda args: seen.update(vars(args))
    try:
        T.main(["train"])
        assert seen["second_head"] == "matched" and seen["csf_ends"] and seen["tilt"]
        assert seen["class_shares"] is None
        assert seen["host"] == "as-is"  # the shipped weights' host, its own lesion kept
        T.main(["train", "--host", "repaired"])
        assert seen["host"] == "repaired"
        T.main(["train", "--no-second-head"])
        assert seen["second_head"] is None
        T.main(["train", "--second-head"])
        assert seen["second_head"] == "mri"
    finally:
        T.train = real_train
    with pytest.raises(SystemExit) as stop:
        T.main(["train", "--help"])
    assert stop.value.code == 0
    assert "--no-second-head" in capsys.readouterr().out
