"""Scanning: files, folders, DICOMDIRs; headers only; patient -> study -> series; split stacks."""

import builtins
import io
import os
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.fileset import FileSet

from medviewer.dicom import headers, load_volume, scan, scan_iter
from medviewer.dicom.model import MIXED_SIZES, UNREADABLE
from medviewer.errors import DicomError
from medviewer.jobs import Progress
from medviewer.testing.synthetic import write_series

SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def _slice_paths(series) -> list[str]:
    return [os.path.realpath(s.path) for s in series.slices]


def test_folder_scan_is_recursive_and_groups_patient_study_series(tmp_path, stack_writer):
    deep = tmp_path / "a" / "b" / "c"
    ct = stack_writer(deep / "ct", n=4, patient_id="PAT-A", series_number=2)
    # A second series of the same study, and a second patient with a study of its own.
    mr = stack_writer(
        tmp_path / "a" / "mr",
        n=3,
        modality="MR",
        intercept=0,
        study_uid=ct.study_uid,
        patient_id="PAT-A",
        series_number=1,
    )
    other = stack_writer(tmp_path / "z", n=2, patient_id="PAT-B")

    result = scan([tmp_path])

    assert result.skipped == []
    assert len(result.studies) == 2
    by_uid = {st.study_uid: st for st in result.studies}
    first, second = by_uid[ct.study_uid], by_uid[other.study_uid]
    assert first.patient_id == "PAT-A" and second.patient_id == "PAT-B"
    assert first.study_date == "20260101" and first.description == "Synthetic study"
    # Series inside a study are ordered by SeriesNumber.
    assert [s.series_uid for s in first.series] == [mr.series_uid, ct.series_uid]
    assert [s.modality for s in first.series] == ["MR", "CT"]
    assert [s.series_uid for s in second.series] == [other.series_uid]
    ct_series = first.series[1]
    assert ct_series.n_files == 4 and ct_series.shape == (4, 32, 32)
    assert _slice_paths(ct_series) == [os.path.realpath(p) for p in ct.paths]
    assert all(s.study_uid == st.study_uid for st in result.studies for s in st.series)


def test_files_and_folder_give_the_same_series(tmp_path):
    truth = write_series(tmp_path, n_slices=5, rows=32, cols=32)
    from_folder = scan([tmp_path]).all_series()
    from_files = scan(sorted(truth.paths)).all_series()
    # A file given twice (directly and through its folder) is read once.
    from_both = scan([*truth.paths, tmp_path]).all_series()
    for found in (from_folder, from_files, from_both):
        assert [s.key for s in found] == [truth.series_uid]
        assert found[0].n_files == 5
        assert np.array_equal(load_volume(found[0]).array, truth.values)


def test_single_file_is_a_one_slice_series(tmp_path):
    truth = write_series(tmp_path, n_slices=3, rows=32, cols=32)
    only = sorted(truth.paths)[0]
    (series,) = scan([only]).all_series()
    assert series.shape == (1, 32, 32)
    assert series.slices[0].path == only


def test_missing_path_is_skipped_not_fatal(tmp_path):
    truth = write_series(tmp_path / "ok", n_slices=2, rows=16, cols=16)
    missing = str(tmp_path / "does-not-exist")
    result = scan([missing, tmp_path / "ok"])
    assert [(s.path, s.code) for s in result.skipped] == [(missing, UNREADABLE)]
    assert result.skipped[0].reason
    assert [s.series_uid for s in result.all_series()] == [truth.series_uid]


