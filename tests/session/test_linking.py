"""Linked scrolling by patient position, manual offsets for priors, and reference lines.

Every expectation is computed independently from ``Volume.index_to_patient`` (the scanner's
geometry), never from the code under test.
"""

import math

import numpy as np
import pytest

from medviewer.dicom import load_volume, scan
from medviewer.session import mpr
from medviewer.session.linking import (
    follow,
    link_refusal,
    linked_index,
    offset_between,
    offset_for,
    pair_key,
    plane_center_mm,
    plane_normal,
    reference_line,
    same_frame,
    store_offset,
)
from medviewer.session.plane_geometry import plane_geometry
from medviewer.testing.synthetic import make_dataset, save, write_series

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
TILT = math.radians(20.0)
OBLIQUE = (1.0, 0.0, 0.0, 0.0, math.cos(TILT), math.sin(TILT))  # axial tilted 20 deg about x
FRAME = "1.2.826.0.1.3680043.8.498.1801"
PRIOR_FRAME = "1.2.826.0.1.3680043.8.498.1802"


def _load(folder, **kwargs):
    kwargs.setdefault("rows", 24)
    kwargs.setdefault("cols", 20)
    write_series(folder, **kwargs)
    result = scan([folder])
    (study,) = result.studies
    (series,) = study.series
    return load_volume(series), study


@pytest.fixture(scope="module")
def vols(tmp_path_factory):
    root = tmp_path_factory.mktemp("linking")
    specs = {
        # same frame, different spacing, pixel size and origin
        "thin": dict(n_slices=40, spacing=(1.25, 0.8, 0.8), origin=(-25.0, -25.0, -40.0)),
        "thick": dict(n_slices=10, spacing=(5.0, 0.7, 0.9), origin=(-20.0, -22.0, -37.3)),
        "oblique": dict(
            n_slices=16, spacing=(3.0, 0.9, 0.8), orientation=OBLIQUE, origin=(-18, -30, -45)
        ),
        "gap": dict(
            n_slices=7,
            spacing=(2.5, 0.8, 0.8),
            origin=(-25.0, -25.0, -40.0),
            z_offsets=[0.0, 2.5, 5.0, 7.5, 20.0, 22.5, 25.0],
        ),
        "single": dict(n_slices=1, spacing=(2.0, 0.8, 0.8), origin=(-25.0, -25.0, -20.3)),
        "sagittal": dict(
            n_slices=12, spacing=(2.0, 0.8, 0.8), orientation=SAGITTAL, origin=(10, -25, 20)
        ),
    }
    out = {}
    for name, spec in specs.items():
        out[name] = _load(
            root / name, frame_of_reference_uid=FRAME, series_description=name, **spec
        )
    # A prior: same patient, another study and frame; the anatomy lies 100 mm higher (z).
    out["prior"] = _load(
        root / "prior",
        n_slices=20,
        spacing=(2.5, 0.8, 0.8),
        origin=(-25.0, -25.0, 60.0),
        frame_of_reference_uid=PRIOR_FRAME,
        study_date="20240101",
        series_description="prior",
    )
    out["other_patient"] = _load(
        root / "other", n_slices=5, patient_id="SOMEONE-ELSE", series_description="other"
    )
    out["prior_sagittal"] = _load(
        root / "prior_sag",
        n_slices=12,
        spacing=(2.0, 0.8, 0.8),
        orientation=SAGITTAL,
        origin=(40.0, -25.0, 20.0),
        frame_of_reference_uid=PRIOR_FRAME,
        series_description="prior sagittal",
    )
    folder = root / "nopos"
    folder.mkdir()
    for k in range(6):  # no Image Position / Orientation at all
        pixels = np.full((16, 16), k, dtype=np.int16)
        ds = make_dataset(
            pixels,
            position=None,
            orientation=None,
            instance_number=k + 1,
            series_uid="1.2.3.9",
            study_uid="1.2.3.8",
            series_description="no positions",
        )
        save(ds, str(folder / f"im{k}.dcm"))
    (series,) = scan([folder]).all_series()
    out["nopos"] = (load_volume(series), scan([folder]).studies[0])
    return out


def _axis(volume, plane):
    """Axis of volume.array (k, j, i) along which the plane index moves (from mpr)."""
    a, b = mpr.to_index(volume, plane, 0, 0, 0), mpr.to_index(volume, plane, 1, 0, 0)
    return next(n for n in range(3) if a[n] != b[n])


