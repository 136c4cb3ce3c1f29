"""Text the viewer draws over an image: orientation letters, corner texts, scale bar length.

Patient directions follow DICOM LPS: +x patient Left (L), -x Right (R), +y Posterior (P),
-y Anterior (A), +z Superior (S), -z Inferior (I). On screen the column index increases to the
right along ``row_cos`` and the row index increases downwards along ``col_cos``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from medviewer.dicom.display import Window
from medviewer.dicom.model import SeriesInfo, StudyInfo
from medviewer.dicom.volume import Volume
from medviewer.session import mpr

# A patient axis takes part in an oblique label when its cosine exceeds this (RadiAnt, Horos).
LABEL_MIN_COSINE = 0.25
DEIDENTIFIED = "De-identified"
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (negative, positive) per patient axis


def direction_letters(vector: Sequence[float]) -> str:
    """Letters of a patient direction, strongest axis first (``(0.8, -0.6, 0)`` -> ``"LA"``).

    Axes whose cosine is at most :data:`LABEL_MIN_COSINE` are left out; ``""`` for a zero
    vector.
    """
    v = np.asarray(vector, dtype=float)
    norm = float(np.linalg.norm(v))
    if not norm or not math.isfinite(norm):
        return ""
    v = v / norm
    order = sorted(range(3), key=lambda a: -abs(v[a]))
    return "".join(_LETTERS[a][int(v[a] > 0)] for a in order if abs(v[a]) > LABEL_MIN_COSINE)


def orientation_labels(row_cos: Sequence[float], col_cos: Sequence[float]) -> dict[str, str]:
    """Letters for the four screen edges: keys ``left``, ``right``, ``top``, ``bottom``.

    Standard axial (row_cos 1\\0\\0, col_cos 0\\1\\0): left ``R``, right ``L``, top ``A``,
    bottom ``P``.
    """
    row = np.asarray(row_cos, dtype=float)
    col = np.asarray(col_cos, dtype=float)
    return {
        "left": direction_letters(-row),
        "right": direction_letters(row),
        "top": direction_letters(-col),
        "bottom": direction_letters(col),
    }


_OPPOSITE = str.maketrans("LRAPHF", "RLPAFH")


def positioned(volume: Volume) -> bool:
    """Whether ``volume``'s images have a position and orientation in the patient: not so
    for projection images (CR, DX, MG), most ultrasound and secondary captures, whose
    orientation letters, slice position and reformats would be made up."""
    return volume.geometry.orientation != "unknown"


def edge_labels(volume: Volume, image: mpr.PlaneImage) -> dict[str, str]:
    """The orientation letters of ``image`` (a plane of ``volume``): from the images'
    orientation; without one, from the slice's (0020,0020) Patient Orientation (a chest film's
    "L\\F": L on the right, F at the bottom); else none rather than made-up ones."""
    if positioned(volume):
        return orientation_labels(image.row_cos, image.col_cos)
    slices = volume.series.slices
    if image.plane == mpr.acquired_plane(volume) and image.index < len(slices):
        po = slices[image.index].patient_orientation
        if po:
            rows, cols = po
            return {
                "left": rows.translate(_OPPOSITE),
                "right": rows,
                "top": cols.translate(_OPPOSITE),
                "bottom": cols,
            }
    return {}


def format_date(value: str) -> str:
    """DICOM DA ``YYYYMMDD`` as ``YYYY-MM-DD``; anything else is returned unchanged."""
    text = (value or "").strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def format_person_name(value: str) -> str:
    """DICOM PN ``Last^First^Middle^Prefix^Suffix`` as ``Last, First Middle``.

    Only the first (alphabetic) component group is used; empty parts are dropped.
    """
    text = str(value or "").split("=")[0].strip()
    if "^" not in text:
        return text
    parts = [p.strip() for p in text.split("^")]
    family = parts[0]
    given = " ".join(p for p in parts[1:3] if p)
    prefix = parts[3] if len(parts) > 3 else ""
    suffix = parts[4] if len(parts) > 4 else ""
    name = ", ".join(p for p in (family, " ".join(x for x in (prefix, given) if x)) if p)
    return f"{name} {suffix}".strip()


def format_value(value: float) -> str:
    """A window or pixel value for display: ``80``, ``-600``, ``1235``, ``40.5``, ``2.25``.

    Whole numbers and values from 100 up are rounded to integers, others keep 3 significant
    digits.
    """
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if v.is_integer() or abs(v) >= 100:
        return f"{round(v):d}"
    return f"{v:.3g}"


def _mm(value: float) -> str:
    v = round(float(value), 1) + 0.0  # no "-0.0"
    return f"{v:.1f}"


def _thickness_mm(value: float) -> str:
    """1.5, 3.0, 0.96: one decimal, two where one would round a sub-millimetre thickness
    (a reformat at the pixel spacing, 0.957 mm, is not "1.0")."""
    v = float(value)
    text = f"{v:.1f}"
    return text if abs(float(text) - v) < 0.02 else f"{v:.2f}"


def corner_texts(
    study: StudyInfo | None,
    series: SeriesInfo | None,
    volume: Volume | None,
    slice_index: int,
    window: Window | None,
    zoom: float,
    deidentified: bool,
    plane: str = "acquired",
) -> dict[str, list[str]]:
    """The four corner texts of a view, one list of lines per corner.

    Parameters
    ----------
    study, series, volume
        What is shown (each may be None while a study is opening).
    slice_index : int
        Index of the plane shown (along ``plane``'s normal; the slice for ``"acquired"``).
    window : Window or None
        The current window (None for colour images: no W/L line).
    zoom : float
        Display scale, 1.0 for 100 %.
    deidentified : bool
        When True no patient name, ID, birth date or study date appears, only
        ``"De-identified"``.
    plane : str
        ``"acquired"``, ``"axial"``, ``"coronal"`` or ``"sagittal"``.

    Returns
    -------
    dict
        Keys ``top_left``, ``top_right``, ``bottom_left``, ``bottom_right``.
    """
    if series is None and volume is not None:
        series = volume.series
    top_left: list[str] = []
    if deidentified:
        top_left.append(DEIDENTIFIED)
    elif study is not None:
        name = format_person_name(study.patient_name)
        top_left += [t for t in (name, study.patient_id, format_date(study.study_date)) if t]
    if study is not None and study.description:
        top_left.append(study.description)

    top_right: list[str] = []
    if series is not None:
        number = "" if series.series_number is None else f" Se {series.series_number}"
        top_right.append(f"{series.modality}{number}".strip())
        if series.description:
            top_right.append(series.description)

    bottom_left: list[str] = []
    if volume is not None and volume.array.size:
        image = mpr.reformat(volume, plane, _clamp(slice_index, mpr.plane_count(volume, plane)))
        rows, cols = image.shape
        top_right.append(f"{rows} x {cols}")
        bottom_left.append(f"Im {image.index + 1}/{image.count}")
        if positioned(volume):
            bottom_left.append(f"Pos {_mm(mpr.plane_position_mm(volume, image))} mm")
            bottom_left.append(f"Thk {_thickness_mm(_thickness(volume, image))} mm")
        else:  # no position to show; a thickness only when the file states one
            thickness = _stated_thickness(volume, image)
            if thickness is not None:
                bottom_left.append(f"Thk {_thickness_mm(thickness)} mm")
    elif series is not None:
        fmt = series.pixel_format
        top_right.append(f"{fmt.rows} x {fmt.cols}")

    bottom_right: list[str] = []
    if window is not None:
        width = format_value(window.shown_width)
        bottom_right.append(f"W {width} L {format_value(window.center)}")
    bottom_right.append(f"Zoom {round(float(zoom) * 100):d}%")
    return {
        "top_left": top_left,
        "top_right": top_right,
        "bottom_left": bottom_left,
        "bottom_right": bottom_right,
    }


def _clamp(index: int, count: int) -> int:
    return int(min(max(int(index), 0), max(count - 1, 0)))


def _stated_thickness(volume: Volume, image: mpr.PlaneImage) -> float | None:
    """(0018,0050) Slice Thickness of an acquired slice, when the file gives one."""
    if image.plane == mpr.acquired_plane(volume):
        slices = volume.series.slices
        if image.index < len(slices):
            thickness = slices[image.index].slice_thickness
            if thickness and thickness > 0:
                return float(thickness)
    return None


def _thickness(volume: Volume, image: mpr.PlaneImage) -> float:
    """(0018,0050) Slice Thickness of an acquired slice, else the spacing along the normal."""
    stated = _stated_thickness(volume, image)
    return stated if stated is not None else mpr.slice_spacing(volume, image.plane)


def scale_bar_length_mm(view_width_mm: float) -> float:
    """The longest "nice" length (1, 2 or 5 x 10^n mm) at most a quarter of the view width.

    Raises ValueError unless ``view_width_mm`` is a positive finite number.
    """
    width = float(view_width_mm)
    if not (math.isfinite(width) and width > 0):
        raise ValueError(f"view width must be a positive number of millimetres, got {width!r}")
    limit = width / 4.0
    exponent = math.floor(math.log10(limit))
    best = 0.0
    for n in (exponent - 1, exponent, exponent + 1):
        for m in (1, 2, 5):
            candidate = m * 10.0**n
            if candidate <= limit * (1 + 1e-9) and candidate > best:
                best = candidate
    return float(f"{best:.12g}")


__all__ = [
    "CORNERS",
    "DEIDENTIFIED",
    "LABEL_MIN_COSINE",
    "corner_texts",
    "direction_letters",
    "format_date",
    "format_person_name",
    "format_value",
    "edge_labels",
    "orientation_labels",
    "positioned",
    "scale_bar_length_mm",
]
