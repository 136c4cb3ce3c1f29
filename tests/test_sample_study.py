"""The bundled sample study is a faithful DICOM copy of InVesalius' Cranium.inv3."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest

from medviewer.dicom import load_volume, scan
from medviewer.resources import sample_study_dir

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "data" / "invesalius-cranium" / "Cranium.inv3"


def _builder():
    spec = importlib.util.spec_from_file_location(
        "build_sample", ROOT / "resources" / "sample" / "build_sample.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def source_hu():
    assert SOURCE.exists(), f"source data missing: {SOURCE} (shared/data must sit beside the repo)"
    hu, main = _builder().read_inv3(str(SOURCE))
    return hu, main


@pytest.fixture(scope="module")
def sample():
    result = scan([sample_study_dir()])
    assert not result.skipped
    (series,) = result.all_series()
    return series, load_volume(series)


def test_round_trip_is_voxel_exact(sample, source_hu):
    series, volume = sample
    hu, _ = source_hu
    assert volume.array.dtype == np.int16
    assert volume.array.shape == (108, 256, 256)
    # The DICOM rows are flipped (anterior at the top); otherwise every voxel is identical.
    assert np.array_equal(volume.array, hu[:, ::-1, :])
    assert volume.units == "HU"
    assert int(volume.array.min()) == -1024 and int(volume.array.max()) == int(hu.max())


def test_geometry_and_metadata(sample, source_hu):
    series, volume = sample
    _, main = source_hu
    sx, sy, sz = main["spacing"]
    assert volume.spacing == pytest.approx((sz, sy, sx), abs=1e-6)
    assert series.geometry.orientation == "axial"
    assert series.warnings == []
    assert series.transfer_syntaxes == ["1.2.840.10008.1.2.4.90"]  # JPEG 2000 lossless
    assert series.n_files == 108
    ds = pydicom.dcmread(series.slices[0].path, stop_before_pixels=True)
    assert ds.PatientName == "Anonymous^Cranium"
    assert ds.PatientBirthDate == ""
    assert ds.PatientIdentityRemoved == "YES"
    # Sorted inferior to superior, 1.5 mm apart.
    z = [s.position[2] for s in series.slices]
    assert np.allclose(np.diff(z), 1.5)


def test_licence_and_origin_are_shipped():
    folder = sample_study_dir().parent
    assert "GNU GENERAL PUBLIC LICENSE" in (folder / "LICENSE-GPL-2.txt").read_text()
    readme = (folder / "README.md").read_text()
    assert "Cranium.inv3" in readme and "GPL-2" in readme


def test_rebuild_reproduces_the_committed_files(tmp_path, sample):
    series, volume = sample
    paths = _builder().build(str(SOURCE), str(tmp_path))
    assert len(paths) == 108
    rebuilt = scan([tmp_path]).all_series()[0]
    assert rebuilt.series_uid == series.series_uid  # deterministic UIDs
    assert np.array_equal(load_volume(rebuilt).array, volume.array)
    assert sorted(os.listdir(tmp_path)) == sorted(os.listdir(sample_study_dir()))


def _lesion_builder():
    import sys

    sys.path.insert(0, str(ROOT / "resources" / "sample"))
    try:
        spec = importlib.util.spec_from_file_location(
            "build_lesion_sample", ROOT / "resources" / "sample" / "build_lesion_sample.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "resources" / "sample"))
    return module


def test_lesion_sample_is_the_sample_plus_synthetic_lesions_and_rebuilds_exactly(tmp_path, sample):
    from medviewer.resources import lesion_sample_dir

    series, volume = sample
    lesion_series = scan([lesion_sample_dir()]).all_series()[0]
    lesions = load_volume(lesion_series)
    truth = np.load(str(lesion_sample_dir()) + "-truth.npz")
    first = int(truth["first_slice"])
    n = lesions.array.shape[0]
    assert n == 44 and truth["mask"].shape == lesions.array.shape
    # its own identity, flagged as synthetic; the same positions as the slab it came from
    assert lesion_series.series_uid != series.series_uid
    ds = pydicom.dcmread(lesion_series.slices[0].path, stop_before_pixels=True)
    assert ds.PatientID == "MV-SAMPLE-0002" and "SYNTHETIC" in ds.ImageComments
    assert np.allclose(
        [s.position[2] for s in lesion_series.slices],
        [s.position[2] for s in series.slices[first : first + n]],
    )
    # only lesion neighbourhoods changed; lesions of both kinds with their ground truth
    original = volume.array[first : first + n]
    changed = lesions.array != original
    assert changed.any()
    from scipy import ndimage as ndi

    distance = ndi.distance_transform_edt(truth["mask"] == 0, sampling=lesions.spacing)
    assert distance[changed].max() < 15.0  # mm: a lesion's soft edge, nothing farther
    assert set(np.unique(truth["mask"])) == {0, 1, 2}
    assert np.all(lesions.array[truth["mask"] == 1] > original[truth["mask"] == 1])
    assert {0, 1, 2} <= set(truth["labels"].tolist())
    # the head's own (real) frontal lesion is in the truth too: no slice through it is normal
    host = truth["host_lesion"]
    assert np.flatnonzero(host.any(axis=(1, 2))).tolist() == list(range(29, 44))
    assert np.all(truth["mask"][host] > 0) and np.all(truth["labels"][29:44] != 0)
    assert (~changed[host]).mean() > 0.8  # in the scan itself, not added (bar one small lesion)
    # the builder is deterministic
    out = tmp_path / "lesions"
    _lesion_builder().build(str(out))
    assert np.array_equal(load_volume(scan([out]).all_series()[0]).array, lesions.array)
    again = np.load(str(out) + "-truth.npz")
    assert np.array_equal(again["mask"], truth["mask"])
    assert np.array_equal(again["labels"], truth["labels"])
    assert np.array_equal(again["host_lesion"], host)