def _centre(volume, plane, index):
    """Patient position of the centre of a plane, from index_to_patient."""
    nk, nj, ni = volume.array.shape[:3]
    kji = np.array([(nk - 1) / 2, (nj - 1) / 2, (ni - 1) / 2])
    kji[_axis(volume, plane)] = index
    return volume.index_to_patient(*kji)


def _normal(volume, plane):
    """Unit vector towards increasing plane index, from index_to_patient."""
    step = np.zeros(3)
    step[_axis(volume, plane)] = 1.0
    d = volume.index_to_patient(*step) - volume.index_to_patient(0, 0, 0)
    return d / np.linalg.norm(d)


def _check(target, src, src_plane, i, dst, dst_plane, tolerance, offset=0.0):
    """Assert ``target`` is the dst plane nearest to the src plane centre moved ``offset`` mm
    along the dst normal, or None when none is within ``tolerance``; returns its index."""
    point = _centre(src, src_plane, i)
    n = _normal(dst, dst_plane)
    count = mpr.plane_count(dst, dst_plane)
    distances = [abs(np.dot(_centre(dst, dst_plane, m) - point, n) - offset) for m in range(count)]
    best = min(distances)
    if target.index is None:
        assert best >= tolerance - 1e-6, (i, best)
        assert target.distance_mm == pytest.approx(best, abs=1e-5)
        assert f"no slice within half a slice thickness ({best:.1f} mm away)" == target.notice
    else:
        assert distances[target.index] <= best + 1e-6, (i, target.index, distances)
        assert distances[target.index] <= tolerance + 1e-6, (i, best)
        assert target.distance_mm == pytest.approx(best, abs=1e-5) and target.notice == ""
    return target.index


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
@pytest.mark.parametrize("name", ["thin", "oblique"])
def test_plane_centre_and_normal_match_index_to_patient(vols, name, plane):
    volume = vols[name][0]
    assert np.allclose(plane_normal(volume, plane), _normal(volume, plane), atol=1e-9)
    for index in (0, mpr.plane_count(volume, plane) - 1):
        assert np.allclose(plane_center_mm(volume, plane, index), _centre(volume, plane, index))
    with pytest.raises(IndexError):
        plane_center_mm(volume, plane, mpr.plane_count(volume, plane))


@pytest.mark.parametrize(("src_name", "dst_name"), [("thin", "thick"), ("thick", "thin")])
def test_same_frame_different_spacing_lands_within_half_the_thicker_slice(vols, src_name, dst_name):
    src, dst = vols[src_name][0], vols[dst_name][0]
    assert same_frame(src, dst)
    half_thicker = 2.5  # 5 mm vs 1.25 mm slices
    found = missing = 0
    for i in range(mpr.plane_count(src, "acquired")):
        target = linked_index(src, "acquired", i, dst, "acquired")
        got = _check(target, src, "acquired", i, dst, "acquired", half_thicker)
        if got is None:
            missing += 1
        else:
            found += 1
            z_src = _centre(src, "axial", i)[2]
            z_dst = dst.index_to_patient(got, 0, 0)[2]
            assert abs(z_src - z_dst) < half_thicker
    assert found == mpr.plane_count(src, "acquired") - missing
    assert missing == (1 if src_name == "thin" else 0)  # thin slice 0 is 2.7 mm below thick


def test_reformatted_planes_link_across_series(vols):
    src, dst = vols["thin"][0], vols["thick"][0]
    for plane in ("coronal", "sagittal"):
        for i in range(0, mpr.plane_count(src, plane), 3):
            target = linked_index(src, plane, i, dst, plane)
            _check(target, src, plane, i, dst, plane, 0.45)  # half of 0.8 vs 0.9 mm


@pytest.mark.parametrize(("src_name", "dst_name"), [("oblique", "thin"), ("thin", "oblique")])
def test_oblique_series_links_to_an_axial_one(vols, src_name, dst_name):
    src, dst = vols[src_name][0], vols[dst_name][0]
    assert mpr.acquired_plane(vols["oblique"][0]) == "axial"
    tolerance = 1.5  # half of the 3 mm oblique slices
    hits = 0
    for i in range(mpr.plane_count(src, "acquired")):
        target = linked_index(src, "acquired", i, dst, "acquired")
        got = _check(target, src, "acquired", i, dst, "acquired", tolerance)
        if got is not None:
            hits += 1
            point = _centre(src, "acquired", i)
            n = _normal(dst, "acquired")
            assert abs(np.dot(_centre(dst, "acquired", got) - point, n)) < tolerance
    assert hits >= 8


