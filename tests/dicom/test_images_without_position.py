"""Images that carry no position in the patient, or odd geometry tags, as scanners and CDs
send them: a chest film (Pixel Spacing 0\\0, Patient Orientation L\\F, MONOCHROME1), an
ultrasound frame, a single CT slice, an RT Dose grid, Presentation LUT Shape INVERSE.

Nothing may be made up for them: no orientation letters from an axial default, no slice
position, no reformats; a spacing of zero is no spacing."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medviewer.dicom import load_volume, scan
from medviewer.dicom.model import MISSING_SPACING
from medviewer.session import mpr, overlay
from medviewer.testing.synthetic import write_series


def _load(path):
    (series,) = scan([str(path)]).all_series()
    return series, load_volume(series)


def _first_plane(volume):
    return mpr.reformat(volume, mpr.acquired_plane(volume), 0)


def test_a_chest_film_with_zero_spacing_gets_its_own_letters_and_nothing_made_up():
    path = get_testdata_file("RG1_UNCR.dcm")
    assert [float(v) for v in pydicom.dcmread(path, stop_before_pixels=True).PixelSpacing] == [
        0.0,
        0.0,
    ]
    series, volume = _load(path)
    # a zero spacing is no spacing: pixels of 1 (not 0) and a warning, not a black view
    assert volume.geometry.spacing[1:] == (1.0, 1.0)
    assert any(w.code == MISSING_SPACING for w in volume.warnings)
    # Patient Orientation L\F: L on the right edge, F at the bottom (not axial R/L/A/P)
    assert overlay.edge_labels(volume, _first_plane(volume)) == {
        "left": "R",
        "right": "L",
        "top": "H",
        "bottom": "F",
    }
    corners = overlay.corner_texts(None, series, volume, 0, None, 1.0, False)
    assert corners["bottom_left"] == ["Im 1/1"]  # no "Pos 0.0 mm", no made-up "Thk 1.0 mm"
    assert "Image Position" in mpr.reformat_problem(volume)
    assert volume.invert  # MONOCHROME1


def test_an_ultrasound_frame_has_no_letters_and_no_reformats():
    series, volume = _load(get_testdata_file("US1_UNCR.dcm"))
    assert overlay.edge_labels(volume, _first_plane(volume)) == {}
    assert not any(
        t.startswith(("Pos", "Thk"))
        for t in overlay.corner_texts(None, series, volume, 0, None, 1.0, False)["bottom_left"]
    )
    assert mpr.reformat_problem(volume) is not None


def test_a_single_ct_slice_keeps_its_position_but_has_no_reformats():
    series, volume = _load(get_testdata_file("CT_small.dcm"))
    corners = overlay.corner_texts(None, series, volume, 0, None, 1.0, False)["bottom_left"]
    assert corners[1].startswith("Pos ") and corners[2] == "Thk 5.0 mm"
    assert overlay.edge_labels(volume, _first_plane(volume))["left"] == "R"
    assert "more than one slice" in mpr.reformat_problem(volume)


def test_an_rt_dose_grid_is_placed_by_its_frame_offsets_and_scaled_to_gray():
    path = get_testdata_file("rtdose.dcm")
    ds = pydicom.dcmread(path)
    offsets = [float(v) for v in ds.GridFrameOffsetVector]
    series, volume = _load(path)
    assert not volume.warnings and not series.warnings  # its positions are used, not missing
    assert volume.geometry.spacing[0] == pytest.approx(offsets[1] - offsets[0])
    z = [volume.index_to_patient(k, 0, 0)[2] for k in range(volume.array.shape[0])]
    assert np.allclose(np.diff(z), np.diff(offsets))
    stored = ds.pixel_array.astype(np.float64)
    assert np.allclose(volume.array, stored * float(ds.DoseGridScaling), rtol=1e-5)
    assert mpr.reformat_problem(volume) is None


@pytest.mark.parametrize(
    "photometric, shape, inverted",
    [
        ("MONOCHROME2", "INVERSE", True),
        ("MONOCHROME2", "IDENTITY", False),
        ("MONOCHROME1", "INVERSE", True),  # the usual shape of MONOCHROME1: not inverted twice
    ],
)
def test_presentation_lut_shape_inverse_is_drawn_inverted(tmp_path, photometric, shape, inverted):
    (path,) = write_series(tmp_path, n_slices=1, rows=8, cols=8).paths
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = photometric
    ds.PresentationLUTShape = shape
    ds.save_as(path)
    _series, volume = _load(path)
    assert volume.invert is inverted
