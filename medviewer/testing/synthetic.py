"""Write realistic synthetic DICOM series whose voxels and geometry are known exactly.

Used by the tests and the benchmarks. Files are written with pydicom; compressed transfer
syntaxes use pydicom's encoders (RLE natively, JPEG-LS / JPEG 2000 through the plug-ins).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

NATIVE = {ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian}


def head_phantom(n_slices: int, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A head-like CT phantom in HU (int16): air, skin, skull, brain, ventricles, noise."""
    rng = np.random.default_rng(seed)
    z = np.linspace(-1.0, 1.0, n_slices, dtype=np.float32)[:, None, None]
    y = np.linspace(-1.0, 1.0, rows, dtype=np.float32)[None, :, None]
    x = np.linspace(-1.0, 1.0, cols, dtype=np.float32)[None, None, :]
    r = np.sqrt((x / 0.8) ** 2 + (y / 0.9) ** 2 + (z / 1.1) ** 2)
    hu = np.full((n_slices, rows, cols), -1000.0, dtype=np.float32)
    hu[r < 1.0] = 40.0  # scalp
    hu[r < 0.95] = 1200.0  # skull
    hu[r < 0.87] = 32.0  # brain
    vent = np.sqrt(((x - 0.1) / 0.12) ** 2 + (y / 0.3) ** 2 + (z / 0.5) ** 2) < 1.0
    hu[vent & (r < 0.87)] = 8.0
    hu += rng.normal(0.0, 6.0, size=hu.shape).astype(np.float32)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


@dataclass
class SyntheticSeries:
    """What was written: paths (in write order) and the truth sorted by slice position."""

    folder: str
    paths: list[str]
    series_uid: str
    study_uid: str
    values: np.ndarray
    """Rescaled values (e.g. HU), sorted by increasing position along the slice normal."""
    positions: np.ndarray
    """ImagePositionPatient per sorted slice (n, 3)."""
    spacing: tuple[float, float, float]
    orientation: tuple[float, ...]
    extra: dict = field(default_factory=dict)


def _normal(orientation) -> np.ndarray:
    row = np.asarray(orientation[:3], float)
    col = np.asarray(orientation[3:], float)
    n = np.cross(row, col)
    return n / np.linalg.norm(n)


def make_dataset(
    pixels: np.ndarray,
    *,
    modality: str = "CT",
    position=(0.0, 0.0, 0.0),
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    pixel_spacing=(0.8, 0.8),
    slice_thickness: float | None = 2.5,
    slope: float = 1.0,
    intercept: float = 0.0,
    instance_number: int = 1,
    series_uid: str | None = None,
    study_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    transfer_syntax=ExplicitVRLittleEndian,
    bits_stored: int | None = None,
    photometric: str = "MONOCHROME2",
    patient_id: str = "ANON0001",
    series_description: str = "Synthetic head",
    series_number: int = 1,
    window: tuple[float, float] | None = (40.0, 80.0),
) -> Dataset:
    """One single-frame image as a pydicom Dataset (pixels: stored values, 2-D)."""
    ds = Dataset()
    meta = FileMetaDataset()
    sop_class = CTImageStorage if modality == "CT" else MRImageStorage
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.PatientName = "Anonymous^Synthetic"
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.FrameOfReferenceUID = frame_of_reference_uid or generate_uid()
    ds.StudyDate = "20260101"
    ds.StudyDescription = "Synthetic study"
    ds.SeriesDescription = series_description
    ds.SeriesNumber = series_number
    ds.Modality = modality
    ds.InstanceNumber = instance_number
    if position is not None:
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
    if pixel_spacing is not None:
        ds.PixelSpacing = [f"{v:.6f}" for v in pixel_spacing]
    if slice_thickness is not None:
        ds.SliceThickness = f"{slice_thickness:.6f}"
    if modality == "CT" or slope != 1 or intercept != 0:
        ds.RescaleSlope = f"{slope:g}"
        ds.RescaleIntercept = f"{intercept:g}"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = f"{window[0]:g}", f"{window[1]:g}"
    arr = np.ascontiguousarray(pixels)
    ds.Rows, ds.Columns = arr.shape[:2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored or arr.dtype.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    ds.PixelData = arr.tobytes()
    _set_syntax(ds, transfer_syntax)
    return ds


def _set_syntax(ds: Dataset, transfer_syntax) -> None:
    if transfer_syntax in NATIVE:
        ds.file_meta.TransferSyntaxUID = transfer_syntax
        if transfer_syntax == ExplicitVRBigEndian:
            arr = np.frombuffer(ds.PixelData, dtype=_dtype_of(ds)).reshape(ds.Rows, ds.Columns)
            ds.PixelData = arr.byteswap().tobytes()
    else:
        arr = np.frombuffer(ds.PixelData, dtype=_dtype_of(ds)).reshape(ds.Rows, ds.Columns)
        ds.compress(transfer_syntax, arr)


def _dtype_of(ds: Dataset) -> np.dtype:
    kind = "i" if ds.PixelRepresentation else "u"
    return np.dtype(f"<{kind}{ds.BitsAllocated // 8}")


def save(ds: Dataset, path: str) -> None:
    ts = ds.file_meta.TransferSyntaxUID
    little = ts != ExplicitVRBigEndian
    implicit = ts == ImplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True, little_endian=little, implicit_vr=implicit)