def test_a_gap_in_the_series_gives_no_slice_with_the_notice(vols):
    src, gap = vols["thin"][0], vols["gap"][0]
    # the slices after the gap lie at their scanner positions, not at equal spacing
    geom = plane_geometry(gap, "acquired")
    assert not geom.uniform
    assert np.allclose(geom.positions - geom.positions[0], [0, 2.5, 5, 7.5, 20, 22.5, 25])
    # thin slice 12 is at z = -25, inside the gap: 5 mm below the next slice (z = -20)
    target = linked_index(src, "acquired", 12, gap, "acquired")
    assert target.index is None
    assert target.distance_mm == pytest.approx(5.0)
    assert target.notice == "no slice within half a slice thickness (5.0 mm away)"
    # after the gap: thin slice 16 (z = -20) is gap slice 4 (z = -40 + 20)
    assert linked_index(src, "acquired", 16, gap, "acquired").index == 4
    assert linked_index(gap, "acquired", 4, src, "acquired").index == 16
    assert linked_index(src, "acquired", 6, gap, "acquired").index == 3  # both at z = -32.5
    assert linked_index(src, "acquired", 8, gap, "acquired").index is None  # 2.5 mm away
    z_gap = -40.0 + np.array([0.0, 2.5, 5.0, 7.5, 20.0, 22.5, 25.0])
    for i in range(40):
        target = linked_index(src, "acquired", i, gap, "acquired")
        distances = np.abs(z_gap - (-40.0 + 1.25 * i))
        if target.index is None:
            assert distances.min() > 1.25 + 1e-6, i
        else:
            assert distances[target.index] <= min(distances.min(), 1.25) + 1e-5, i


def test_the_position_shown_after_a_gap_is_the_slices_own(vols):
    # The "Pos" corner text and the cursor's patient coordinates of a slice after the gap
    # are those the scanner wrote, the same positions linked scrolling uses.
    gap = vols["gap"][0]
    z_gap = -40.0 + np.array([0.0, 2.5, 5.0, 7.5, 20.0, 22.5, 25.0])
    for k, z in enumerate(z_gap):
        image = mpr.reformat(gap, "acquired", k)
        assert mpr.plane_position_mm(gap, image) == pytest.approx(z, abs=1e-4)
        assert gap.index_to_patient(k, 3, 2)[2] == pytest.approx(z, abs=1e-4)


def test_manual_offset_links_a_prior_in_another_frame(vols):
    (current, study), (prior, prior_study) = vols["thin"], vols["prior"]
    assert not same_frame(current, prior)
    assert link_refusal((study, current.series), (prior_study, prior.series)) is None
    not_yet = follow(current, "acquired", 8, prior, "acquired")
    assert not not_yet.moves and not_yet.index is None and "frame of reference" in not_yet.notice
    # the user aligns current slice 8 (z = -30) with prior slice 4 (z = 70): 100 mm
    offset = offset_for(current, "acquired", 8, prior, "acquired", 4)
    assert offset == pytest.approx(100.0)
    assert linked_index(current, "acquired", 8, prior, "acquired", offset).index == 4
    hits = 0
    for i in range(mpr.plane_count(current, "acquired")):
        target = follow(current, "acquired", i, prior, "acquired", offset)
        assert target.moves
        got = _check(target, current, "acquired", i, prior, "acquired", 1.25, offset)
        if got is not None:
            hits += 1
            z_prior = prior.index_to_patient(got, 0, 0)[2]
            assert abs(z_prior - 100.0 - current.index_to_patient(i, 0, 0)[2]) <= 1.25 + 1e-6
    assert hits == 40
    # remembered for the pair, negated for the reverse direction
    offsets: dict[str, float] = {}
    a, b = current.series.key, prior.series.key
    store_offset(offsets, a, b, offset)
    assert list(offsets) == [pair_key(a, b)] == [pair_key(b, a)]
    assert offset_between(offsets, a, b) == pytest.approx(offset)
    back = offset_between(offsets, b, a)
    assert back == pytest.approx(-offset)
    for m in range(mpr.plane_count(prior, "acquired")):
        target = linked_index(prior, "acquired", m, current, "acquired", back)
        _check(target, prior, "acquired", m, current, "acquired", 1.25, back)
    assert offset_between({}, a, b) is None