def test_scan_reads_headers_only(tmp_path, monkeypatch):
    from pydicom.uid import ExplicitVRBigEndian, RLELossless

    native = write_series(tmp_path / "native", n_slices=3, rows=256, cols=256)
    # Big endian takes the pydicom path rather than the fast little-endian walker.
    big = write_series(
        tmp_path / "big", n_slices=2, rows=256, cols=256, transfer_syntax=ExplicitVRBigEndian
    )
    write_series(tmp_path / "rle", n_slices=3, rows=64, cols=64, transfer_syntax=RLELossless)

    bytes_read: dict[str, int] = {}

    class CountingFile(io.FileIO):
        def readinto(self, buffer):
            n = super().readinto(buffer)
            bytes_read[self.name] = bytes_read.get(self.name, 0) + (n or 0)
            return n

    real_open = builtins.open

    def counting_open(file, mode="r", *args, **kwargs):
        if mode == "rb" and not args and not kwargs:
            return io.BufferedReader(CountingFile(os.fspath(file), "r"))
        return real_open(file, mode, *args, **kwargs)

    def no_pixels(self, *args, **kwargs):
        raise AssertionError("the scan decoded pixel data")

    monkeypatch.setattr(headers, "open", counting_open, raising=False)
    monkeypatch.setattr(pydicom.dataset.Dataset, "convert_pixel_data", no_pixels)
    result = scan([tmp_path])

    assert result.skipped == []  # a decode attempt would have made the files 'corrupt'
    assert sorted(s.n_files for s in result.all_series()) == [2, 3, 3]
    for path in native.paths + big.paths:
        size = os.path.getsize(path)
        assert size > 128 * 1024
        # 128 KiB of pixels per file; the header is read, the pixels are not.
        assert 0 < bytes_read[path] < size // 3, (bytes_read[path], size)


def test_scan_iter_reports_progress_and_returns_the_result(tmp_path):
    write_series(tmp_path, n_slices=4, rows=16, cols=16)
    job = scan_iter([tmp_path])
    steps = []
    try:
        while True:
            steps.append(next(job))
    except StopIteration as stop:
        result = stop.value
    assert all(isinstance(s, Progress) for s in steps)
    assert steps[0].done == 0 and steps[0].total == 4
    assert steps[-1].done == steps[-1].total == 4
    assert result.all_series()[0].n_files == 4


# --- DICOMDIR -------------------------------------------------------------------------------


def _discard(fs: FileSet) -> None:
    """Remove pydicom's staging folder now rather than at garbage collection."""
    stage = getattr(fs, "_stage", {}).get("t")
    if stage is not None:
        stage.cleanup()


def test_pydicom_dicomdir_finds_every_referenced_image(testdata):
    dicomdir = testdata("dicomdirtests/DICOMDIR")
    reference = FileSet(pydicom.dcmread(dicomdir))
    expected = {os.path.realpath(inst.path) for inst in reference}
    patients = {inst.PatientID for inst in reference}
    _discard(reference)

    result = scan([dicomdir])  # only the index: the images come from its references

    assert result.skipped == []
    found = [p for s in result.all_series() for p in _slice_paths(s)]
    assert len(found) == len(set(found))
    assert set(found) == expected and len(expected) == 31
    assert {st.patient_id for st in result.studies} == patients
    assert sum(s.n_files for s in result.all_series()) == 31


def _write_fileset(tmp_path, n=5):
    truth = write_series(tmp_path / "src", n_slices=n, rows=32, cols=32)
    fs = FileSet()
    for path in truth.paths:
        ds = pydicom.dcmread(path)
        ds.StudyTime, ds.StudyID = "120000", "1"  # required by the STUDY directory record
        fs.add(ds)
    out = tmp_path / "cd"
    fs.write(out)
    _discard(fs)
    shutil.rmtree(tmp_path / "src")
    return truth, out


def test_built_dicomdir_loads_the_series(tmp_path):
    truth, out = _write_fileset(tmp_path)
    result = scan([out / "DICOMDIR"])
    assert result.skipped == []
    (series,) = result.all_series()
    assert series.n_files == 5
    assert np.array_equal(load_volume(series).array, truth.values)
    # Scanning the folder that holds both the DICOMDIR and its files counts each file once.
    (again,) = scan([out]).all_series()
    assert again.n_files == 5


def test_dicomdir_index_upper_case_files_lower_case(tmp_path):
    """CD exports often list IM000001 while the disk holds im000001."""
    truth, out = _write_fileset(tmp_path)
    for root, dirs, files in os.walk(out, topdown=False):
        for name in files + dirs:
            if name != "DICOMDIR":
                os.rename(os.path.join(root, name), os.path.join(root, name.lower()))
    result = scan([out / "DICOMDIR"])
    assert result.skipped == []
    (series,) = result.all_series()
    assert np.array_equal(load_volume(series).array, truth.values)


