"""What the Basic Profile (PS3.15 E) does to one data set: :func:`deidentify_dataset`.

- every attribute of Table E.1-1 gets its Basic Profile action (:mod:`.deid_profile`):
  ``X`` removed, ``Z`` emptied, ``D`` a dummy value of its VR, ``U`` a new UID. Compound codes
  keep the attribute present without its content, since the IOD type is not known here:
  ``X/Z``, ``X/Z/D`` and ``Z/D`` are emptied, ``X/D`` gets a dummy value, and ``X/Z/U*``
  sequences are kept with their instance UIDs replaced, so references still resolve;
- private attributes (odd groups), curves (``50xx``) and overlays (``60xx``) are removed;
  retired group lengths too; sequences not in the table are kept and their items cleaned the
  same way (action ``K``); file meta attributes naming systems or private data are removed;
- :class:`UidMapper` gives each UID its ``2.25.<128-bit hash>`` replacement, the same within a
  run and unrelated between runs;
- PatientIdentityRemoved, DeidentificationMethod and its code sequence (DCM 113100) are set.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medviewer import __version__
from medviewer.dicom.deid_profile import BASIC_PROFILE

BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
METHOD_TEXT = f"Basic Application Confidentiality Profile (medviewer {__version__})"
DUMMY_TEXT = "ANONYMOUS"

# What a compound code becomes when the IOD's attribute type is unknown (see module doc).
_RESOLVED = {
    "X": "X",
    "Z": "Z",
    "D": "D",
    "U": "U",
    "X/Z": "Z",
    "X/Z/D": "Z",
    "Z/D": "Z",
    "X/D": "D",
    "X/Z/U*": "U*",
}
_DUMMY_BY_VR: dict[str, object] = {
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "AS": "000Y",
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "UV": 0,
    "SV": 0,
    "FL": 0.0,
    "FD": 0.0,
    "AT": 0,
    "OB": b"\x00" * 8,
    "OW": b"\x00" * 8,
    "OD": b"\x00" * 8,
    "OF": b"\x00" * 8,
    "OL": b"\x00" * 8,
    "OV": b"\x00" * 8,
    "UN": b"\x00" * 8,
}
# File meta attributes naming the sending / receiving systems or carrying private data.
_META_REMOVED = frozenset(
    {0x00020016, 0x00020017, 0x00020018, 0x00020026, 0x00020027, 0x00020028, 0x00020100, 0x00020102}
)


class UidMapper:
    """Old UID -> new UID, the same answer for the same UID within one run.

    The new UID is ``2.25.`` and the first 128 bits of SHA-256(secret + old UID) as a decimal
    number (PS3.5 B.2); the secret is random per mapper, so runs cannot be linked.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else os.urandom(32)
        self._map: dict[str, str] = {}

    def __call__(self, uid: str) -> str:
        old = _norm(uid)
        if not old:
            return old
        new = self._map.get(old)
        if new is None:
            digest = hashlib.sha256(self._secret + old.encode("utf-8", "replace")).digest()
            new = "2.25." + str(int.from_bytes(digest[:16], "big"))
            self._map[old] = new
        return new

    def __len__(self) -> int:
        return len(self._map)


@dataclass
class DatasetReport:
    """What :func:`deidentify_dataset` did to one data set."""

    uids: dict[str, str] = field(default_factory=dict)
    """Original UID -> new UID, for the UIDs this data set held."""
    burned_in: bool = False
    """(0028,0301) Burned In Annotation was YES: the pixels may show identity."""


def deidentify_dataset(ds: Dataset, uids: UidMapper) -> DatasetReport:
    """Apply the Basic Profile to ``ds`` in place (file meta included); pixel data untouched.

    ``uids`` maps UIDs; pass the same mapper for every file of one set so that the study,
    series and references stay consistent.
    """
    report = DatasetReport(burned_in=str(ds.get("BurnedInAnnotation", "")).upper() == "YES")
    _clean(ds, uids, report)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        for tag in list(meta.keys()):
            t = int(tag)
            if t == 0x00020003:
                _replace_uids(meta[tag], uids, report)
            elif t in _META_REMOVED or (t >> 16) & 1:
                del meta[tag]
    _mark(ds)
    return report


def _clean(ds: Dataset, uids: UidMapper, report: DatasetReport) -> None:
    for tag in list(ds.keys()):
        t = int(tag)
        group, element = t >> 16, t & 0xFFFF
        if group & 1 or (element == 0 and group != 0x0002):
            del ds[tag]  # private attributes and creators; retired group lengths
            continue
        if (0x5000 <= group <= 0x501E or 0x6000 <= group <= 0x601E) and not group & 1:
            del ds[tag]  # curves, overlay planes
            continue
        elem = ds[tag]
        code = BASIC_PROFILE.get(t)
        if code is None:  # K: kept; a sequence is cleaned item by item
            if elem.VR == "SQ":
                for item in elem.value or ():
                    _clean(item, uids, report)
            continue
        action = _RESOLVED[code]
        if action == "X":
            del ds[tag]
        elif action == "Z":
            elem.value = [] if elem.VR == "SQ" else elem.empty_value
        elif action == "D":
            _dummy(elem, uids, report)
        elif elem.VR == "SQ":  # U*: keep the references, with new UIDs
            for item in elem.value or ():
                _clean(item, uids, report)
        elif action in ("U", "U*"):
            _replace_uids(elem, uids, report)


def _dummy(elem, uids: UidMapper, report: DatasetReport) -> None:
    vr = elem.VR
    if vr == "SQ":
        elem.value = [Dataset()]  # one empty item: present, non-zero length, nothing in it
    elif vr == "UI":
        _replace_uids(elem, uids, report)
    else:
        elem.value = _DUMMY_BY_VR.get(vr, DUMMY_TEXT)


def _norm(uid) -> str:
    return str(uid).strip(" \x00")


def _replace_uids(elem, uids: UidMapper, report: DatasetReport) -> None:
    value = elem.value
    if value is None or value == "":
        return
    if isinstance(value, bytes):  # a UID read without its VR
        value = value.decode("ascii", "replace").strip(" \x00")
        elem.VR = "UI"
    if isinstance(value, str):
        new = uids(value)
        report.uids[_norm(value)] = new
        elem.value = new
        return
    old = [_norm(v) for v in value]
    mapped = [uids(v) for v in old]
    report.uids.update(zip(old, mapped))
    elem.value = mapped


def _mark(ds: Dataset) -> None:
    ds.PatientIdentityRemoved = "YES"
    methods = [str(m) for m in _as_list(ds.get("DeidentificationMethod"))]
    if METHOD_TEXT not in methods:
        methods.append(METHOD_TEXT)
    ds.DeidentificationMethod = methods if len(methods) > 1 else methods[0]
    codes = ds.get("DeidentificationMethodCodeSequence") or Sequence()
    if not any(str(c.get("CodeValue", "")) == BASIC_PROFILE_CODE[0] for c in codes):
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = BASIC_PROFILE_CODE
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = codes
    if "PixelData" in ds or "LongitudinalTemporalInformationModified" in ds:
        ds.LongitudinalTemporalInformationModified = "REMOVED"


def _as_list(value) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, str | bytes):
        return [value]
    try:
        return list(value)
    except TypeError:
        return [value]


__all__ = [
    "BASIC_PROFILE_CODE",
    "DUMMY_TEXT",
    "METHOD_TEXT",
    "DatasetReport",
    "UidMapper",
    "deidentify_dataset",
]
