"""A synthetic study full of distinctive patient-identifying values, to prove none leaks.

:func:`write_identified_series` writes a small CT series whose every file carries the values of
:data:`PHI` (name, IDs, birth date, address, institution, physicians, operator, station,
accession number, a private tag repeating the name) and one reference to another instance.
:func:`phi_needles` gives the byte strings to search exported files for.
"""

from __future__ import annotations

import os

import pydicom
from pydicom.dataset import Dataset

from medviewer.testing.synthetic import SyntheticSeries, write_series

PHI: dict[str, str] = {
    "PatientName": "Quixote^Alonso^Quijano",
    "PatientID": "PHI-7734-QX",
    "OtherPatientIDs": "OLD-5521-QX",
    "PatientBirthDate": "19410623",
    "PatientAddress": "Camino Real 7 Argamasilla",
    "PatientTelephoneNumbers": "+34-926-555-0199",
    "InstitutionName": "Hospital de la Mancha",
    "InstitutionAddress": "Calle Cervantes 1 Toboso",
    "ReferringPhysicianName": "Panza^Sancho",
    "PerformingPhysicianName": "Carrasco^Sanson",
    "NameOfPhysiciansReadingStudy": "Dulcinea^Aldonza",
    "OperatorsName": "Rocinante^Tecnico",
    "StationName": "CTLAMANCHA01",
    "AccessionNumber": "ACC9988776",
    "StudyID": "STU4455",
}
"""Keyword -> value written into every file of the identified series."""

PRIVATE_CREATOR = "MEDVIEWER PHI TEST"


def write_identified_series(
    folder: str | os.PathLike, *, n_slices: int = 6, rows: int = 32, cols: int = 32, seed: int = 0
) -> SyntheticSeries:
    """A CT series in ``folder`` carrying :data:`PHI`; slice files reference the first one."""
    made = write_series(
        folder, n_slices=n_slices, rows=rows, cols=cols, seed=seed, name_by="index", shuffle=False
    )
    first_sop = None
    for path in made.paths:
        ds = pydicom.dcmread(path)
        for keyword, value in PHI.items():
            setattr(ds, keyword, value)
        block = ds.private_block(0x0029, PRIVATE_CREATOR, create=True)
        block.add_new(0x10, "LO", PHI["PatientName"])
        if first_sop is None:
            first_sop = ds.SOPInstanceUID
        else:
            ref = Dataset()
            ref.ReferencedSOPClassUID = ds.SOPClassUID
            ref.ReferencedSOPInstanceUID = first_sop
            ds.ReferencedImageSequence = [ref]
        ds.save_as(path)
    return made


def phi_needles() -> list[bytes]:
    """The identifying values as bytes, also the name as a viewer shows it ('Quixote, Alonso')
    and each name part of four letters or more."""
    needles = {v.encode() for v in PHI.values()}
    for keyword in ("PatientName", "ReferringPhysicianName", "PerformingPhysicianName"):
        parts = PHI[keyword].split("^")
        needles.add(f"{parts[0]}, {parts[1]}".encode())
        needles.update(p.encode() for p in parts if len(p) >= 4)
    return sorted(needles)


__all__ = ["PHI", "PRIVATE_CREATOR", "phi_needles", "write_identified_series"]