def test_reverse_offset_holds_when_the_normals_point_opposite_ways(vols):
    """A sagittal acquisition (normal towards the right) and a sagittal reformat (normal
    towards the left): the stored offset still works both ways."""
    current, prior = vols["thin"][0], vols["prior_sagittal"][0]
    assert np.dot(plane_normal(current, "sagittal"), plane_normal(prior, "sagittal")) < -0.99
    offset = offset_for(current, "sagittal", 10, prior, "acquired", 3)
    offsets: dict[str, float] = {}
    store_offset(offsets, current.series.key, prior.series.key, offset)
    back = offset_between(offsets, prior.series.key, current.series.key)
    assert linked_index(current, "sagittal", 10, prior, "acquired", offset).index == 3
    assert linked_index(prior, "acquired", 3, current, "sagittal", back).index == 10
    shift = _centre(prior, "acquired", 3)[0] - _centre(current, "sagittal", 10)[0]  # 51 mm
    assert shift == pytest.approx(51.0) and back == pytest.approx(-51.0)
    for m in range(mpr.plane_count(prior, "acquired")):
        target = linked_index(prior, "acquired", m, current, "sagittal", back)
        _check(target, prior, "acquired", m, current, "sagittal", 1.0, -shift)


def test_different_patients_are_refused_with_the_reason(vols):
    (a, study_a), (b, study_b) = vols["thin"], vols["other_patient"]
    reason = link_refusal((study_a, a.series), (study_b, b.series))
    assert reason is not None and "different patients" in reason and "Patient ID" in reason
    assert "SOMEONE-ELSE" not in reason and study_a.patient_id not in reason
    assert link_refusal((study_b, b.series), (study_a, a.series)) == reason
    assert link_refusal((study_a, a.series), (study_a, vols["thick"][0].series)) is None
    assert link_refusal((None, a.series), (study_b, b.series)) is None


def test_series_without_positions_links_by_index_with_a_notice(vols):
    nopos, thin = vols["nopos"][0], vols["thin"][0]
    assert nopos.geometry.orientation == "unknown"
    assert not same_frame(nopos, nopos)
    target = linked_index(thin, "acquired", 39, nopos, "acquired")
    assert (target.index, target.distance_mm) == (5, None)
    assert target.notice == (
        "linked by slice index: no positions has no slice positions or orientation"
    )
    assert linked_index(thin, "acquired", 0, nopos, "acquired").index == 0
    assert linked_index(thin, "acquired", 20, nopos, "acquired").index == 3  # 20/39*5 = 2.56
    assert linked_index(nopos, "acquired", 2, thin, "acquired").index == round(2 / 5 * 39)
    assert linked_index(nopos, "acquired", 4, nopos, "acquired").index == 4
    assert follow(thin, "acquired", 39, nopos, "acquired").index == 5  # moves, by index


def test_single_slice_series_links_both_ways(vols):
    thin, single = vols["thin"][0], vols["single"][0]
    assert single.array.shape[0] == 1
    # the single slice lies at z = -20.3, thin slice 16 at -20.0, slice 15 at -21.25
    assert linked_index(single, "acquired", 0, thin, "acquired").index == 16
    assert linked_index(thin, "acquired", 16, single, "acquired").index == 0
    assert linked_index(thin, "acquired", 15, single, "acquired").index == 0  # 0.95 < 1.0
    far = linked_index(thin, "acquired", 14, single, "acquired")  # 2.2 mm away
    assert far.index is None and "2.2 mm away" in far.notice
    line = reference_line(single, "acquired", 0, thin, "coronal", 5)
    rows = thin.array.shape[0]
    # coronal row r (top = superior) holds slice rows - 1 - r; z = -20.3 is 15.76 slices up
    y = rows - 1 - (-20.3 + 40.0) / 1.25 + 0.5
    assert np.allclose(line, [(y, 0.0), (y, thin.array.shape[2])], atol=1e-9)


@pytest.mark.parametrize("plane", ["coronal", "sagittal"])
def test_reference_line_of_an_axial_slice_is_horizontal_at_the_right_row(vols, plane):
    volume = vols["thin"][0]
    nk = volume.array.shape[0]
    width = mpr.reformat(volume, plane, 0).shape[1]
    for k in (0, 7, nk - 1):
        line = reference_line(volume, "axial", k, volume, plane, 4)
        y = nk - 1 - k + 0.5  # superior at the top: slice k is row nk - 1 - k
        assert np.allclose(line, [(y, 0.0), (y, width)], atol=1e-9)


def _image_point(volume, plane, index, row, col):
    """Patient position of float image coordinates (row, col) from index_to_patient."""
    image = mpr.reformat(volume, plane, index)
    corner = volume.index_to_patient(*mpr.to_index(volume, plane, index, 0, 0))
    return (
        corner
        + (col - 0.5) * image.col_spacing * np.asarray(image.row_cos)
        + (row - 0.5) * image.row_spacing * np.asarray(image.col_cos)
    )


