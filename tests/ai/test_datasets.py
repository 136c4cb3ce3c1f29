"""Fine-tuning data: final labels from the store, images by UID, patient split, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from medviewer.ai.datasets import (
    MIN_PER_CLASS,
    DataFilters,
    SplitOptions,
    check_leakage,
    prepare,
)
from medviewer.errors import TrainingDataError
from medviewer.labels.store import LabelStore
from tests.ai.finetune_helpers import key_of, label_all, make_dataset, tiny_registry


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """5 synthetic patients of 12 slices (odd slices: bright blob)."""
    return make_dataset(tmp_path_factory.mktemp("patients"), patients=5)


@pytest.fixture
def registry(tmp_path):
    return tiny_registry(tmp_path)


@pytest.fixture
def store(tmp_path, data):
    path = tmp_path / "labels.sqlite"
    label_all(path, data)
    return path


def test_plan_reads_final_labels_and_splits_by_patient_stratified(store, data, registry):
    plan = prepare(store, "tiny-ct", registry=registry)
    assert plan.classes == ("no lesion", "lesion") and plan.base_ref == "tiny-ct:1.0.0"
    assert len(plan.train) + len(plan.val) == 60 and not plan.missing
    train_p = {it.patient for it in plan.train}
    val_p = {it.patient for it in plan.val}
    assert train_p and val_p and not train_p & val_p
    assert plan.patients == {"train": len(train_p), "val": len(val_p)}
    for side in ("train", "val"):  # both classes on both sides
        assert set(plan.counts[side]) == {"no lesion", "lesion"}
    assert sum(plan.counts["val"].values()) == len(plan.val)
    assert plan.annotators == ["alice"] and len(plan.label_snapshot) == 64
    # every item points at the right slice of its series, pixels in HU
    by_uid = {series.series_uid: series for _, _, series in data}
    for it in plan.train + plan.val:
        series = by_uid[it.key.series_uid]
        assert series.slices[it.index].sop_instance_uid == it.key.sop_uid
        assert it.label == ("lesion" if it.index % 2 else "no lesion")
        values = plan.pixels[(it.series_key, it.index)]
        assert values.shape == (32, 32)
        assert (values[13, 18] == 80) == (it.index % 2 == 1)  # the blob
    check_leakage(plan)
    assert "no lesion" in plan.summary() and "patients" in plan.summary()


def test_the_split_is_reproducible_and_k_folds_partition_the_patients(store, registry):
    a = prepare(store, "tiny-ct", registry=registry, split=SplitOptions(seed=3))
    b = prepare(store, "tiny-ct", registry=registry, split=SplitOptions(seed=3))
    assert [it.key for it in a.val] == [it.key for it in b.val]
    seen = []
    for fold in range(5):
        plan = prepare(
            store, "tiny-ct", registry=registry, split=SplitOptions(k_folds=5, fold=fold)
        )
        val = {it.patient for it in plan.val}
        assert val and not val & {it.patient for it in plan.train}
        seen.append(val)
    assert sorted(p for s in seen for p in s) == [f"PAT{i:03d}" for i in range(5)]


def test_leakage_check_refuses_a_patient_on_both_sides(store, registry):
    plan = prepare(store, "tiny-ct", registry=registry)
    plan.val.append(plan.train[0])
    with pytest.raises(TrainingDataError, match="both training and validation"):
        check_leakage(plan)
    plan = prepare(store, "tiny-ct", registry=registry)
    moved = [it for it in plan.train if it.patient == plan.train[0].patient][:1]
    from dataclasses import replace

    plan.val.append(replace(moved[0], key=key_of_other(moved[0].key)))
    with pytest.raises(TrainingDataError, match=f"patient {moved[0].patient} is in both"):
        check_leakage(plan)


def key_of_other(key):
    from dataclasses import replace

    return replace(key, sop_uid=key.sop_uid + ".9")


def test_no_labels_says_so(tmp_path, data, registry):
    path = tmp_path / "empty.sqlite"
    LabelStore(path).close()
    with pytest.raises(TrainingDataError, match="no final labels in .*empty.sqlite"):
        prepare(path, "tiny-ct", registry=registry)
    label_all(path, data, status="draft")  # drafts never train
    with pytest.raises(TrainingDataError, match="no final labels"):
        prepare(path, "tiny-ct", registry=registry)
    with pytest.raises(TrainingDataError, match="no label store"):
        prepare(tmp_path / "nope.sqlite", "tiny-ct", registry=registry)


def test_one_class_only_is_refused(tmp_path, data, registry):
    path = tmp_path / "one.sqlite"
    label_all(path, data, label=lambda k: "lesion")
    with pytest.raises(TrainingDataError, match="at least two classes"):
        prepare(path, "tiny-ct", registry=registry)


def test_a_class_with_too_few_labels_is_named(tmp_path, data, registry):
    path = tmp_path / "few.sqlite"
    label_all(path, data[:1], label=lambda k: "lesion" if k in (1, 3) else "no lesion")
    label_all(path, data[1:3], label=lambda k: "no lesion")
    label_all(path, data[3:4], label=lambda k: "lesion" if k < 5 else "no lesion")
    with pytest.raises(TrainingDataError) as err:
        prepare(path, "tiny-ct", registry=registry)
    assert f"lesion has 7 final label(s); at least {MIN_PER_CLASS} are needed" in str(err.value)


def test_single_patient_split_by_contiguous_ranges(tmp_path, registry):
    (pid, _, series) = make_dataset(tmp_path / "one", patients=1, n=40)[0]
    path = tmp_path / "single.sqlite"
    label_all(path, [(pid, None, series)], label=lambda k: "lesion" if k < 16 else "no lesion")
    with pytest.raises(TrainingDataError, match=r"one patient \(PatientID PAT000\)"):
        prepare(path, "tiny-ct", registry=registry)
    plan = prepare(
        path, "tiny-ct", registry=registry, split=SplitOptions(allow_single_patient=True)
    )
    assert plan.single_patient and any("optimistic" in w for w in plan.warnings)
    assert plan.counts == {
        "train": {"lesion": 12, "no lesion": 18},
        "val": {"lesion": 4, "no lesion": 6},
    }
    lesion_val = sorted(it.index for it in plan.val if it.label == "lesion")
    assert lesion_val == [6, 7, 8, 9]  # the middle of slices 0..15: training on both sides
    normal_val = sorted(it.index for it in plan.val if it.label == "no lesion")
    assert normal_val == list(range(25, 31))
    check_leakage(plan)


def test_unknown_classes_are_reported_added_or_mapped(tmp_path, data, registry):
    path = tmp_path / "new.sqlite"
    names = {0: "no lesion", 1: "lesion", 2: "calcification"}
    label_all(path, data, label=lambda k: names[k % 3])
    plan = prepare(path, "tiny-ct", registry=registry)
    assert plan.unmapped == ["calcification"] and plan.added_classes == []
    assert plan.ignored["calcification"] == 20
    assert plan.class_map["calcification"] is None
    assert any("calcification" in w and "add them as new classes" in w for w in plan.warnings)
    assert "calcification" not in {it.label for it in plan.train + plan.val}

    plan = prepare(path, "tiny-ct", registry=registry, add_classes=True)
    assert plan.classes == ("no lesion", "lesion", "calcification")
    assert plan.added_classes == ["calcification"] and plan.unmapped == []
    assert plan.counts["train"]["calcification"] + plan.counts["val"]["calcification"] == 20

    plan = prepare(path, "tiny-ct", registry=registry, class_map={"calcification": "lesion"})
    assert plan.classes == ("no lesion", "lesion")
    assert sum(plan.counts[s]["lesion"] for s in ("train", "val")) == 40


def test_labels_whose_images_are_gone_are_reported_and_left_out(tmp_path, data, registry):
    copies = tmp_path / "copies"
    moved_data = []
    for pid, study, series in data:
        shutil.copytree(series.slices[0].path.rsplit("/", 1)[0], copies / pid)
        moved_data.append((pid, study, series))
    path = tmp_path / "labels.sqlite"
    from medviewer.labels.store import LabelStore as Store

    with Store(path) as st, st.transaction():  # hints point at the copies
        for pid, _, series in moved_data:
            for k, ref in enumerate(series.slices):
                hint = str(copies / pid / ref.path.rsplit("/", 1)[1])
                label = "lesion" if k % 2 else "no lesion"
                st.set_label(key_of(series, k), label, annotator="alice", path_hint=hint)
    gone = moved_data[0][2].slices[3].path.rsplit("/", 1)[1]
    (copies / "PAT000" / gone).unlink()
    shutil.rmtree(copies / "PAT001")  # a whole study moved away...
    plan = prepare(path, "tiny-ct", registry=registry)
    assert len(plan.missing) == 13 and len(plan.train) + len(plan.val) == 47
    assert all("image not found" in why for _, why in plan.missing)
    assert any("not found on disk" in w for w in plan.warnings)
    from medviewer.ai.train import TrainOptions, finetune  # training goes on without them

    res = finetune(plan, TrainOptions(epochs=1, batch_size=16), registry=registry)
    assert res.entry.manifest.lineage["missing"] == 13
    assert res.entry.manifest.lineage["split"]["train"] + res.new_metrics["n"] == 47
    # ... and found again by UID in a data folder (the originals)
    originals = Path(data[0][2].slices[0].path).parent.parent
    plan = prepare(path, "tiny-ct", registry=registry, data_dirs=[str(originals)])
    assert len(plan.train) + len(plan.val) == 60 and plan.missing == []


def test_filters_review_annotators_disagreement_consensus(tmp_path, data, registry):
    path = tmp_path / "f.sqlite"
    label_all(path, data)
    label_all(path, data[:2], annotator="bob", label=lambda k: "lesion")  # disagrees on evens
    with LabelStore(path) as st:
        series = data[2][2]
        st.review(key_of(series, 1), annotator="alice", verdict="flagged", reviewer="rev")
        st.review(key_of(series, 3), annotator="alice", verdict="approved", reviewer="rev")
        st.set_label(key_of(series, 5), "uncertain", annotator="alice")
        st.set_label(key_of(data[0][2], 0), "no lesion", annotator="consensus")
    plan = prepare(path, "tiny-ct", registry=registry)
    n = len(plan.train) + len(plan.val)
    # 60 keys - 11 disagreements (patients 0-1 evens, one resolved by consensus) - flagged -
    # uncertain
    assert n == 60 - 11 - 1 - 1
    assert plan.ignored["(annotators disagree)"] == 11
    assert plan.ignored["lesion (flagged)"] == 1 and plan.ignored["uncertain"] == 1
    assert plan.annotators == ["alice", "bob", "consensus"]
    only_alice = prepare(
        path, "tiny-ct", registry=registry, filters=DataFilters(annotators=("alice",))
    )
    assert len(only_alice.train) + len(only_alice.val) == 58
    assert only_alice.label_snapshot != plan.label_snapshot
    with pytest.raises(TrainingDataError, match="at least two classes"):
        prepare(path, "tiny-ct", registry=registry, filters=DataFilters(review="approved"))
    with pytest.raises(TrainingDataError, match="label set other"):
        prepare(path, "tiny-ct", registry=registry, filters=DataFilters(label_set="other"))


def test_the_snapshot_hash_follows_the_labels(tmp_path, data, registry):
    path = tmp_path / "s.sqlite"
    label_all(path, data)
    before = prepare(path, "tiny-ct", registry=registry).label_snapshot
    assert prepare(path, "tiny-ct", registry=registry).label_snapshot == before
    with LabelStore(path) as st:
        st.set_label(key_of(data[0][2], 2), "lesion", annotator="alice")
    assert prepare(path, "tiny-ct", registry=registry).label_snapshot != before


def test_inputs_go_through_the_models_own_preprocess(store, registry):
    from medviewer.ai.train import _inputs

    plan = prepare(store, "tiny-ct", registry=registry)
    model = registry.load("tiny-ct", device="cpu")
    x, y = _inputs(model, plan, plan.val[:3])
    for row, it in zip(x, plan.val[:3]):
        want = model.preprocess(plan.pixels[(it.series_key, it.index)])
        np.testing.assert_allclose(row.float().numpy(), want, atol=1e-3)
    assert y.tolist() == [plan.classes.index(it.label) for it in plan.val[:3]]