def write_series(
    folder: str | os.PathLike,
    *,
    n_slices: int = 20,
    rows: int = 64,
    cols: int = 64,
    spacing: tuple[float, float, float] = (2.5, 0.8, 0.8),
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    origin=(-25.0, -25.0, -40.0),
    modality: str = "CT",
    hu: np.ndarray | None = None,
    stored_dtype=np.int16,
    slope: float = 1.0,
    intercept: float = -1024.0,
    transfer_syntax=ExplicitVRLittleEndian,
    shuffle: bool = True,
    seed: int = 0,
    z_offsets: list[float] | None = None,
    name_by: str = "random",
    series_uid: str | None = None,
    study_uid: str | None = None,
    bits_stored: int | None = None,
    photometric: str = "MONOCHROME2",
    series_description: str = "Synthetic head",
    series_number: int = 1,
    frame_of_reference_uid: str | None = None,
    patient_id: str = "ANON0001",
    study_date: str = "20260101",
    body_part: str | None = None,
) -> SyntheticSeries:
    """Write a series of single-frame files into ``folder``.

    ``hu`` (n, rows, cols) are the rescaled values to store (default: :func:`head_phantom`).
    ``z_offsets`` overrides the slice positions along the normal (for gaps and duplicates).
    Files are written in shuffled order with random names unless told otherwise, so nothing
    can rely on names or write order.
    """
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    if hu is None:
        hu = head_phantom(n_slices, rows, cols, seed=seed)
    n_slices, rows, cols = hu.shape
    offsets = (
        list(z_offsets) if z_offsets is not None else [k * spacing[0] for k in range(n_slices)]
    )
    normal = _normal(orientation)
    positions = np.array([np.asarray(origin, float) + d * normal for d in offsets])
    stored = np.rint((hu.astype(np.float64) - intercept) / slope).astype(stored_dtype)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = frame_of_reference_uid or generate_uid()

    order = rng.permutation(n_slices) if shuffle else np.arange(n_slices)
    paths = []
    for k in order:
        ds = make_dataset(
            stored[k],
            modality=modality,
            position=tuple(positions[k]),
            orientation=orientation,
            pixel_spacing=(spacing[1], spacing[2]),
            slice_thickness=spacing[0],
            slope=slope,
            intercept=intercept,
            instance_number=int(k) + 1,
            series_uid=series_uid,
            study_uid=study_uid,
            frame_of_reference_uid=frame_uid,
            transfer_syntax=transfer_syntax,
            bits_stored=bits_stored,
            photometric=photometric,
            series_description=series_description,
            series_number=series_number,
            patient_id=patient_id,
        )
        ds.StudyDate = study_date
        if body_part:
            ds.BodyPartExamined = body_part
        if name_by == "index":
            name = f"IM{int(k) + 1:05d}.dcm"
        else:
            name = f"{rng.integers(0, 2**40):011x}.dcm"
        path = os.path.join(os.fspath(folder), name)
        save(ds, path)
        paths.append(path)

    sort = np.argsort(np.asarray(offsets), kind="stable")
    truth = (stored.astype(np.float64) * slope + intercept)[sort]
    return SyntheticSeries(
        folder=os.fspath(folder),
        paths=paths,
        series_uid=series_uid,
        study_uid=study_uid,
        values=truth,
        positions=positions[sort],
        spacing=spacing,
        orientation=tuple(orientation),
    )


def read_back(path: str) -> Dataset:
    """Read a written file back with pydicom (helper for tests)."""
    return pydicom.dcmread(path)