@pytest.mark.parametrize(
    ("src_name", "src_plane", "dst_plane"),
    [
        ("thin", "axial", "coronal"),
        ("oblique", "acquired", "coronal"),
        ("thin", "coronal", "sagittal"),
    ],
)
def test_reference_line_lies_on_the_source_plane_and_the_image_border(
    vols, src_name, src_plane, dst_plane
):
    src, dst = vols[src_name][0], vols["thick"][0]
    index = mpr.plane_count(src, src_plane) // 2
    dst_index = 6
    line = reference_line(src, src_plane, index, dst, dst_plane, dst_index)
    assert line is not None
    rows, cols = mpr.reformat(dst, dst_plane, dst_index).shape
    point = _centre(src, src_plane, index)
    n = _normal(src, src_plane)
    for row, col in line:
        # within 0.1 µm: index_to_patient places slices at their stored Image Positions,
        # which the files hold to about 1 µm
        assert abs(np.dot(_image_point(dst, dst_plane, dst_index, row, col) - point, n)) < 1e-4
        on_border = min(abs(row), abs(row - rows), abs(col), abs(col - cols))
        assert on_border < 1e-9 and -1e-9 <= row <= rows + 1e-9 and -1e-9 <= col <= cols + 1e-9
    (r0, c0), (r1, c1) = line
    if src_name == "oblique":  # tilted 20 degrees: a sloping line, crossing the whole width
        assert (c0, c1) == (0.0, cols)
        slope_mm = (r1 - r0) * 0.7 / ((c1 - c0) * 0.9)
        assert abs(slope_mm) < 1e-6  # tilt is about x: still level across a coronal image
    elif dst_plane == "sagittal":  # a coronal plane is vertical on a sagittal image
        assert c0 == pytest.approx(c1) and {r0, r1} == {0.0, float(rows)}


def test_reference_line_of_the_oblique_series_slopes_on_a_sagittal_image(vols):
    src, dst = vols["oblique"][0], vols["thin"][0]
    line = reference_line(src, "acquired", 8, dst, "sagittal", 10)
    assert line is not None
    (r0, c0), (r1, c1) = line
    image = mpr.reformat(dst, "sagittal", 10)
    angle = math.degrees(math.atan2((r1 - r0) * image.row_spacing, (c1 - c0) * image.col_spacing))
    assert abs(abs(angle) - 20.0) < 1e-4  # cosines are stored to 6 decimals


def test_reference_line_is_none_for_parallel_planes_misses_and_other_frames(vols):
    thin, thick, prior = vols["thin"][0], vols["thick"][0], vols["prior"][0]
    assert reference_line(thin, "axial", 5, thick, "axial", 5) is None
    assert reference_line(thin, "acquired", 5, thin, "acquired", 6) is None
    assert reference_line(thin, "coronal", 3, thick, "coronal", 2) is None
    # the axial planes of the sagittal series run from z = 20 (index 0) down to z = 1.6:
    # z = 20 lies above the whole coronal image of thin (z -40.6 .. 9.4), z = 4 inside it
    sagittal = vols["sagittal"][0]
    assert plane_normal(sagittal, "axial") == pytest.approx([0.0, 0.0, -1.0])
    assert reference_line(sagittal, "axial", 0, thin, "coronal", 3) is None
    line = reference_line(sagittal, "axial", 20, thin, "coronal", 3)
    assert np.allclose(line, [(40 - 1 - (4 + 40) / 1.25 + 0.5, 0), (4.3, 20)], atol=1e-9)
    # another frame of reference: positions are not comparable, no line
    assert reference_line(thin, "axial", 5, prior, "coronal", 5) is None
    other = vols["other_patient"][0]  # z -40 .. -30 like thin, but its own frame
    assert reference_line(thin, "axial", 5, other, "coronal", 5) is None
    assert reference_line(thin, "axial", 5, thick, "coronal", 5) is not None
    # same volume, planes that cross: a line
    assert reference_line(thin, "axial", 5, thin, "coronal", 5) is not None


def test_plane_geometry_is_cached_per_volume_and_plane(vols):
    volume = vols["thin"][0]
    assert plane_geometry(volume, "acquired") is plane_geometry(volume, "axial")
    assert plane_geometry(volume, "coronal") is not plane_geometry(volume, "axial")
