"""Read one file's header (never its pixels) into :class:`SliceRef` records.

Each file becomes either a list of slices plus the series-level facts, or one
:class:`Skipped` entry with a reason. Nothing here raises for bad input.
"""

from __future__ import annotations

import logging
import os
import struct
import warnings
from dataclasses import dataclass, field

from medviewer.dicom import header_fields as fields
from medviewer.dicom.fastheader import LONG_VRS, PIXEL_TAGS, read_fast
from medviewer.dicom.model import (
    CORRUPT,
    NO_PIXEL_DATA,
    NOT_DICOM,
    UNREADABLE,
    UNSUPPORTED_SYNTAX,
    PixelFormat,
    Skipped,
    SliceRef,
)
from medviewer.phi import register_dataset

log = logging.getLogger(__name__)

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
SEQ_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
LOSSY_SYNTAXES = {
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.51",  # JPEG extended
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.203",  # HTJ2K (lossy allowed)
    "1.2.840.10008.1.2.4.100",  # MPEG2
    "1.2.840.10008.1.2.4.101",
    "1.2.840.10008.1.2.4.102",  # MPEG-4
    "1.2.840.10008.1.2.4.103",
    "1.2.840.10008.1.2.4.104",
    "1.2.840.10008.1.2.4.105",
    "1.2.840.10008.1.2.4.106",
    "1.2.840.10008.1.2.4.107",  # HEVC
    "1.2.840.10008.1.2.4.108",
}
NATIVE_SYNTAXES = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}


@dataclass
class FileHeader:
    """Series-level facts of one readable image file, plus its slices."""

    path: str
    study_uid: str
    series_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    study_description: str
    series_description: str
    series_number: int | None
    modality: str
    pixel_format: PixelFormat
    transfer_syntax: str
    lossy: bool
    slices: list[SliceRef]
    multiframe: bool
    window_centers: list[float] = field(default_factory=list)
    window_widths: list[float] = field(default_factory=list)
    window_explanations: list[str] = field(default_factory=list)
    voi_lut: tuple | None = None
    rescale_type: str = ""
    body_part: str = ""
    frame_of_reference_uid: str = ""
    slice_thickness: float | None = None
    presentation_inverse: bool = False
    voi_function: str = "LINEAR"


@dataclass
class DicomDir:
    """A DICOMDIR index: the image files it references."""

    path: str
    referenced: list[str]


def _looks_like_raw_dataset(head: bytes) -> bool:
    """A DICOM data set without the 128-byte preamble starts with a low group number."""
    if len(head) < 8:
        return False
    group_le = struct.unpack("<H", head[:2])[0]
    group_be = struct.unpack(">H", head[:2])[0]
    return group_le in (0x0002, 0x0008) or group_be in (0x0002, 0x0008)


def _sop_name(ds) -> str:
    uid = ds.get("SOPClassUID")
    if not uid:
        return "this object"
    from pydicom.uid import UID

    name = UID(str(uid)).name
    return name if name and name != str(uid) else f"SOP class {uid}"


def read_header(path: str, *, fast: bool = True) -> FileHeader | DicomDir | Skipped:
    """Parse the header of ``path`` (no pixel data) into a :class:`FileHeader`.

    Returns a :class:`DicomDir` for a DICOMDIR index, a :class:`Skipped` entry for a file
    that cannot be used.
    """
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        return Skipped(path, UNREADABLE, f"cannot read the file: {exc.strerror or exc}")
    if size == 0:
        return Skipped(path, NOT_DICOM, "empty file (0 bytes): not a DICOM file")
    try:
        with open(path, "rb") as fp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's value warnings: not the user's concern
            parsed = read_fast(fp, size) if fast else None
            if parsed is not None:
                try:
                    return _interpret(path, parsed[0], fp, parsed[1], size)
                except Exception:  # anything odd: let pydicom have the final word
                    log.debug("fast header path failed for %s", path, exc_info=True)
            # pydicom loads here, on the first file the fast reader hands over (a whole
            # process that only meets plain files never pays for importing it).
            import pydicom
            from pydicom.errors import InvalidDicomError

            fp.seek(0)
            try:
                ds = pydicom.dcmread(fp, stop_before_pixels=True)
            except InvalidDicomError:
                fp.seek(0)
                head = fp.read(8)
                if not _looks_like_raw_dataset(head):
                    return Skipped(
                        path, NOT_DICOM, "not a DICOM file (no 'DICM' marker at byte 128)"
                    )
                fp.seek(0)
                ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
            pixel_pos = fp.tell()
            return _interpret(path, ds, fp, pixel_pos, size)
    except PermissionError as exc:
        return Skipped(path, UNREADABLE, f"no permission to read the file: {exc.strerror}")
    except OSError as exc:
        return Skipped(path, UNREADABLE, f"cannot read the file: {exc.strerror or exc}")
    except Exception as exc:  # pydicom raises many types on damaged headers
        log.debug("header of %s could not be parsed", path, exc_info=True)
        return Skipped(path, CORRUPT, f"damaged DICOM header ({type(exc).__name__}: {_short(exc)})")


