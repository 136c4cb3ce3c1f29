"""What the three DICOM results share: the error, medviewer's private codes, the source
images of a volume's slices (headers read with pydicom), the device that made a result, the
output folder checks and the atomic write of one object.

Every object medviewer writes names itself ("medviewer", the model) and says
:data:`DISCLAIMER`; nothing is written until the whole object is built and checked, and each
file appears in one rename (a reader never sees half of one).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from highdicom.coding_schemes import CodingSchemeIdentificationItem
from highdicom.sr import (
    CodedConcept,
    DeviceObserverIdentifyingAttributes,
    ObserverContext,
)
from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError
from pydicom.sr.codedict import codes
from pydicom.uid import UID, generate_uid

from medviewer import __version__
from medviewer.dicom.volume import Volume
from medviewer.errors import MedviewerError

DISCLAIMER = "Research use only, not for diagnosis"
MANUFACTURER = "medviewer"
SCHEME = "99MEDVIEWER"
"""medviewer's private coding scheme (PS3.16 8.2: a "99" designator is private)."""
SCHEME_NAME = "medviewer classifier results"
NO_UNITS = codes.UCUM.NoUnits
SOURCE = CodedConcept("260753009", "SCT", "Source")
DEVICE_UID_ROOT = "2.25."
DEVICE_UID = "2.25.279427312730384659234616108624913734515"
"""A fixed UID naming medviewer as the observing device (the same in every object)."""

SERIES_NUMBERS = {"sr": 9901, "pmap": 9902, "ko": 9903}
"""Series numbers of the new series (high, so they sort after the acquired ones)."""


class ReportError(MedviewerError):
    """A DICOM result cannot be made, written or read back; the message says what, where
    (file, tag) and what to do. Nothing has been written when it is raised."""


def code(value: str, meaning: str) -> CodedConcept:
    """A concept of medviewer's private scheme :data:`SCHEME`."""
    return CodedConcept(value, SCHEME, meaning)


def coding_schemes() -> list[CodingSchemeIdentificationItem]:
    """The Coding Scheme Identification Sequence item that explains :data:`SCHEME`."""
    return [
        CodingSchemeIdentificationItem(
            SCHEME, name=SCHEME_NAME, responsible_organization=MANUFACTURER
        )
    ]


def device_observer(model_name: str, version: str) -> ObserverContext:
    """The observer context of a result: the device medviewer running ``model_name``."""
    return ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=DEVICE_UID,
            name=f"medviewer {__version__}",
            manufacturer_name=MANUFACTURER,
            model_name=f"{model_name} {version}"[:64],
        ),
    )


def new_object(kind: str, model_name: str) -> dict[str, object]:
    """What every object medviewer writes shares (keywords of highdicom's classes): a new
    series of its own (numbered by ``kind``: sr, pmap, ko) holding one new instance, our
    private coding scheme, and the General Equipment naming medviewer and the model."""
    return {
        "series_instance_uid": new_uid(),
        "series_number": SERIES_NUMBERS[kind],
        "sop_instance_uid": new_uid(),
        "instance_number": 1,
        "manufacturer": MANUFACTURER,
        "coding_schemes": coding_schemes(),
        "manufacturer_model_name": f"medviewer classifier {model_name}"[:64],
        "software_versions": f"medviewer {__version__}",
    }


def new_uid() -> UID:
    """A new UID (``2.25.`` + a random number), for new series and instances."""
    return generate_uid(prefix=DEVICE_UID_ROOT)


# -- source images ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceSlice:
    """One slice of a volume as a DICOM image: what a result references.

    ``index`` is the slice's position in the volume (the order of ``medviewer convert``);
    ``frame`` is the 1-based frame number in a multi-frame file, None for a single-frame
    image; ``header`` is the file's header (no pixels), for highdicom's references."""

    index: int
    path: str
    sop_class_uid: str
    sop_instance_uid: str
    frame: int | None
    header: Dataset


_TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)
"""Patient and study attributes a new object must carry (empty when its source lacks them)."""


def read_source_header(path: str) -> Dataset:
    """The header of a source image (no pixels), with the type 2 patient / study attributes
    a derived object copies made empty when the file lacks them."""
    try:
        ds = dcmread(path, stop_before_pixels=True)
    except FileNotFoundError:
        raise ReportError(
            f"{path}: the source image is gone since the series was scanned; scan the study again"
        ) from None
    except (OSError, InvalidDicomError, ValueError) as exc:
        raise ReportError(
            f"{path}: the source image cannot be read ({exc}); scan the study again"
        ) from None
    for keyword in _TYPE2:
        if keyword not in ds:
            setattr(ds, keyword, "")
    return ds


