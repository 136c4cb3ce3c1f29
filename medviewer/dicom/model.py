"""Plain data objects the DICOM core hands out (no Qt, no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Warning codes attached to a series (``LoadWarning.code``).
MIXED_SIZES = "mixed_sizes"
MISSING_POSITION = "missing_position"
NONUNIFORM_SPACING = "nonuniform_spacing"
DUPLICATE_POSITION = "duplicate_position"
OBLIQUE = "oblique"
LOSSY_COMPRESSION = "lossy_compression"
SLICE_UNREADABLE = "slice_unreadable"
MISSING_SPACING = "missing_spacing"
GANTRY_TILT = "gantry_tilt"
ROTATION = "rotation"

# Codes of files a scan could not use (``Skipped.code``).
NOT_DICOM = "not_dicom"
NO_PIXEL_DATA = "no_pixel_data"
CORRUPT = "corrupt"
UNSUPPORTED_SYNTAX = "unsupported_syntax"
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class LoadWarning:
    """A recoverable problem found while scanning or loading; the result is still usable."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Skipped:
    """A file the scan could not use, with a reason a radiologist understands."""

    path: str
    code: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason, "code": self.code}


@dataclass(frozen=True)
class PixelFormat:
    """How one image's pixels are stored (the (0028,xxxx) group)."""

    rows: int
    cols: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    planar_configuration: int = 0

    @property
    def stored_dtype(self) -> np.dtype:
        if self.bits_allocated <= 8:
            return np.dtype(np.int8 if self.signed else np.uint8)
        if self.bits_allocated <= 16:
            return np.dtype(np.int16 if self.signed else np.uint16)
        return np.dtype(np.int32 if self.signed else np.uint32)

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one decoded frame (palette colour decodes to RGB)."""
        if self.samples > 1:
            return (self.rows, self.cols, self.samples)
        if self.photometric == "PALETTE COLOR":
            return (self.rows, self.cols, 3)
        return (self.rows, self.cols)

    @property
    def frame_nbytes(self) -> int:
        return self.rows * self.cols * self.samples * self.bits_allocated // 8

    @property
    def is_color(self) -> bool:
        return self.samples > 1 or self.photometric == "PALETTE COLOR"


@dataclass
class SliceRef:
    """One 2-D image: a single-frame file or one frame of a multi-frame file."""

    path: str
    frame: int | None = None
    position: tuple[float, float, float] | None = None
    orientation: tuple[float, ...] | None = None
    instance_number: int | None = None
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    slope: float = 1.0
    intercept: float = 0.0
    has_modality_lut: bool = False
    transfer_syntax: str = ""
    pixel_offset: int | None = None
    """Byte offset of native (uncompressed, not deflated) pixel data in the file, else None."""
    big_endian: bool = False
    sop_instance_uid: str = ""
    patient_orientation: tuple[str, str] | None = None
    """(0020,0020) Patient Orientation: the patient directions of the rows (towards the right
    edge) and the columns (towards the bottom), e.g. ("L", "F") for a PA chest film; the only
    orientation a projection image (CR, DX, MG) or a cine without a position has."""


@dataclass
class Geometry:
    """Where the voxels of a stack lie in patient space (DICOM LPS, millimetres)."""

    spacing: tuple[float, float, float]
    """(z, y, x): between slices, between rows, between columns."""
    origin: tuple[float, float, float]
    """Patient (x, y, z) of the centre of the first voxel."""
    direction: tuple[tuple[float, float, float], ...]
    """Unit vectors of the column (i), row (j) and slice (k) index axes, in patient space."""
    orientation: str
    """axial | coronal | sagittal | oblique | unknown."""
    tilt_degrees: float = 0.0
    """How far the stack is sheared: a slice's shift in its own plane from the last, as an
    angle to the slice normal (a gantry tilt). 0 for a stack whose slices lie straight."""

    def direction_matrix(self) -> np.ndarray:
        """3x3 matrix whose columns are the i, j, k axes (ITK convention)."""
        return np.array(self.direction, dtype=float).T


@dataclass
class SeriesInfo:
    """A coherent stack of images: same size and orientation, sorted along the slice normal."""

    series_uid: str
    study_uid: str
    modality: str
    description: str
    series_number: int | None
    pixel_format: PixelFormat
    slices: list[SliceRef]
    geometry: Geometry
    transfer_syntaxes: list[str]
    n_files: int
    stack_index: int = 0
    n_stacks: int = 1
    warnings: list[LoadWarning] = field(default_factory=list)
    window_centers: list[float] = field(default_factory=list)
    window_widths: list[float] = field(default_factory=list)
    window_explanations: list[str] = field(default_factory=list)
    voi_lut: tuple | None = None
    """(first_mapped, bits, lut array) from (0028,3010) VOI LUT Sequence, if any."""
    rescale_type: str = ""
    body_part: str = ""
    frame_of_reference_uid: str = ""
    """(0020,0052): series that share it can be linked by patient position."""
    slice_thickness: float | None = None
    """(0018,0050) of the first image, in mm (None when absent)."""
    presentation_inverse: bool = False
    """(2050,0020) Presentation LUT Shape INVERSE: low values are drawn white."""
    voi_function: str = "LINEAR"
    """(0028,1056) VOI LUT Function of the file's windows: LINEAR, LINEAR_EXACT or SIGMOID."""

    @property
    def key(self) -> str:
        """Identifies this stack: the SeriesInstanceUID, with ``#n`` when a series was split."""
        if self.n_stacks > 1:
            return f"{self.series_uid}#{self.stack_index + 1}"
        return self.series_uid

    @property
    def n_frames(self) -> int:
        return len(self.slices)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.slices), *self.pixel_format.frame_shape)

    @property
    def photometric(self) -> str:
        return self.pixel_format.photometric

    @property
    def drawn_inverted(self) -> bool:
        """MONOCHROME1, or Presentation LUT Shape INVERSE (on MONOCHROME1 that shape is the
        usual one, not a second inversion)."""
        return self.photometric == "MONOCHROME1" or (
            self.presentation_inverse and self.photometric == "MONOCHROME2"
        )

    def warning_codes(self) -> list[str]:
        return [w.code for w in self.warnings]


