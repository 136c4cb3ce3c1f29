"""Labeling use-cases without Qt, on the bundled sample study and a real label store."""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pytest

from medviewer.errors import LabelStoreError
from medviewer.labels.schema import ModelRef, Region, SliceKey
from medviewer.labels.store import LabelStore
from medviewer.session import mpr
from medviewer.session.labeling import (
    ALL_ANNOTATORS,
    Filters,
    LabelingSession,
    entropy,
    fresh_store_path,
    known_series_uids,
    plane_rect_to_region,
    region_to_plane_rect,
    slice_keys,
)
from tests.session.sample_cache import sample_study

MODEL = ModelRef("headct-lesions", "1.0.0", "ab" * 32)


@dataclass(frozen=True)
class FakePrediction:
    index: int
    probabilities: dict
    top: str
    model: str = MODEL.name
    version: str = MODEL.version
    sha256: str = MODEL.sha256
    device: str = "cpu"


def prediction(index, probs):
    names = ("normal", "hyperdense_lesion", "hypodense_lesion")
    probabilities = dict(zip(names, probs))
    return FakePrediction(index, probabilities, max(probabilities, key=probabilities.get))


@pytest.fixture
def store(tmp_path):
    with LabelStore(tmp_path / "labels.sqlite") as s:
        yield s


@pytest.fixture
def labeling(store):
    _, _, volume = sample_study()
    session = LabelingSession(store, annotator="alice")
    session.set_volume(volume)
    return session


def test_keys_follow_the_volume_order():
    study, series, volume = sample_study()
    keys = slice_keys(volume)
    assert len(keys) == volume.array.shape[0] == 108
    assert len(set(keys)) == 108
    for k, key in enumerate(keys):
        ref = volume.series.slices[k]
        assert key == SliceKey(study.study_uid, series.series_uid, ref.sop_instance_uid, None)
    # volume.array[k] is the slice of series.slices[k]: positions ascend along the normal
    z = [ref.position[2] for ref in volume.series.slices]
    assert z == sorted(z) or z == sorted(z, reverse=True)


def test_multiframe_frames_are_one_based():
    _, _, volume = sample_study()
    refs = [dataclasses.replace(volume.series.slices[0], frame=f) for f in range(3)]
    series = dataclasses.replace(volume.series, slices=refs)
    fake = dataclasses.replace(volume, array=volume.array[:3], series=series)
    assert [k.frame for k in slice_keys(fake)] == [1, 2, 3]


def test_missing_uids_are_refused_with_a_reason():
    _, _, volume = sample_study()
    refs = list(volume.series.slices)
    refs[5] = dataclasses.replace(refs[5], sop_instance_uid="")
    fake = dataclasses.replace(volume, series=dataclasses.replace(volume.series, slices=refs))
    with pytest.raises(LabelStoreError, match=r"slice 6 .*SOP Instance UID"):
        slice_keys(fake)


def test_assign_clear_undo_redo(labeling, store):
    ann = labeling.assign(3, "normal")
    assert (ann.label, ann.annotator, ann.source) == ("normal", "alice", "human")
    assert store.current(labeling.key(3), annotator="alice").label == "normal"
    labeling.assign(3, "hypodense_lesion")
    assert labeling.label_at(3).label == "hypodense_lesion"
    key, index = labeling.undo()
    assert index == 3 and key == labeling.key(3)
    assert labeling.label_at(3).label == "normal"
    assert labeling.redo()[1] == 3
    assert labeling.label_at(3).label == "hypodense_lesion"
    assert labeling.clear(3) is True
    assert labeling.label_at(3) is None and store.current(labeling.key(3)) is None
    assert labeling.clear(3) is False
    with pytest.raises(LabelStoreError, match="not a class"):
        labeling.assign(4, "tumour")
    assert labeling.progress().text == "0/108 slices labeled"


def test_writes_need_an_annotator_and_a_store(store):
    _, _, volume = sample_study()
    session = LabelingSession(store)
    session.set_volume(volume)
    with pytest.raises(LabelStoreError, match="annotator"):
        session.assign(0, "normal")
    session = LabelingSession(None, annotator="alice")
    session.set_volume(volume)
    with pytest.raises(LabelStoreError, match="no label store"):
        session.assign(0, "normal")


def test_suggestions_accept_and_navigation(labeling, store):
    preds = [prediction(k, (0.9, 0.05, 0.05)) for k in range(108)]
    preds[10] = prediction(10, (0.1, 0.8, 0.1))
    preds[40] = prediction(40, (0.34, 0.33, 0.33))  # the most uncertain
    preds[70] = prediction(70, (0.5, 0.4, 0.1))  # the second most uncertain
    assert labeling.set_predictions(preds) == 108
    s = labeling.suggestion(10)
    assert s.label == "hyperdense_lesion" and s.probability == pytest.approx(0.8)
    assert labeling.suggestion(40).entropy == pytest.approx(1.0, abs=1e-3)
    ann = labeling.accept_suggestion(10)
    assert (ann.label, ann.source, ann.model) == ("hyperdense_lesion", "model", MODEL)
    # disagreements: labeled slices whose label differs from the model's top class
    labeling.assign(20, "hypodense_lesion")
    labeling.assign(30, "uncertain")  # not a model class: never a disagreement
    labeling.assign(50, "hyperdense_lesion")
    assert labeling.next_disagreement(0) == 20
    assert labeling.next_disagreement(20) == 50
    assert labeling.next_disagreement(50) == 20  # wraps
    labeling.set_filters(Filters(label="hyperdense_lesion"))
    assert labeling.next_disagreement(0) == 50
    labeling.set_filters(Filters())
    # active learning: the most uncertain unlabeled slice, then the next
    assert labeling.next_uncertain(0) == 40
    assert labeling.next_uncertain(40) == 70
    # Q, Q, Q without labeling walks down the ranking (not back to 40)
    third = labeling.next_uncertain(70)
    assert third not in (40, 70) and third not in (10, 20, 30, 50)
    assert labeling.next_uncertain(third) not in (40, 70, third)
    assert labeling.next_unlabeled(9) == 11
    assert labeling.next_unlabeled(107) == 0


