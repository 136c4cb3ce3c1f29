"""Overlay texts: orientation letters, corner texts (de-identified too), scale bar."""

import dataclasses
import math

import numpy as np
import pytest

from medviewer.dicom import load_volume, scan
from medviewer.dicom.display import Window
from medviewer.session.overlay import (
    DEIDENTIFIED,
    corner_texts,
    direction_letters,
    format_date,
    format_person_name,
    format_value,
    orientation_labels,
    scale_bar_length_mm,
)
from medviewer.testing.synthetic import write_series
from tests.session.sample_cache import sample_study

# --- orientation letters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row_cos", "col_cos", "expected"),
    [
        ((1, 0, 0), (0, 1, 0), {"left": "R", "right": "L", "top": "A", "bottom": "P"}),
        ((1, 0, 0), (0, 0, -1), {"left": "R", "right": "L", "top": "S", "bottom": "I"}),
        ((0, 1, 0), (0, 0, -1), {"left": "A", "right": "P", "top": "S", "bottom": "I"}),
        # Axial flipped left-right and up-down (feet-first prone style).
        ((-1, 0, 0), (0, -1, 0), {"left": "L", "right": "R", "top": "P", "bottom": "A"}),
    ],
)
def test_orientation_labels_of_standard_planes(row_cos, col_cos, expected):
    assert orientation_labels(row_cos, col_cos) == expected


def test_oblique_labels_are_ordered_by_strength():
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    labels = orientation_labels((c, -s, 0), (s, c, 0))  # axial rotated 30 degrees
    assert labels == {"left": "RP", "right": "LA", "top": "AR", "bottom": "PL"}
    assert direction_letters((0.8, -0.6, 0.0)) == "LA"
    assert direction_letters((0.2, -0.6, 0.77)) == "SA"  # 0.2 is below the 0.25 threshold
    assert direction_letters((0.6, -0.5, 0.62)) == "SLA"
    assert direction_letters((0.0, 0.0, 0.0)) == ""
    assert direction_letters((0, 0, -5)) == "I"  # not normalised


# --- formatting ------------------------------------------------------------------------------


def test_dates_names_and_values():
    assert format_date("20260101") == "2026-01-01"
    assert format_date("") == "" and format_date("2026") == "2026"
    assert format_person_name("Doe^Jane") == "Doe, Jane"
    assert format_person_name("Doe^Jane^Q^Dr^Jr") == "Doe, Dr Jane Q Jr"
    assert format_person_name("Doe") == "Doe"
    assert format_person_name("Doe^^^^") == "Doe"
    assert format_person_name("Yamada^Tarou=山田^太郎") == "Yamada, Tarou"
    assert [format_value(v) for v in (80, 40.0, -600, 40.5, 0.25, 1234.6, 2.25, 35.24)] == [
        "80",
        "40",
        "-600",
        "40.5",
        "0.25",
        "1235",
        "2.25",
        "35.2",
    ]


# --- corner texts ----------------------------------------------------------------------------


def test_corner_texts_of_the_sample_study():
    study, series, volume = sample_study()
    study = dataclasses.replace(study, study_date="20250314")
    texts = corner_texts(study, series, volume, 53, Window(40, 80, "Brain"), 1.5, False)
    assert set(texts) == {"top_left", "top_right", "bottom_left", "bottom_right"}
    assert texts["top_left"] == [
        "Anonymous, Cranium",
        "MV-SAMPLE-0001",
        "2025-03-14",
        "Head CT (InVesalius sample)",
    ]
    assert texts["top_right"] == ["CT Se 1", "Axial head 1.5 mm", "256 x 256"]
    assert texts["bottom_left"] == ["Im 54/108", "Pos 79.5 mm", "Thk 1.5 mm"]
    assert texts["bottom_right"] == ["W 80 L 40", "Zoom 150%"]


