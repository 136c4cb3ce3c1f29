"""medviewer.reports: the SR, Parametric Map and Key Object Selection of a classified series,
validated with dciodvfy (no "Error" line) and read back exactly; bad input refused with a
plain message and nothing written."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pydicom
import pytest

from medviewer.ai.findings import series_flagged_slices
from medviewer.dicom import load_volume, scan
from medviewer.labels.schema import Region, SliceKey
from medviewer.labels.store import LabelStore
from medviewer.reports.common import ReportError, write_objects
from medviewer.reports.ko import make_ko, read_ko
from medviewer.reports.pmap import make_pmap, read_pmap
from medviewer.reports.sr import make_sr, read_sr, report_of
from medviewer.reports.sr_model import NONE_FLAGGED
from medviewer.testing.synthetic import write_series
from tests.reports.conftest import FLAGGED, dciodvfy_errors, dciodvfy_lines, dsrdump


def _labels(tmp_path, volume):
    """A label store's annotations: a rectangle, a label without a rectangle and a series
    label of ``volume``'s series, one label of another series; and a point."""
    s = volume.series
    key = [SliceKey(s.study_uid, s.series_uid, r.sop_instance_uid) for r in s.slices]
    with LabelStore(tmp_path / "labels.sqlite") as store:
        store.set_label(key[4], "lesion", annotator="ann", region=Region(10, 12.5, 30, 33))
        store.set_label(key[3], "normal", annotator="ann")
        store.set_label(SliceKey(s.study_uid, s.series_uid), "lesion", annotator="cy",
                        scope="series")  # fmt: skip
        store.set_label(SliceKey("1.2.3", "1.2.3.4", "1.2.3.4.5"), "lesion", annotator="ann")
        found = store.query()
    # the store holds rectangles only; a zero-size region (a point) is written as a POINT
    point = replace(found[0], annotator="bob", key=key[4], region=Region(20, 21, 20, 21))
    return [*found, point]


def test_sr_is_valid_and_reads_back_exactly(tmp_path, volume, prediction):
    annotations = _labels(tmp_path, volume)
    report, _ = report_of(volume, prediction, annotations)
    [path] = write_objects([("sr", make_sr(volume, prediction, annotations))], tmp_path / "out")
    assert dciodvfy_errors(path) == []
    back = read_sr(path)
    assert back == report
    assert [f.index for f in back.flagged] == FLAGGED == series_flagged_slices(prediction)
    refs = volume.series.slices
    assert [f.sop_instance_uid for f in back.flagged] == [refs[k].sop_instance_uid for k in FLAGGED]
    assert back.flagged[0].probabilities == prediction.slices[4].probabilities
    assert back.probabilities == prediction.probabilities
    assert (back.model, back.version, back.sha256) == (
        prediction.model, prediction.version, prediction.sha256)  # fmt: skip
    assert back.disclaimer == "Research use only, not for diagnosis"
    regions = {(r.annotator, r.label): r for r in back.regions}
    assert len(back.regions) == 4  # the other series' label is left out
    assert regions["ann", "lesion"].region == Region(10, 12.5, 30, 33)
    assert regions["bob", "lesion"].region == Region(20, 21, 20, 21)  # a point
    assert regions["ann", "normal"].region is None
    assert regions["ann", "normal"].sop_instance_uid == refs[3].sop_instance_uid
    assert regions["cy", "lesion"].sop_instance_uid == ""
    text = dsrdump(path)
    assert prediction.model in text
    ds = pydicom.dcmread(path)
    texts = [item.get("TextValue") for item in ds.ContentSequence]
    assert "Research use only, not for diagnosis" in texts
    # a sentence a human reader of the SR understands, images numbered as the viewer does
    (sentence,) = [t for t in texts if t and "most probable class" in t]
    assert sentence.startswith(f"{prediction.model} ") and "slice(s) flagged: Im 5:" in sentence
    first = ds.ContentSequence[-2].ContentSequence[1]
    assert first.ContentSequence[0].TextValue.startswith("Im 5: ")  # index 4, from 1
    # the probability of the most suspicious flagged slice as dsrdump shows it
    numeric = str(
        ds.ContentSequence[-2]
        .ContentSequence[1]
        .ContentSequence[3]
        .MeasuredValueSequence[0]
        .NumericValue
    )
    assert numeric[:8] == f"{prediction.slices[4].probabilities['normal']:.6f}"
    assert f'"{numeric}"' in text


def test_sr_without_flagged_slices_says_so(tmp_path, volume, none_prediction):
    assert series_flagged_slices(none_prediction) == []
    [path] = write_objects([("sr", make_sr(volume, none_prediction))], tmp_path)
    assert dciodvfy_errors(path) == []
    back = read_sr(path)
    assert back.flagged == [] and back.regions == []
    assert NONE_FLAGGED in dsrdump(path)


def test_read_sr_refuses_other_documents(tmp_path, volume, prediction):
    [ko] = write_objects([("ko", make_ko(volume, prediction))], tmp_path)
    with pytest.raises(ReportError, match="not a medviewer classifier report"):
        read_sr(ko)
    text = tmp_path / "notes.txt"
    text.write_text("not DICOM")
    with pytest.raises(ReportError, match="not a readable DICOM file"):
        read_sr(text)


