"""Files for :mod:`.deid`: the input walk, copies' names cleaned of identity, atomic writes.

Paths of the copy keep the input's layout, with original UIDs replaced by their new ones and the
patient's name and ID by ``ANON``. Files are read whole (pixels included) and written through a
hidden temporary file in the target folder, renamed into place.
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import suppress

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

PATH_PLACEHOLDER = "ANON"


def inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it (both resolved)."""
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives
        return False


def walk_files(folder: str) -> list[str]:
    """The files below ``folder``, sorted, hidden files and folders left out."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(os.path.join(root, f) for f in sorted(files) if not f.startswith("."))
    return out


def identity_texts(ds: Dataset) -> list[str]:
    """The patient's ID and name parts (3+ characters), to keep them out of file names."""
    texts = {str(ds.get("PatientID", "") or "").strip()}
    texts.update(re.split(r"[\^=,\s]+", str(ds.get("PatientName", "") or "")))
    return sorted((t for t in texts if len(t) >= 3), key=len, reverse=True)


def safe_relpath(rel: str, uid_pairs: dict[str, str], identity: list[str]) -> str:
    """``rel`` with original UIDs replaced by their new ones and identity texts by ANON."""
    parts = []
    for part in rel.split(os.sep):
        new = part
        for old in sorted(uid_pairs, key=len, reverse=True):
            if old in new:
                pattern = rf"(?<![0-9.]){re.escape(old)}(?![0-9]|\.[0-9])"
                new = re.sub(pattern, uid_pairs[old], new)
        for text in identity:
            new = re.sub(re.escape(text), PATH_PLACEHOLDER, new, flags=re.IGNORECASE)
        parts.append(new if new not in ("", ".", "..") else PATH_PLACEHOLDER)
    return os.path.join(*parts)


def read_full(path: str) -> Dataset:
    """The whole data set of ``path``, pixel data included."""
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        return pydicom.dcmread(path, force=True)  # a data set without the preamble


def ensure_meta(ds: Dataset) -> None:
    """Give ``ds`` the file meta a DICOM file needs (transfer syntax, SOP class / instance)."""
    meta = ds.file_meta if getattr(ds, "file_meta", None) is not None else None
    if meta is None:
        from pydicom.dataset import FileMetaDataset

        meta = ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" not in meta:
        implicit, little = getattr(ds, "original_encoding", (True, True))
        meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian
            if implicit
            else ExplicitVRLittleEndian
            if little
            else ExplicitVRBigEndian
        )
    if "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def write_atomic(ds: Dataset, target: str) -> None:
    """Write ``ds`` to ``target`` through a hidden temporary file in its folder, then rename."""
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fp:
            ds.save_as(fp, enforce_file_format=True)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


__all__ = [
    "PATH_PLACEHOLDER",
    "ensure_meta",
    "identity_texts",
    "inside",
    "read_full",
    "safe_relpath",
    "walk_files",
    "write_atomic",
]