def _short(exc: Exception, limit: int = 160) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _transfer_syntax(ds) -> str:
    ts = getattr(ds, "file_meta", None) and ds.file_meta.get("TransferSyntaxUID")
    if ts:
        return str(ts)
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if not little:
        return "1.2.840.10008.1.2.2"
    return "1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1"


def _decoder_problem(ts: str) -> str | None:
    """None when pixel data in ``ts`` can be decoded here, else the reason."""
    if ts in NATIVE_SYNTAXES or ts == "1.2.840.10008.1.2.1.99":
        return None
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    name = UID(ts).name
    try:
        decoder = get_decoder(UID(ts))
    except NotImplementedError:
        return (
            f"transfer syntax {name} ({ts}) is not supported by any installed decoder; "
            "ask the sender to export uncompressed or JPEG 2000"
        )
    if not decoder.is_available:
        return (
            f"no decoder installed for transfer syntax {name} ({ts}); install one of the "
            "pylibjpeg / python-gdcm plug-ins that medviewer lists as dependencies"
        )
    return None


def _interpret(path: str, ds, fp, pixel_pos: int, size: int) -> FileHeader | DicomDir | Skipped:
    register_dataset(ds)  # before anything is logged about this file (medviewer.phi)
    sop_class = str(ds.get("SOPClassUID", "")) or str(
        getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "")
        if hasattr(ds, "file_meta")
        else ""
    )
    if sop_class == DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
        return DicomDir(path, _dicomdir_files(path, ds))
    if len(ds) == 0:
        return Skipped(path, NOT_DICOM, "not a DICOM file (no data elements could be read)")

    fp.seek(pixel_pos)
    elem_head = fp.read(12)
    ts = _transfer_syntax(ds)
    big_endian = ts == "1.2.840.10008.1.2.2"
    implicit = ts == "1.2.840.10008.1.2"
    endian = ">" if big_endian else "<"
    tag = None
    if len(elem_head) >= 8 and ts != "1.2.840.10008.1.2.1.99":
        group, elem = struct.unpack(endian + "HH", elem_head[:4])
        tag = (group << 16) | elem
    if ts == "1.2.840.10008.1.2.1.99":
        tag = (
            0x7FE00010 if "Rows" in ds else None
        )  # deflated: the stream position is not a file offset
    if tag not in PIXEL_TAGS and not sop_class:
        # every DICOM object names its SOP class (Type 1): without one and without pixel
        # data, this is not a report or key object but a damaged or truncated header
        return Skipped(
            path,
            CORRUPT,
            "damaged or incomplete DICOM header: no (0008,0016) SOP Class UID and no "
            f"(7FE0,0010) pixel data in its {size} bytes; copy the file again from its source",
        )
    if tag not in PIXEL_TAGS:
        return Skipped(
            path,
            NO_PIXEL_DATA,
            f"{_sop_name(ds)} without pixel data ((7FE0,0010) absent): nothing to display",
        )

    missing = [k for k in ("Rows", "Columns", "BitsAllocated") if ds.get(k) in (None, "")]
    if missing:
        return Skipped(
            path, CORRUPT, f"image attribute(s) {', '.join(missing)} missing in group (0028)"
        )
    problem = _decoder_problem(ts)
    if problem:
        return Skipped(path, UNSUPPORTED_SYNTAX, problem)

    samples = fields.opt_int(ds.get("SamplesPerPixel")) or 1
    bits_alloc = int(ds.get("BitsAllocated"))
    fmt = PixelFormat(
        rows=int(ds.get("Rows")),
        cols=int(ds.get("Columns")),
        samples=samples,
        bits_allocated=bits_alloc,
        bits_stored=fields.opt_int(ds.get("BitsStored")) or bits_alloc,
        signed=bool(fields.opt_int(ds.get("PixelRepresentation")) or 0),
        photometric=fields.text(ds, "PhotometricInterpretation").upper() or "MONOCHROME2",
        planar_configuration=fields.opt_int(ds.get("PlanarConfiguration")) or 0,
    )
    if fmt.rows <= 0 or fmt.cols <= 0:
        return Skipped(
            path, CORRUPT, f"image size {fmt.rows} x {fmt.cols} in (0028,0010/0011) is empty"
        )
    n_frames = fields.opt_int(ds.get("NumberOfFrames")) or 1
    n_frames = max(1, n_frames)

    # Native pixel data: locate it and check the file really holds all of it.
    pixel_offset = None
    if ts in NATIVE_SYNTAXES and tag == 0x7FE00010:
        if implicit or elem_head[4:6] in LONG_VRS:
            header_len = 8 if implicit else 12
            length = struct.unpack(endian + "I", elem_head[header_len - 4 : header_len])[0]
        else:
            header_len = 8
            length = struct.unpack(endian + "H", elem_head[6:8])[0]
        per_pixel_bits = samples * bits_alloc
        if fmt.photometric in ("YBR_FULL_422", "YBR_PARTIAL_422") and samples == 3:
            per_pixel_bits = 2 * bits_alloc  # chroma subsampled 2:1 horizontally
        expected = (fmt.rows * fmt.cols * n_frames * per_pixel_bits + 7) // 8
        available = size - (pixel_pos + header_len)
        if length == 0xFFFFFFFF:
            return Skipped(
                path,
                CORRUPT,
                "native pixel data is encapsulated: the transfer syntax "
                "(0002,0010) and the pixel data disagree",
            )
        if available < expected:
            return Skipped(
                path,
                CORRUPT,
                f"pixel data is truncated: (7FE0,0010) needs {expected} bytes for "
                f"{fmt.rows} x {fmt.cols} x {n_frames} frame(s) at {bits_alloc} bits, "
                f"the file holds {max(available, 0)}; the copy is incomplete, copy it again",
            )
        if bits_alloc in (8, 16, 32) and samples == 1 and fmt.photometric.startswith("MONO"):
            pixel_offset = pixel_pos + header_len
    elif ts not in NATIVE_SYNTAXES and ts != "1.2.840.10008.1.2.1.99":
        if not _encapsulated_complete(fp, size, pixel_pos):
            return Skipped(
                path,
                CORRUPT,
                "compressed pixel data is truncated (no sequence delimiter after the last "
                "fragment of (7FE0,0010)); the copy is incomplete, copy it again",
            )

    lossy = ts in LOSSY_SYNTAXES or fields.text(ds, "LossyImageCompression") == "01"
    slices = fields.slices(path, ds, ts, n_frames, pixel_offset, big_endian)
    centers, widths, expl = fields.window(ds)
    folder = os.path.dirname(path)
    return FileHeader(
        path=path,
        study_uid=fields.text(ds, "StudyInstanceUID") or f"unknown-study:{folder}",
        series_uid=fields.text(ds, "SeriesInstanceUID") or f"unknown-series:{folder}",
        patient_id=fields.text(ds, "PatientID"),
        patient_name=fields.text(ds, "PatientName"),
        study_date=fields.text(ds, "StudyDate"),
        study_description=fields.text(ds, "StudyDescription"),
        series_description=fields.text(ds, "SeriesDescription"),
        series_number=fields.opt_int(ds.get("SeriesNumber")),
        modality=fields.text(ds, "Modality").upper() or "OT",
        pixel_format=fmt,
        transfer_syntax=ts,
        lossy=lossy,
        slices=slices,
        multiframe=n_frames > 1,
        window_centers=centers,
        window_widths=widths,
        window_explanations=expl,
        voi_lut=fields.voi_lut(ds),
        rescale_type=fields.text(ds, "RescaleType"),
        body_part=fields.text(ds, "BodyPartExamined"),
        frame_of_reference_uid=fields.text(ds, "FrameOfReferenceUID"),
        slice_thickness=fields.opt_float(ds.get("SliceThickness")),
        presentation_inverse=fields.text(ds, "PresentationLUTShape").upper() == "INVERSE",
        voi_function=fields.text(ds, "VOILUTFunction").upper() or "LINEAR",
    )


def _encapsulated_complete(fp, size: int, pixel_pos: int) -> bool:
    fp.seek(max(pixel_pos, size - 8))
    if fp.read(8) == SEQ_DELIMITER:
        return True
    fp.seek(pixel_pos)
    return fp.read().rfind(SEQ_DELIMITER) != -1


def _dicomdir_files(path: str, ds) -> list[str]:
    """Paths of the files a DICOMDIR references (relative to the DICOMDIR's folder)."""
    root = os.path.dirname(os.path.abspath(path))
    files = []
    for record in ds.get("DirectoryRecordSequence", []):
        ref = record.get("ReferencedFileID")
        if not ref:
            continue
        parts = [str(p) for p in ref] if not isinstance(ref, str) else str(ref).split("\\")
        candidate = os.path.join(root, *parts)
        if not os.path.exists(candidate):
            # CD exports are often upper case in the index and lower case on disk.
            alt = os.path.join(root, *[p.lower() for p in parts])
            candidate = alt if os.path.exists(alt) else candidate
        files.append(candidate)
    return files