def test_deidentified_hides_name_id_and_date():
    study, series, volume = sample_study()
    study = dataclasses.replace(study, study_date="20250314")
    texts = corner_texts(study, series, volume, 0, Window(40, 80), 1.0, True)
    everything = " ".join(line for lines in texts.values() for line in lines)
    for secret in ("Cranium", "Anonymous", "MV-SAMPLE-0001", "2025", "20250314"):
        assert secret not in everything
    assert texts["top_left"][0] == DEIDENTIFIED
    assert texts["bottom_left"][0] == "Im 1/108"
    assert texts["bottom_right"] == ["W 80 L 40", "Zoom 100%"]


def test_corner_texts_of_reformatted_planes():
    study, series, volume = sample_study()
    texts = corner_texts(study, series, volume, 128, None, 0.5, False, plane="coronal")
    assert texts["top_right"][-1] == "108 x 256"
    assert texts["bottom_left"][0] == "Im 129/256"
    y = volume.index_to_patient(0, 128, 0)[1]
    assert texts["bottom_left"][1] == f"Pos {y:.1f} mm"
    assert texts["bottom_left"][2] == "Thk 0.96 mm"  # the pixel spacing, 0.957 mm
    assert texts["bottom_right"] == ["Zoom 50%"]  # no window: no W/L line
    assert corner_texts(study, series, volume, 999, None, 1, False)["bottom_left"][0] == (
        "Im 108/108"
    )


def test_corner_texts_before_anything_is_loaded():
    study, series, _ = sample_study()
    texts = corner_texts(None, None, None, 0, None, 1.0, False)
    assert texts == {
        "top_left": [],
        "top_right": [],
        "bottom_left": [],
        "bottom_right": ["Zoom 100%"],
    }
    texts = corner_texts(study, series, None, 0, None, 1.0, False)
    assert texts["top_right"] == ["CT Se 1", "Axial head 1.5 mm", "256 x 256"]
    assert texts["bottom_left"] == []


def test_position_of_a_coronal_series_and_missing_series_number(tmp_path):
    hu = np.zeros((4, 6, 8), dtype=np.int16)
    truth = write_series(tmp_path, hu=hu, spacing=(3.0, 1.0, 1.0), orientation=(1, 0, 0, 0, 0, -1))
    (series,) = scan([tmp_path]).all_series()
    volume = load_volume(series)
    series = dataclasses.replace(series, series_number=None, description="")
    texts = corner_texts(None, series, volume, 2, Window(0.5, 2.25), 2.0, False)
    assert texts["top_right"] == ["CT", "6 x 8"]
    y = truth.positions[2][1]  # the coronal normal is +y (posterior)
    assert texts["bottom_left"] == ["Im 3/4", f"Pos {y:.1f} mm", "Thk 3.0 mm"]
    assert texts["bottom_right"] == ["W 2.25 L 0.5", "Zoom 200%"]


# --- scale bar -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "expected"),
    [(240.0, 50.0), (400.0, 100.0), (40.0, 10.0), (39.9, 5.0), (80.0, 20.0), (3.0, 0.5),
     (1000.0, 200.0), (0.05, 0.01)],
)  # fmt: skip
def test_scale_bar_is_a_nice_length_at_most_a_quarter(width, expected):
    length = scale_bar_length_mm(width)
    assert length == pytest.approx(expected)
    assert 0 < length <= width / 4 + 1e-12


def test_scale_bar_is_nice_for_many_widths():
    for width in np.geomspace(0.5, 5000, 200):
        length = scale_bar_length_mm(width)
        mantissa = length / 10 ** math.floor(math.log10(length))
        assert round(mantissa, 6) in (1.0, 2.0, 5.0)
        assert length <= width / 4 * (1 + 1e-9)
        assert length > width / 4 / 2.5 - 1e-9  # the next nice length would not fit


@pytest.mark.parametrize("width", [0.0, -10.0, float("nan"), float("inf")])
def test_scale_bar_rejects_nonsense(width):
    with pytest.raises(ValueError, match="positive number of millimetres"):
        scale_bar_length_mm(width)