def source_slices(volume: Volume, indices: Sequence[int]) -> list[SourceSlice]:
    """The source images of slices ``indices`` of ``volume``, in that order.

    Raises :class:`ReportError` when a slice is out of range or its file lacks the SOP Class
    or SOP Instance UID (0008,0016 / 0008,0018) a reference needs, or when the file no longer
    holds the image that was scanned."""
    series = volume.series
    refs = series.slices
    n = int(volume.array.shape[0])
    if len(refs) != n:
        raise ReportError(
            f"series {series.key}: {len(refs)} slice references for {n} slices in the volume; "
            "load the series again"
        )
    headers: dict[str, Dataset] = {}
    out = []
    for k in indices:
        if not 0 <= k < n:
            raise ReportError(
                f"slice {k} is out of range: series {series.key} has slices 0..{n - 1}"
            )
        ref = refs[k]
        if not ref.sop_instance_uid:
            raise ReportError(
                f"slice {k} of series {series.key} ({ref.path}) has no SOP Instance UID "
                "(0008,0018): a DICOM result references its source images by it, so none can "
                "be made for this series (fix the files, e.g. re-export them from the PACS)"
            )
        if ref.path not in headers:
            headers[ref.path] = read_source_header(ref.path)
        header = headers[ref.path]
        sop_class = str(header.get("SOPClassUID", "") or "")
        if not sop_class:
            raise ReportError(
                f"{ref.path} has no SOP Class UID (0008,0016): a DICOM result references its "
                "source images by it, so none can be made for this series"
            )
        if str(header.get("SOPInstanceUID", "")) != ref.sop_instance_uid:
            raise ReportError(
                f"{ref.path} no longer holds the image scanned as slice {k} (SOP Instance UID "
                "(0008,0018) changed); scan the study again"
            )
        frame = None if ref.frame is None else int(ref.frame) + 1
        out.append(SourceSlice(k, ref.path, sop_class, ref.sop_instance_uid, frame, header))
    return out


def unique_headers(sources: Sequence[SourceSlice]) -> list[Dataset]:
    """The headers of ``sources``, one per SOP instance, in first-seen order."""
    seen: dict[str, Dataset] = {}
    for s in sources:
        seen.setdefault(s.sop_instance_uid, s.header)
    return list(seen.values())


# -- writing ----------------------------------------------------------------------------------
def check_output_folder(out: str | os.PathLike) -> Path:
    """``out`` as a folder that can be written into (made later, when it does not exist).

    Raises :class:`ReportError` when it is a file, or it (or the folder it would be made in)
    is not writable. Nothing is created here."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise ReportError(f"{out} is a file; -o takes a folder to write the DICOM objects into")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ReportError(f"{probe} is a file, so {out} cannot be made; choose another folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ReportError(f"{probe} is not writable; choose another output folder")
    return path


def object_bytes(ds: Dataset) -> bytes:
    """``ds`` as a DICOM file (preamble, file meta, its transfer syntax)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_objects(datasets: Sequence[tuple[str, Dataset]], out: str | os.PathLike) -> list[Path]:
    """Write each ``(kind, dataset)`` into folder ``out`` as ``KIND-<SOP Instance UID>.dcm``,
    each file atomically; all are encoded before the first is written. Raises
    :class:`ReportError` (what was written before a failure is removed)."""
    folder = check_output_folder(out)
    from medviewer.atomic import write_bytes_atomic

    encoded = [
        (folder / f"{kind}-{ds.SOPInstanceUID}.dcm", object_bytes(ds)) for kind, ds in datasets
    ]
    written: list[Path] = []
    try:
        for path, data in encoded:
            write_bytes_atomic(path, data)
            written.append(path)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise ReportError(
            f"cannot write into {out} ({exc.strerror or exc}); nothing was written, choose "
            "another folder or free some space"
        ) from None
    return written


def read_object(source: str | os.PathLike | Dataset, what: str) -> tuple[Dataset, str]:
    """A DICOM object to read back and how to name it in messages."""
    if isinstance(source, Dataset):
        return source, f"the {what}"
    try:
        return dcmread(os.fspath(source)), os.fspath(source)
    except FileNotFoundError:
        raise ReportError(f"no such file: {source}") from None
    except (OSError, InvalidDicomError, ValueError) as exc:
        raise ReportError(f"{source} is not a readable DICOM file ({exc})") from None


def concept_of(item: Dataset) -> tuple[str, str]:
    """(code value, scheme designator) of a content item's concept name ("" when none)."""
    seq = item.get("ConceptNameCodeSequence")
    if not seq:
        return "", ""
    c = seq[0]
    value = c.get("CodeValue") or c.get("LongCodeValue") or c.get("URNCodeValue") or ""
    return str(value), str(c.get("CodingSchemeDesignator", ""))
