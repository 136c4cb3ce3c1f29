"""write_volume: every format keeps voxels (and geometry), files appear atomically."""

import os

import numpy as np
import pytest

from medviewer.dicom import load_volume, scan
from medviewer.dicom.export import OUTPUT_SUFFIXES, output_format, write_volume
from medviewer.errors import MedviewerError
from medviewer.testing.synthetic import write_series

CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    folder = tmp_path_factory.mktemp("src")
    write_series(folder, n_slices=5, rows=12, cols=9, spacing=(2.5, 0.6, 0.9), orientation=CORONAL)
    (series,) = scan([folder]).all_series()
    return load_volume(series)


def test_suffixes():
    assert OUTPUT_SUFFIXES == (".npy", ".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
    assert output_format("a/b/Volume.NII.GZ") == ".nii.gz"
    assert output_format("x.nii") == ".nii"
    assert output_format("x.png") is None and output_format("nii.gz.txt") is None


def test_npy(volume, tmp_path):
    out = tmp_path / "v.npy"
    assert write_volume(volume, out) == str(out)
    array = np.load(out)
    assert array.dtype == volume.array.dtype and np.array_equal(array, volume.array)
    assert os.listdir(tmp_path) == ["v.npy"]


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"])
def test_itk_formats_keep_voxels_and_geometry(volume, tmp_path, suffix):
    import SimpleITK as sitk

    out = tmp_path / f"v{suffix}"
    write_volume(volume, str(out))
    image = sitk.ReadImage(str(out))
    assert np.array_equal(sitk.GetArrayFromImage(image), volume.array)
    assert image.GetSpacing() == pytest.approx((0.9, 0.6, 2.5), abs=1e-5)
    assert image.GetOrigin() == pytest.approx(volume.geometry.origin, abs=1e-4)
    k, j, i = 4, 11, 8
    point = image.TransformIndexToPhysicalPoint((i, j, k))
    assert np.allclose(point, volume.index_to_patient(k, j, i), atol=1e-3)
    names = sorted(os.listdir(tmp_path))
    assert names == (["v.mhd", "v.raw"] if suffix == ".mhd" else [f"v{suffix}"])


def test_overwrites_an_existing_file(volume, tmp_path):
    out = tmp_path / "v.npy"
    out.write_bytes(b"old")
    write_volume(volume, out)
    assert np.array_equal(np.load(out), volume.array)


def test_unknown_suffix_and_missing_folder(volume, tmp_path):
    with pytest.raises(MedviewerError, match=r"cannot tell the output format of .*\.png"):
        write_volume(volume, tmp_path / "v.png")
    missing = tmp_path / "no" / "such"
    with pytest.raises(MedviewerError, match=f"output folder {missing} does not exist"):
        write_volume(volume, missing / "v.npy")
    assert os.listdir(tmp_path) == []


def test_failed_write_leaves_nothing_behind(volume, tmp_path, monkeypatch):
    import SimpleITK as sitk

    def broken(*args, **kwargs):
        raise RuntimeError("Exception thrown in SimpleITK WriteImage\nITK ERROR: disk on fire")

    monkeypatch.setattr(sitk, "WriteImage", broken)
    out = tmp_path / "v.nrrd"
    out.write_bytes(b"previous export")
    with pytest.raises(MedviewerError) as info:
        write_volume(volume, out)
    assert str(info.value) == f"could not write {out} (ITK ERROR: disk on fire)"
    assert out.read_bytes() == b"previous export"  # the old file is untouched
    assert os.listdir(tmp_path) == ["v.nrrd"]  # no temporary folder left