def test_accepting_a_class_outside_the_label_set_is_refused(labeling):
    labeling.set_predictions(
        [FakePrediction(0, {"no lesion": 0.2, "lesion": 0.8}, "lesion", "tiny", "1", "")]
    )
    with pytest.raises(LabelStoreError, match="not in the label set"):
        labeling.accept_suggestion(0)
    with pytest.raises(LabelStoreError, match="no suggestion"):
        labeling.accept_suggestion(1)


def test_review_progress_filters_and_list(labeling, store):
    for k in range(12):
        labeling.assign(k, "normal" if k % 3 else "hypodense_lesion")
    labeling.review(0, "flagged", "edge of the scan")
    labeling.review(3, "approved")
    assert labeling.progress().text == "12/108 slices labeled, 1 flagged, 1 approved"
    ann = store.current(labeling.key(0), annotator="alice")
    assert (ann.review, ann.reviewer, ann.comment) == ("flagged", "alice", "edge of the scan")
    labeling.set_filters(Filters(status="flagged"))
    assert [k for k, _ in labeling.listed()] == [0]
    labeling.set_filters(Filters(label="hypodense_lesion", status="unreviewed"))
    assert [k for k, _ in labeling.listed()] == [6, 9]
    assert labeling.next_listed(6) == 9
    with pytest.raises(LabelStoreError, match="no label to review"):
        labeling.review(50, "approved")


def test_annotator_filter_shows_someone_elses_labels(store):
    _, _, volume = sample_study()
    bob = LabelingSession(store, annotator="bob")
    bob.set_volume(volume)
    bob.assign(5, "exclude")
    alice = LabelingSession(store, annotator="alice")
    alice.set_volume(volume)
    assert alice.label_at(5) is None
    alice.set_filters(Filters(annotator="bob"))
    assert alice.label_at(5).label == "exclude"
    alice.set_filters(Filters(annotator=ALL_ANNOTATORS))
    assert alice.label_at(5).annotator == "bob"


def test_evidence_region_waits_for_the_label_and_round_trips(labeling, store):
    region = Region(10.0, 20.0, 60.5, 80.25)
    assert labeling.set_region(7, region) is None  # unlabeled: kept until labeled
    assert labeling.region_at(7) == region
    ann = labeling.assign(7, "hyperdense_lesion")
    assert ann.region == region
    assert store.current(labeling.key(7), annotator="alice").region == region
    labeling.assign(7, "hypodense_lesion")  # relabeling keeps the evidence
    assert labeling.label_at(7).region == region
    assert labeling.set_region(7, None).region is None


def test_plane_rect_maps_to_slice_pixels():
    _, _, volume = sample_study()
    plane = mpr.acquired_plane(volume)
    rect = (20.0, 30.5, 90.0, 120.0)  # row0, col0, row1, col1 on screen
    region = plane_rect_to_region(volume, plane, 50, rect)
    # the screen pixel (row, col) shows volume.array[50][j, i] with (j, i) from mpr
    image = mpr.reformat(volume, plane, 50).values
    k, j, i = mpr.to_index(volume, plane, 50, 20, 31)
    assert image[20, 31] == volume.array[k, j, i]
    assert region.x0 <= i < region.x1 and region.y0 <= j < region.y1
    assert (region.x1 - region.x0, region.y1 - region.y0) == pytest.approx((89.5, 70.0))
    back = region_to_plane_rect(volume, plane, 50, region)
    assert back == pytest.approx(rect)
    clamped = plane_rect_to_region(volume, plane, 50, (-5.0, -5.0, 400.0, 400.0))
    assert clamped == Region(0.0, 0.0, 256.0, 256.0)


def test_entropy_and_helpers(tmp_path):
    assert entropy({"a": 0.5, "b": 0.5}) == pytest.approx(1.0)
    assert entropy({"a": 1.0, "b": 0.0}) == 0.0
    assert 0 < entropy([0.7, 0.2, 0.1]) < 1
    assert not math.isnan(entropy([float("nan"), 1.0]))
    first = fresh_store_path(tmp_path / "labels.sqlite")
    assert first.parent == tmp_path and first.name.startswith("labels-new-")
    first.write_bytes(b"")
    assert fresh_store_path(tmp_path / "labels.sqlite") != first
    study, series, _ = sample_study()

    class Scan:
        studies = [study]

    assert known_series_uids(Scan) == {series.series_uid}
    assert known_series_uids(None) == set()
    assert np.isfinite(entropy([0.2, 0.8]))