def test_pmap_is_aligned_and_reads_back_bit_for_bit(tmp_path, volume):
    rng = np.random.default_rng(0)
    heat = rng.random((48, 48), dtype=np.float32)
    heat[0, 0], heat[1, 1] = 0.0, 1.0
    ds = make_pmap(volume, 4, heat, method="gradcam", target="lesion", model="m",
                   version="1.0.0", sha256="ab" * 32)  # fmt: skip
    [path] = write_objects([("pmap", ds)], tmp_path)
    assert dciodvfy_errors(path) == []
    # body part unknown: Laterality empty (it might be paired); a head is not: absent
    assert pydicom.dcmread(path, stop_before_pixels=True).Laterality == ""
    write_series(tmp_path / "head-ct", n_slices=6, rows=48, cols=48, body_part="HEAD")
    head = load_volume(scan([tmp_path / "head-ct"]).all_series()[0])
    ds_head = make_pmap(head, 4, heat, method="gradcam", target="lesion", model="m",
                        version="1.0.0", sha256="ab" * 32)  # fmt: skip
    assert ds_head.BodyPartExamined == "HEAD"
    [head_path] = write_objects([("pmap", ds_head)], tmp_path / "head")
    assert dciodvfy_errors(head_path) == []
    assert not [line for line in dciodvfy_lines(head_path) if "Laterality" in line]
    assert "Laterality" not in pydicom.dcmread(head_path, stop_before_pixels=True)
    back = read_pmap(path)
    assert back.map.dtype == np.float32
    np.testing.assert_array_equal(back.map, heat)
    info = back.info
    assert (info.method, info.method_label, info.target) == ("gradcam", "Grad-CAM", "lesion")
    assert (info.model, info.version, info.sha256) == ("m", "1.0.0", "ab" * 32)
    ref = volume.series.slices[4]
    assert info.source_sop_instance_uid == ref.sop_instance_uid and info.source_frame is None
    written = pydicom.dcmread(path)
    description = str(written.ContentDescription)
    assert len(description) <= 64 and description.endswith(("diagnosis", "research use only"))
    frame = written.PerFrameFunctionalGroupsSequence[0]
    shared = written.SharedFunctionalGroupsSequence[0]
    source = pydicom.dcmread(ref.path, stop_before_pixels=True)
    assert [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient] == [
        float(v) for v in source.ImagePositionPatient
    ]
    assert [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient] == [
        float(v) for v in source.ImageOrientationPatient
    ]
    assert [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing] == [
        float(v) for v in source.PixelSpacing
    ]
    assert written.FrameOfReferenceUID == source.FrameOfReferenceUID
    assert (written.Rows, written.Columns) == (source.Rows, source.Columns)


def test_pmap_refuses_a_map_of_another_shape(volume):
    with pytest.raises(ReportError, match=r"heat map is 32x48 but slice 2 .* is 48x48"):
        make_pmap(volume, 2, np.zeros((32, 48), np.float32), method="gradcam", target="lesion",
                  model="m", version="1", sha256="")  # fmt: skip


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_pmap_refuses_nan_and_inf(volume, bad):
    heat = np.full((48, 48), 0.5, np.float32)
    heat[7, 9] = bad
    with pytest.raises(ReportError, match="1 NaN or infinite value.*row 7, column 9"):
        make_pmap(volume, 2, heat, method="attention", target="lesion", model="m",
                  version="1", sha256="")  # fmt: skip


def test_pmap_refuses_values_outside_0_1(volume):
    with pytest.raises(ReportError, match=r"values from 0 to 2.*\[0, 1\]"):
        make_pmap(volume, 2, np.linspace(0, 2, 48 * 48).reshape(48, 48), method="gradcam",
                  target="lesion", model="m", version="1", sha256="")  # fmt: skip


def test_ko_selects_exactly_the_flagged_slices(tmp_path, volume, prediction):
    [path] = write_objects([("ko", make_ko(volume, prediction))], tmp_path)
    assert dciodvfy_errors(path) == []
    back = read_ko(path)
    refs = volume.series.slices
    assert back.images == [(refs[k].sop_instance_uid, None) for k in FLAGGED]
    assert "flagged by the classifier tiny-flag 1.0.0" in back.description
    assert "not for diagnosis" in back.description
    assert pydicom.dcmread(path).ConceptNameCodeSequence[0].CodeMeaning == "Of Interest"


def test_ko_refused_when_nothing_is_flagged(volume, none_prediction):
    with pytest.raises(ReportError, match="no slice of series .* was flagged by tiny-none"):
        make_ko(volume, none_prediction)


def test_slices_without_sop_instance_uid_are_refused(volume, prediction):
    slices = list(volume.series.slices)
    slices[5] = replace(slices[5], sop_instance_uid="")
    bad = replace(volume, series=replace(volume.series, slices=slices))
    for make in (lambda: make_sr(bad, prediction), lambda: make_ko(bad, prediction)):
        with pytest.raises(ReportError, match=r"slice 5 .* has no SOP Instance UID \(0008,0018\)"):
            make()


def test_output_that_is_a_file_is_refused(tmp_path, volume, prediction):
    out = tmp_path / "out"
    out.write_text("a file")
    with pytest.raises(ReportError, match="is a file; -o takes a folder"):
        write_objects([("sr", make_sr(volume, prediction))], out)
    assert out.read_text() == "a file"
