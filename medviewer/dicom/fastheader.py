"""A fast header reader for the common case: Part 10 files in little-endian encodings.

pydicom builds a full Dataset and converts every value it is asked for; for a scan of
hundreds of files that is most of the time spent. This walker reads the first kilobytes of a
file, skips every element it does not need (sequences included) and keeps the raw bytes of
the ~35 attributes the scan uses, stopping at the pixel data. Anything unusual (no preamble,
big endian, deflate, enhanced multi-frame, LUT sequences, DICOMDIR, other character sets)
returns ``None`` and the caller uses pydicom instead, so results are always identical.
"""

from __future__ import annotations

import struct

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_TAG = struct.Struct("<HH")
_EXPL_SHORT = struct.Struct("<HH2sH")
_EXPL_LONG = struct.Struct("<HH2s2xI")
_IMPL = struct.Struct("<HHI")

CHUNK = 16384
MAX_HEADER = 4 * 1024 * 1024
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
LONG_VRS = {
    b"OB",
    b"OW",
    b"OF",
    b"OD",
    b"OL",
    b"OV",
    b"SQ",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"SV",
    b"UV",
}

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
UNSUPPORTED_HERE = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}  # big endian, deflate

# tag -> (keyword, kind): 'str' text, 'num' DS/IS text (multi-valued split), 'us' binary.
WANTED: dict[int, tuple[str, str]] = {
    0x00080005: ("SpecificCharacterSet", "str"),
    0x00080016: ("SOPClassUID", "str"),
    0x00080018: ("SOPInstanceUID", "str"),
    0x00080020: ("StudyDate", "str"),
    0x00080050: ("AccessionNumber", "str"),  # with the patient's: registered for redaction
    0x00080060: ("Modality", "str"),
    0x00081030: ("StudyDescription", "str"),
    0x0008103E: ("SeriesDescription", "str"),
    0x00100010: ("PatientName", "str"),
    0x00100020: ("PatientID", "str"),
    0x00100030: ("PatientBirthDate", "str"),
    0x00101000: ("OtherPatientIDs", "str"),
    0x00101001: ("OtherPatientNames", "str"),
    0x00101005: ("PatientBirthName", "str"),
    0x00101060: ("PatientMotherBirthName", "str"),
    0x00180015: ("BodyPartExamined", "str"),
    0x00180050: ("SliceThickness", "num"),
    0x00180088: ("SpacingBetweenSlices", "num"),
    0x00181164: ("ImagerPixelSpacing", "num"),
    0x0020000D: ("StudyInstanceUID", "str"),
    0x0020000E: ("SeriesInstanceUID", "str"),
    0x00200011: ("SeriesNumber", "num"),
    0x00200013: ("InstanceNumber", "num"),
    0x00200020: ("PatientOrientation", "str"),
    0x00200032: ("ImagePositionPatient", "num"),
    0x00200037: ("ImageOrientationPatient", "num"),
    0x00200052: ("FrameOfReferenceUID", "str"),
    0x00280002: ("SamplesPerPixel", "us"),
    0x00280004: ("PhotometricInterpretation", "str"),
    0x00280006: ("PlanarConfiguration", "us"),
    0x00280008: ("NumberOfFrames", "num"),
    0x00280010: ("Rows", "us"),
    0x00280011: ("Columns", "us"),
    0x00280030: ("PixelSpacing", "num"),
    0x00280100: ("BitsAllocated", "us"),
    0x00280101: ("BitsStored", "us"),
    0x00280103: ("PixelRepresentation", "us"),
    0x00281050: ("WindowCenter", "num"),
    0x00281051: ("WindowWidth", "num"),
    0x00281052: ("RescaleIntercept", "num"),
    0x00281053: ("RescaleSlope", "num"),
    0x00281054: ("RescaleType", "str"),
    0x00281055: ("WindowCenterWidthExplanation", "str"),
    0x00281056: ("VOILUTFunction", "str"),
    0x00282110: ("LossyImageCompression", "str"),
    0x20500020: ("PresentationLUTShape", "str"),
    0x3004000C: ("GridFrameOffsetVector", "num"),
    0x3004000E: ("DoseGridScaling", "num"),
}
# Attributes that need pydicom's full treatment: hand the file over.
FALLBACK_TAGS = {
    0x00041220,  # DirectoryRecordSequence (DICOMDIR)
    0x00283000,  # ModalityLUTSequence
    0x00283010,  # VOILUTSequence
    0x52009229,  # SharedFunctionalGroupsSequence
    0x52009230,  # PerFrameFunctionalGroupsSequence
}
PLAIN_CHARSETS = {"", "ISO_IR 6", "ISO_IR 100", "ISO_IR 192"}


class _NeedPydicom(Exception):
    """The file is outside what this reader handles; use pydicom."""


class FastDataset:
    """The few attributes the scan needs, with pydicom-like ``get`` / ``in`` / ``len``."""

    def __init__(self, values: dict[int, bytes], n_elements: int, meta: dict[str, str]) -> None:
        self._raw = values
        self._n = n_elements
        self.file_meta = meta
        charset = self._decode(values.get(0x00080005, b""), "ascii")
        if charset not in PLAIN_CHARSETS:
            raise _NeedPydicom(f"character set {charset}")
        self._encoding = "utf-8" if charset == "ISO_IR 192" else "latin-1"
        self._by_keyword = {WANTED[t][0]: t for t in values}

    @staticmethod
    def _decode(raw: bytes, encoding: str) -> str:
        return raw.decode(encoding, errors="replace").strip("\x00 ")

    def __len__(self) -> int:
        return self._n

    def __contains__(self, keyword: str) -> bool:
        return keyword in self._by_keyword

    def get(self, keyword: str, default=None):
        tag = self._by_keyword.get(keyword)
        if tag is None:
            return default
        raw = self._raw[tag]
        kind = WANTED[tag][1]
        if kind == "us":
            if len(raw) < 2:
                return default
            return _U16.unpack_from(raw)[0]
        text = self._decode(raw, self._encoding if kind == "str" else "ascii")
        if kind == "num" and "\\" in text:
            return [part.strip() for part in text.split("\\")]
        if kind == "str" and "\\" in text and keyword == "WindowCenterWidthExplanation":
            return [part.strip() for part in text.split("\\")]
        if kind == "num":
            return text.strip() if text.strip() else default
        return text