def test_dicomdir_listing_a_missing_file(tmp_path):
    truth, out = _write_fileset(tmp_path)
    listed = sorted(p for p in (out).rglob("IM*"))
    listed[0].unlink()
    result = scan([out / "DICOMDIR"])
    assert len(result.skipped) == 1
    skipped = result.skipped[0]
    assert skipped.code == UNREADABLE and "DICOMDIR" in skipped.reason
    assert os.path.basename(skipped.path) == listed[0].name
    (series,) = result.all_series()
    assert series.n_files == 4


# --- one series, several stacks ---------------------------------------------------------------


def test_series_mixing_image_sizes_is_split(tmp_path, stack_writer):
    big = stack_writer(tmp_path / "a", n=4, rows=32, cols=32, step=2.0)
    small = stack_writer(
        tmp_path / "b",
        n=2,
        rows=48,
        cols=40,
        step=5.0,
        origin=(0, 0, 100),
        study_uid=big.study_uid,
        series_uid=big.series_uid,
        seed=3,
    )
    result = scan([tmp_path])
    stacks = result.all_series()
    assert sorted(s.key for s in stacks) == [f"{big.series_uid}#1", f"{big.series_uid}#2"]
    first = result.find_series(f"{big.series_uid}#1")
    second = result.find_series(f"{big.series_uid}#2")
    assert first.shape == (4, 32, 32) and second.shape == (2, 48, 40)  # largest first
    for stack in (first, second):
        assert stack.series_uid == big.series_uid
        assert stack.warning_codes()[0] == MIXED_SIZES
        assert stack.n_stacks == 2
    assert np.array_equal(load_volume(first).array, big.values)
    assert np.array_equal(load_volume(second).array, small.values)
    assert second.geometry.spacing[0] == pytest.approx(5.0)
    # The bare UID is ambiguous now: the error names both keys.
    with pytest.raises(DicomError) as err:
        result.find_series(big.series_uid)
    assert f"{big.series_uid}#1" in str(err.value) and f"{big.series_uid}#2" in str(err.value)


def test_series_mixing_orientations_is_split(tmp_path, stack_writer):
    axial = stack_writer(tmp_path / "ax", n=3)
    sagittal = stack_writer(
        tmp_path / "sag",
        n=3,
        orientation=SAGITTAL,
        study_uid=axial.study_uid,
        series_uid=axial.series_uid,
        seed=5,
    )
    result = scan([tmp_path])
    stacks = {s.geometry.orientation: s for s in result.all_series()}
    assert set(stacks) == {"axial", "sagittal"}
    assert {s.key for s in stacks.values()} == {f"{axial.series_uid}#1", f"{axial.series_uid}#2"}
    for s in stacks.values():
        assert MIXED_SIZES in s.warning_codes()
        assert "orientation" in s.warnings[0].message
    assert np.array_equal(load_volume(stacks["axial"]).array, axial.values)
    assert np.array_equal(load_volume(stacks["sagittal"]).array, sagittal.values)


def test_unsplit_series_key_is_the_uid(tmp_path):
    truth = write_series(tmp_path, n_slices=3, rows=16, cols=16)
    result = scan([tmp_path])
    (series,) = result.all_series()
    assert series.key == truth.series_uid
    assert MIXED_SIZES not in series.warning_codes()
    assert result.find_series(truth.series_uid) is series
    with pytest.raises(DicomError, match="not among the scanned files"):
        result.find_series("1.2.3.4")


def test_largest_series(tmp_path):
    assert scan([tmp_path]).largest_series() is None
    write_series(tmp_path / "a", n_slices=2, rows=16, cols=16, seed=1)
    big = write_series(tmp_path / "b", n_slices=5, rows=16, cols=16, seed=2)
    assert scan([tmp_path]).largest_series().series_uid == big.series_uid


def test_series_carry_their_frame_of_reference_and_slice_thickness(tmp_path):
    """Linked scrolling needs them: series of one frame of reference share patient space."""
    write_series(tmp_path / "a", n_slices=3, rows=16, cols=16, frame_of_reference_uid="1.2.3.4")
    write_series(tmp_path / "b", n_slices=3, rows=16, cols=16, frame_of_reference_uid="1.2.3.5")
    found = {s.frame_of_reference_uid for s in scan([tmp_path]).all_series()}
    assert found == {"1.2.3.4", "1.2.3.5"}
    (series,) = scan([tmp_path / "a"]).all_series()
    assert series.slice_thickness is not None and series.slice_thickness > 0
