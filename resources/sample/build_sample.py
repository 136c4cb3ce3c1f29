"""Rebuild the bundled sample study from InVesalius' ``Cranium.inv3``.

    python resources/sample/build_sample.py [SOURCE.inv3] [--out resources/sample/cranium-ct]

``Cranium.inv3`` (a gzip-compressed tar from Debian's ``invesalius-examples``) holds the raw
voxels of a real head CT (``matrix.dat``: 108 x 256 x 256 int16, HU) and its spacing, but no
DICOM header. This script writes them as a proper DICOM CT series:

* one file per slice, JPEG 2000 lossless (about 5 MB instead of 14 MB), voxel-exact;
* stored as unsigned 12-bit values with RescaleIntercept -1024 (HU = stored - 1024);
* axial, ImageOrientationPatient 1\\0\\0\\0\\1\\0, ImagePositionPatient stepping 1.5 mm,
  PixelSpacing 0.9570312 mm;
* rows flipped so the anterior of the head is at the top (InVesalius keeps them
  posterior-first): DICOM row r holds the source row 255 - r;
* deterministic UIDs (derived from fixed names), an anonymous patient, no dates of birth.

Run it again after changing it; ``tests/test_sample_study.py`` checks the round trip.
"""

from __future__ import annotations

import argparse
import io
import os
import plistlib
import sys
import tarfile

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SOURCE = os.path.join(
    HERE, "..", "..", "..", "shared", "data", "invesalius-cranium", "Cranium.inv3"
)
DEFAULT_OUT = os.path.join(HERE, "cranium-ct")
INTERCEPT = -1024


def read_inv3(path: str) -> tuple[np.ndarray, dict]:
    """Voxels (slices, rows, cols) int16 HU and the main.plist of an InVesalius project."""
    with tarfile.open(path, "r:gz") as tar:
        members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
        main = plistlib.load(tar.extractfile(members["main.plist"]))
        matrix = main["matrix"]
        shape = tuple(int(v) for v in matrix["shape"])
        raw = tar.extractfile(members[matrix["filename"]]).read()
    dtype = np.dtype(matrix["dtype"]).newbyteorder("<")
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise SystemExit(f"{path}: matrix.dat holds {len(raw)} bytes, expected {expected}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(np.int16), main


def source_to_dicom_order(volume: np.ndarray) -> np.ndarray:
    """The voxel array as the DICOM series stores it (rows flipped, anterior first)."""
    return volume[:, ::-1, :]


def build(source: str, out: str) -> list[str]:
    hu, main = read_inv3(source)
    hu = source_to_dicom_order(hu)
    sx, sy, sz = (float(v) for v in main["spacing"])
    return write_series(
        hu,
        (sx, sy, sz),
        out,
        salt="medviewer-sample-cranium",
        patient=("Anonymous^Cranium", "MV-SAMPLE-0001"),
        study="Head CT (InVesalius sample)",
        series="Axial head 1.5 mm",
        extra_window=(int(main.get("window_level", -18)), int(main.get("window_width", 406))),
    )


def write_series(
    hu: np.ndarray,
    spacing_xyz: tuple[float, float, float],
    out: str,
    *,
    salt: str,
    patient: tuple[str, str],
    study: str,
    series: str,
    first_slice: int = 0,
    extra_window: tuple[int, int] = (-18, 406),
    comment: str = "",
) -> list[str]:
    """Write ``hu`` (slices, rows, cols; DICOM row order) as a JPEG 2000 lossless CT series.

    UIDs derive from ``salt`` (deterministic); slice ``k`` sits at z = (first_slice + k) * sz,
    so a slab keeps the positions it had in the whole volume.
    """
    sx, sy, sz = spacing_xyz
    n, rows, cols = hu.shape
    stored = (np.rint(hu).astype(np.int32) - INTERCEPT).astype(np.uint16)
    if np.rint(hu).max() - INTERCEPT >= 4096 or np.rint(hu).min() < INTERCEPT:
        raise SystemExit("values outside -1024..3071 HU do not fit 12 bits; widen BitsStored")
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        if name.endswith(".dcm"):
            os.remove(os.path.join(out, name))

    def uid(*names: str) -> str:
        return generate_uid(entropy_srcs=[salt, *names])

    study_uid, series_uid, frame_uid = uid("study"), uid("series"), uid("frame")
    # Centre the volume on the patient origin in x and y.
    x0 = -(cols - 1) * sx / 2.0
    y0 = -(rows - 1) * sy / 2.0
    paths = []
    for k in range(n):
        z = (first_slice + k) * sz
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = uid("image", str(k))
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = (
            ["ORIGINAL", "PRIMARY", "AXIAL"] if not comment else ["DERIVED", "SECONDARY", "AXIAL"]
        )
        ds.Modality = "CT"
        ds.Manufacturer = "medviewer sample (from InVesalius Cranium.inv3)"
        ds.PatientName = patient[0]
        ds.PatientID = patient[1]
        ds.PatientBirthDate = ""
        ds.PatientSex = ""
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "No identifying data in source; synthetic identifiers"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.StudyID = "1"
        ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        ds.StudyDate = ""
        ds.StudyTime = ""
        ds.StudyDescription = study
        ds.SeriesDescription = series
        if comment:
            ds.ImageComments = comment
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.BodyPartExamined = "HEAD"
        ds.PatientPosition = "HFS"
        ds.ImagePositionPatient = [f"{x0:.4f}", f"{y0:.4f}", f"{z:.4f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.SliceLocation = f"{z:.4f}"
        ds.SliceThickness = f"{sz:g}"
        ds.PixelSpacing = [f"{sy:.7f}", f"{sx:.7f}"]
        ds.RescaleIntercept = str(INTERCEPT)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = ["40", str(extra_window[0])]
        ds.WindowWidth = ["80", str(extra_window[1])]
        ds.WindowCenterWidthExplanation = ["BRAIN", "INVESALIUS DEFAULT"]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        ds.compress(JPEG2000Lossless, np.ascontiguousarray(stored[k]))
        path = os.path.join(out, f"IM{k + 1:04d}.dcm")
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        with open(path, "wb") as fp:
            fp.write(buf.getvalue())
        paths.append(path)
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default=DEFAULT_SOURCE)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not os.path.exists(args.source):
        print(f"source not found: {args.source}", file=sys.stderr)
        return 1
    paths = build(args.source, args.out)
    size = sum(os.path.getsize(p) for p in paths)
    print(f"wrote {len(paths)} files, {size / 1e6:.1f} MB, to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
