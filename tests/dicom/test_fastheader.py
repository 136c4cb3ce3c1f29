"""The fast header walker gives exactly what pydicom gives, or steps aside."""

import dataclasses
import os

import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from medviewer.dicom.fastheader import read_fast
from medviewer.dicom.headers import FileHeader, read_header
from medviewer.testing.synthetic import make_dataset, save, write_series


def _fast_used(path):
    with open(path, "rb") as fp:
        return read_fast(fp, os.path.getsize(path)) is not None


def _same(path):
    fast, slow = read_header(path, fast=True), read_header(path, fast=False)
    if isinstance(fast, FileHeader) and isinstance(slow, FileHeader):
        for field in dataclasses.fields(FileHeader):
            assert repr(getattr(fast, field.name)) == repr(getattr(slow, field.name)), (
                path,
                field.name,
            )
    else:
        assert repr(fast) == repr(slow), path


def test_every_pydicom_test_file_reads_the_same_both_ways():
    files = [f for f in get_testdata_files() if os.path.isfile(f)]
    used = 0
    for path in files:
        _same(path)
        used += _fast_used(path)
    assert used > len(files) // 2  # the fast path really is the common one


def test_synthetic_series_in_every_little_endian_syntax(tmp_path):
    for i, ts in enumerate([None, ImplicitVRLittleEndian]):
        kwargs = {} if ts is None else {"transfer_syntax": ts}
        series = write_series(tmp_path / str(i), n_slices=3, rows=8, cols=8, **kwargs)
        for path in series.paths:
            assert _fast_used(path)
            _same(path)


def test_nested_sequences_of_undefined_length_are_skipped(tmp_path):
    import numpy as np

    ds = make_dataset(np.arange(64, dtype=np.int16).reshape(8, 8))
    inner = Dataset()
    inner.CodeValue = "T-A0100"
    inner.ContentSequence = Sequence([Dataset()])
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    item.AnatomicRegionSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([item, Dataset()])
    for seq in (ds.ReferencedImageSequence, item.AnatomicRegionSequence):
        seq.is_undefined_length = True
    path = str(tmp_path / "seq.dcm")
    save(ds, path)
    assert _fast_used(path)
    _same(path)
    assert read_header(path).slices[0].position == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    "name",
    ["MR_small_bigendian.dcm", "image_dfl.dcm", "eCT_Supplemental.dcm", "rtstruct.dcm"],
)
def test_unusual_files_go_to_pydicom(name):
    assert not _fast_used(get_testdata_file(name))


def test_other_character_sets_go_to_pydicom(tmp_path):
    import numpy as np

    ds = make_dataset(np.zeros((4, 4), dtype=np.int16))
    ds.SpecificCharacterSet = "ISO_IR 144"
    ds.PatientName = "Иванов^Иван"
    path = str(tmp_path / "cyr.dcm")
    save(ds, path)
    assert not _fast_used(path)
    header = read_header(path)
    assert header.patient_name == "Иванов^Иван"


def test_big_endian_synthetic_is_left_to_pydicom(tmp_path):
    series = write_series(tmp_path, n_slices=2, rows=8, cols=8, transfer_syntax=ExplicitVRBigEndian)
    assert not _fast_used(series.paths[0])
    assert pydicom.dcmread(series.paths[0]).Rows == 8
