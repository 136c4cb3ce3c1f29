"""The Basic Application Level Confidentiality Profile of DICOM PS3.15 Annex E, as data.

``BASIC_PROFILE`` maps a tag to its action code in the "Basic Prof." column of Table E.1-1
(Application Level Confidentiality Profile Attributes). The table is a fact of the standard;
it was taken from the current edition's table and cross-checked against a second extraction.
The rows live in three table modules by group (:mod:`.deid_table_patient` 0000-0012,
:mod:`.deid_table_acquisition` 0014-003A, :mod:`.deid_table_procedures` 0040-FFFC), in tag order.
Attributes the table lists by pattern (private groups, curves ``50xx``, overlay data and
comments ``60xx,3000`` / ``60xx,4000``) are handled by rule in :mod:`medviewer.dicom.deid_dataset`.

Action codes (Table E.1-1a): ``D`` dummy value, ``Z`` zero length (or dummy), ``X`` remove,
``U`` replace UID consistently; compound codes (``X/Z``, ``X/D``, ``X/Z/D``, ``Z/D``) take the
first action unless a later one is needed for IOD conformance; ``X/Z/U*`` is a sequence that is
removed unless its contained instance UIDs are replaced.
"""

from __future__ import annotations

from medviewer.dicom import deid_table_acquisition, deid_table_patient, deid_table_procedures

ACTION_CODES: frozenset[str] = frozenset(
    {"D", "Z", "X", "U", "X/Z", "X/D", "X/Z/D", "Z/D", "X/Z/U*"}
)

# tag, Basic Profile action, keyword (for the reader; pydicom 3.0 lacks a few newer ones)
_TABLE = "\n".join(
    rows.ROWS.strip("\n")
    for rows in (deid_table_patient, deid_table_acquisition, deid_table_procedures)
)


def _parse(text: str) -> dict[int, str]:
    table: dict[int, str] = {}
    for line in text.strip().splitlines():
        tag, code, _keyword = line.split()
        if code not in ACTION_CODES:
            raise ValueError(f"unknown action code {code!r} for ({tag}) in the profile table")
        group, element = tag.split(",")
        table[(int(group, 16) << 16) | int(element, 16)] = code
    return table


BASIC_PROFILE: dict[int, str] = _parse(_TABLE)
"""Tag (as an int, ``0xGGGGEEEE``) -> Basic Profile action code."""

PROFILE_EDITION = "DICOM PS3.15 2026c, Table E.1-1"

__all__ = ["ACTION_CODES", "BASIC_PROFILE", "PROFILE_EDITION"]
