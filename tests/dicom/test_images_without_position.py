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


def _sheared(tmp_path, shift_per_slice):
    written = write_series(tmp_path, n_slices=10, rows=16, cols=16, spacing=(2.5, 0.8, 0.8))
    for path in written.paths:
        ds = pydicom.dcmread(path)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        k = round((z + 40.0) / 2.5)  # the synthetic origin is at z = -40
        dy = shift_per_slice(k)
        ds.ImagePositionPatient = [x, y + dy, z]
        ds.save_as(path)
    return _load(tmp_path)


def test_a_gantry_tilted_stack_is_told_and_not_reformatted(tmp_path):
    from medviewer.dicom.model import GANTRY_TILT

    series, volume = _sheared(tmp_path, lambda k: 0.5 * k)  # 0.5 mm aside per 2.5 mm slice
    assert volume.geometry.tilt_degrees == pytest.approx(np.degrees(np.arctan2(0.5, 2.5)), 0.01)
    (warning,) = [w for w in series.warnings if w.code == GANTRY_TILT]
    assert "0.5 mm beside the last" in warning.message and "11.3 degrees" in warning.message
    assert "gantry tilt" in mpr.reformat_problem(volume)
    # each slice keeps its own position
    assert volume.index_to_patient(9, 0, 0)[1] - volume.index_to_patient(0, 0, 0)[1] == (
        pytest.approx(4.5)
    )


def test_positions_scattered_rather_than_sheared_are_no_tilt(tmp_path):
    jitter = [0.0, 0.3, -0.2, 0.1, -0.3, 0.2, 0.0, -0.1, 0.3, -0.2]
    series, volume = _sheared(tmp_path, lambda k: jitter[k])
    assert volume.geometry.tilt_degrees == 0.0
    assert mpr.reformat_problem(volume) is None


def test_a_file_copied_twice_is_called_a_copy_not_another_echo(tmp_path):
    import shutil

    written = write_series(tmp_path / "s", n_slices=6, rows=8, cols=8)
    shutil.copy(written.paths[2], tmp_path / "s" / "copy-of-3.dcm")
    series, volume = _load(tmp_path / "s")
    assert volume.array.shape[0] == 6
    (message,) = [w.message for w in series.warnings]
    assert message.startswith("1 file(s) are copies of another image") and "echo" not in message


def _rotating(folder, n):
    """``n`` single images of one series, each projected at another angle about the head."""
    written = write_series(folder, n_slices=n, rows=8, cols=8, shuffle=False)
    for k, path in enumerate(written.paths):
        ds = pydicom.dcmread(path)
        a = np.radians(360.0 * k / n)
        ds.ImageOrientationPatient = [np.cos(a), np.sin(a), 0.0, 0.0, 0.0, -1.0]
        ds.ImagePositionPatient = [0.0, 0.0, 0.0]
        ds.InstanceNumber = n - k  # stored in the reverse of the angle order
        ds.save_as(path)
    return written


def test_a_rotating_projection_is_one_stack_in_instance_order(tmp_path):
    from medviewer.dicom.model import ROTATION

    written = _rotating(tmp_path, 7)
    (series,) = scan([str(tmp_path)]).all_series()
    assert len(series.slices) == 7 and series.n_stacks == 1
    assert [s.instance_number for s in series.slices] == list(range(1, 8))
    assert [w.code for w in series.warnings] == [ROTATION]
    volume = load_volume(series)
    assert volume.geometry.orientation == "unknown" and mpr.reformat_problem(volume)
    # instance 1 is the image written last (the angles were numbered backwards)
    assert np.allclose(volume.array[0], written.values[6])
    assert np.allclose(volume.array[6], written.values[0])


def test_a_three_plane_localizer_stays_three_stacks(tmp_path):
    _rotating(tmp_path, 3)
    stacks = scan([str(tmp_path)]).all_series()
    assert len(stacks) == 3 and all(s.geometry.orientation != "unknown" for s in stacks)