def _date_key(study_date: str) -> str:
    """``YYYYMMDD`` of a Study Date that is one, else "" (unknown: never the newest)."""
    text = str(study_date or "").strip()
    return text if len(text) == 8 and text.isdigit() else ""


@dataclass
class StudyInfo:
    study_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    description: str
    series: list[SeriesInfo] = field(default_factory=list)


@dataclass
class ScanResult:
    """What a scan found: studies with their series, and every file it could not use."""

    studies: list[StudyInfo] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def all_series(self) -> list[SeriesInfo]:
        return [s for study in self.studies for s in study.series]

    def find_series(self, key: str) -> SeriesInfo:
        """Look a stack up by its key or, when unambiguous, by its SeriesInstanceUID."""
        from medviewer.errors import DicomError

        matches = [s for s in self.all_series() if s.key == key]
        if not matches:
            matches = [s for s in self.all_series() if s.series_uid == key]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(s.key for s in self.all_series()) or "none"
        if not matches:
            raise DicomError(f"series {key!r} is not among the scanned files (found: {known})")
        raise DicomError(
            f"series {key!r} was split into {len(matches)} stacks; pick one of: "
            + ", ".join(s.key for s in matches)
        )

    def newest_largest_series(self) -> SeriesInfo | None:
        """The series to show first: the largest of the newest study (by Study Date; a
        current study opened with its priors comes first), else the largest overall."""
        dated = [st for st in self.studies if st.series and _date_key(st.study_date)]
        if not dated:
            return self.largest_series()
        newest = max(_date_key(st.study_date) for st in dated)
        series = [s for st in dated if _date_key(st.study_date) == newest for s in st.series]
        return max(series, key=lambda s: s.n_frames * s.pixel_format.rows * s.pixel_format.cols)

    def largest_series(self) -> SeriesInfo | None:
        series = self.all_series()
        if not series:
            return None
        return max(series, key=lambda s: s.n_frames * s.pixel_format.rows * s.pixel_format.cols)