class _Reader:
    def __init__(self, fp, size: int) -> None:
        self.fp = fp
        self.size = size
        self.buf = fp.read(CHUNK)

    def ensure(self, end: int) -> None:
        """Make bytes [0, end) available, or raise if the file is shorter."""
        if end <= len(self.buf):
            return
        if end > self.size:
            raise _NeedPydicom("element runs past the end of the file")
        if end > MAX_HEADER:
            raise _NeedPydicom("header larger than expected")
        self.buf += self.fp.read(max(end - len(self.buf), CHUNK))
        if end > len(self.buf):
            raise _NeedPydicom("short read")


def _element(r: _Reader, pos: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
    """(tag, vr, header length, value length) of the element at ``pos``."""
    r.ensure(pos + 8)
    if implicit:
        group, elem, length = _IMPL.unpack_from(r.buf, pos)
        return (group << 16) | elem, None, 8, length
    group, elem, vr, short = _EXPL_SHORT.unpack_from(r.buf, pos)
    tag = (group << 16) | elem
    if tag in (ITEM, ITEM_END, SEQ_END):
        return tag, None, 8, _U32.unpack_from(r.buf, pos + 4)[0]
    if vr in LONG_VRS:
        r.ensure(pos + 12)
        return tag, vr, 12, _U32.unpack_from(r.buf, pos + 8)[0]
    if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
        raise _NeedPydicom("implicit VR inside an explicit VR data set")
    return tag, vr, 8, short


def _skip_undefined(r: _Reader, pos: int, implicit: bool) -> int:
    """Skip a sequence of undefined length starting at ``pos`` (its first item)."""
    while True:
        r.ensure(pos + 8)
        group, elem = _TAG.unpack_from(r.buf, pos)
        tag = (group << 16) | elem
        length = _U32.unpack_from(r.buf, pos + 4)[0]
        pos += 8
        if tag == SEQ_END:
            return pos
        if tag != ITEM:
            raise _NeedPydicom("malformed sequence")
        if length != UNDEFINED:
            pos += length
            continue
        while True:  # elements of an item of undefined length
            tag, vr, hlen, length = _element(r, pos, implicit)
            pos += hlen
            if tag == ITEM_END:
                break
            if length == UNDEFINED:
                pos = _skip_undefined(r, pos, implicit or vr == b"UN")
            else:
                pos += length


def read_fast(fp, size: int) -> tuple[FastDataset, int] | None:
    """Parse the header of an open file; ``(dataset, pixel element offset)`` or ``None``.

    The offset points at the pixel data element's tag (as pydicom's ``stop_before_pixels``
    leaves the file), or at the end of the file when there is no pixel data.
    """
    try:
        return _read(fp, size)
    except (_NeedPydicom, struct.error, IndexError, UnicodeDecodeError):
        return None


def _read(fp, size: int) -> tuple[FastDataset, int] | None:
    r = _Reader(fp, size)
    if len(r.buf) < 144 or r.buf[128:132] != b"DICM":
        return None
    pos = 132
    meta: dict[str, str] = {}
    while True:  # file meta group (0002): always explicit VR little endian
        r.ensure(pos + 8)
        group = _U16.unpack_from(r.buf, pos)[0]
        if group != 0x0002:
            break
        tag, _vr, hlen, length = _element(r, pos, implicit=False)
        if length == UNDEFINED:
            return None
        r.ensure(pos + hlen + length)
        value = r.buf[pos + hlen : pos + hlen + length]
        if tag == 0x00020010:
            meta["TransferSyntaxUID"] = value.decode("ascii", "replace").strip("\x00 ")
        elif tag == 0x00020002:
            meta["MediaStorageSOPClassUID"] = value.decode("ascii", "replace").strip("\x00 ")
        pos += hlen + length
    ts = meta.get("TransferSyntaxUID", "")
    if not ts or ts in UNSUPPORTED_HERE or not ts.startswith("1.2.840.10008.1.2"):
        return None
    implicit = ts == IMPLICIT_LE

    values: dict[int, bytes] = {}
    n_elements = 0
    while True:
        if pos + 8 > size:
            pixel_pos = size  # no pixel data: the caller reports it
            break
        tag, vr, hlen, length = _element(r, pos, implicit)
        if tag in PIXEL_TAGS:
            pixel_pos = pos
            break
        if tag in FALLBACK_TAGS or tag >> 16 == 0x0002:
            return None
        n_elements += 1
        if length == UNDEFINED:
            pos = _skip_undefined(r, pos + hlen, implicit or vr == b"UN")
            continue
        if tag in WANTED:
            r.ensure(pos + hlen + length)
            values[tag] = bytes(r.buf[pos + hlen : pos + hlen + length])
        pos += hlen + length
    return FastDataset(values, n_elements, meta), pixel_pos
