"""Helpers for the DICOM core and CLI tests: hand-written series whose truth is known exactly.

``write_stack`` writes one single-frame file per slice with full control over positions,
InstanceNumbers and file names, so tests can make names and numbers lie about the order.
``find_testdata`` finds a file among pydicom's own test files and pydicom-data by its name,
looking only at what ``get_testdata_files()`` lists (an unknown name would go to the network).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from pydicom.data import get_testdata_files
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from medviewer.testing.synthetic import head_phantom, make_dataset, save

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass
class Stack:
    """What ``write_stack`` wrote; ``values``/``positions``/``paths`` are in truth order
    (increasing position along the slice normal)."""

    folder: str
    paths: list[str]
    values: np.ndarray
    positions: np.ndarray
    series_uid: str
    study_uid: str
    orientation: tuple[float, ...]
    normal: np.ndarray
    instance_numbers: list[int]


def normal_of(orientation) -> np.ndarray:
    n = np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:], float))
    return n / np.linalg.norm(n)


def write_stack(
    folder,
    hu: np.ndarray | None = None,
    *,
    n: int = 5,
    rows: int = 32,
    cols: int = 32,
    orientation=AXIAL,
    origin=(-12.5, -12.5, -20.0),
    step: float = 2.0,
    offsets=None,
    instance_numbers=None,
    names=None,
    omit_position=(),
    pixel_spacing=(0.8, 0.8),
    slice_thickness: float | None = 2.0,
    slope: float = 1.0,
    intercept: float = -1024.0,
    stored_dtype=np.int16,
    modality: str = "CT",
    study_uid: str | None = None,
    series_uid: str | None = None,
    patient_id: str = "ANON0001",
    series_number: int = 1,
    transfer_syntax=ExplicitVRLittleEndian,
    photometric: str = "MONOCHROME2",
    seed: int = 0,
    edit=None,
) -> Stack:
    """Write slice ``k`` of ``hu`` at ``origin + offsets[k] * normal``.

    ``hu`` are rescaled values (HU for CT); stored = (hu - intercept) / slope.
    ``instance_numbers[k]`` and ``names[k]`` default to k + 1 and ``IM{k}.dcm``.
    ``omit_position`` lists the k whose (0020,0032) is left out; ``edit(ds, k)`` may change
    each data set before it is saved.
    """
    os.makedirs(folder, exist_ok=True)
    if hu is None:
        hu = head_phantom(n, rows, cols, seed=seed)
    n = hu.shape[0]
    offsets = [k * step for k in range(n)] if offsets is None else list(offsets)
    instance_numbers = list(range(1, n + 1)) if instance_numbers is None else list(instance_numbers)
    names = [f"IM{k}.dcm" for k in range(n)] if names is None else list(names)
    normal = normal_of(orientation)
    positions = np.array([np.asarray(origin, float) + d * normal for d in offsets])
    stored = np.rint((hu.astype(np.float64) - intercept) / slope).astype(stored_dtype)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = generate_uid()
    paths = []
    for k in range(n):
        ds = make_dataset(
            stored[k],
            modality=modality,
            position=None if k in omit_position else tuple(positions[k]),
            orientation=orientation,
            pixel_spacing=pixel_spacing,
            slice_thickness=slice_thickness,
            slope=slope,
            intercept=intercept,
            instance_number=instance_numbers[k],
            series_uid=series_uid,
            study_uid=study_uid,
            frame_of_reference_uid=frame_uid,
            transfer_syntax=transfer_syntax,
            photometric=photometric,
            patient_id=patient_id,
            series_number=series_number,
        )
        if edit is not None:
            edit(ds, k)
        path = os.path.join(os.fspath(folder), names[k])
        save(ds, path)
        paths.append(path)
    order = np.argsort(np.asarray(offsets), kind="stable")
    truth = (stored.astype(np.float64) * slope + intercept)[order]
    return Stack(
        folder=os.fspath(folder),
        paths=[paths[i] for i in order],
        values=truth,
        positions=positions[order],
        series_uid=series_uid,
        study_uid=study_uid,
        orientation=tuple(orientation),
        normal=normal,
        instance_numbers=[instance_numbers[i] for i in order],
    )


_TESTDATA: list[str] | None = None


def all_testdata_files() -> list[str]:
    """Every regular file pydicom's test data and pydicom-data hold (local, no network)."""
    global _TESTDATA
    if _TESTDATA is None:
        _TESTDATA = sorted(p for p in get_testdata_files() if os.path.isfile(p))
    return _TESTDATA


def find_testdata(name: str) -> str:
    """The one listed test file whose path ends with ``name`` (e.g. 'CT_small.dcm')."""
    hits = [p for p in all_testdata_files() if p.replace(os.sep, "/").endswith("/" + name)]
    assert len(hits) == 1, f"{name!r} matches {len(hits)} pydicom test files"
    return hits[0]
