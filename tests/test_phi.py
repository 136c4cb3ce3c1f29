"""Patient values registered when a file is read never reach a log record in clear."""

import logging
import shutil

import pydicom
import pytest

from medviewer import phi
from medviewer.dicom.headers import read_header
from medviewer.resources import sample_study_dir
from medviewer.session.tags import read_tags


@pytest.fixture(autouse=True)
def _fresh_registry():
    phi.REGISTRY.clear()
    yield
    phi.REGISTRY.clear()


def test_values_and_their_variants_are_redacted_only_as_whole_words():
    phi.register_patient("DOE^JOHN^Q", "PID-7781", "19600102")
    text = (
        "patient DOE^JOHN^Q (John Doe, doe, john q) id pid-7781 born 19600102 / 1960-01-02 "
        "in /data/Doe_John/IM1.dcm"
    )
    out = phi.redact(text)
    for leaked in ("DOE", "JOHN", "john", "Doe", "7781", "19600102", "1960-01-02"):
        assert leaked not in out, (leaked, out)
    assert out.count(phi.PLACEHOLDER) >= 8
    # parts inside longer words or numbers stay: no false hits on ordinary text
    assert phi.redact("Johnson PID-77810 doest 219600102") == "Johnson PID-77810 doest 219600102"
    # a two-letter part is too common to redact alone, but not as part of the whole name
    phi.register_patient("Li^An", "")
    assert phi.redact("Li An, an li; Li and An") == (
        f"{phi.PLACEHOLDER}, {phi.PLACEHOLDER}; Li and An"
    )


def test_reading_a_header_registers_its_patient_before_anything_is_logged(tmp_path):
    src = sorted(sample_study_dir().glob("*.dcm"))[0]
    ds = pydicom.dcmread(src)
    ds.PatientName = "Roe^Richard"
    ds.PatientID = "RR-0042"
    ds.PatientBirthDate = "19711231"
    ds.OtherPatientIDs = ["OTHER-1", "OTHER-2"]
    ds.AccessionNumber = "ACC998877"
    path = tmp_path / "x.dcm"
    ds.save_as(path)
    assert phi.redact("Roe RR-0042") == "Roe RR-0042"  # nothing known yet
    header = read_header(str(path))
    assert header.patient_id == "RR-0042"
    text = "Richard, ROE RR-0042 1971-12-31 OTHER-2 ACC998877"
    assert phi.redact(text) == " ".join([phi.PLACEHOLDER] * 5)  # the name counts once


def test_the_slow_header_path_and_the_tag_browser_register_too(tmp_path):
    src = sorted(sample_study_dir().glob("*.dcm"))[0]
    ds = pydicom.dcmread(src)
    ds.SpecificCharacterSet = "ISO_IR 144"  # not one the fast reader handles: pydicom reads it
    ds.PatientName = "Smirnov^Ivan"
    path = tmp_path / "cyr.dcm"
    ds.save_as(path)
    read_header(str(path))
    assert phi.redact("Ivan Smirnov") == phi.PLACEHOLDER
    phi.REGISTRY.clear()
    shutil.copy(src, tmp_path / "plain.dcm")
    read_tags(tmp_path / "plain.dcm")
    assert phi.redact("Anonymous^Cranium MV-SAMPLE-0001") == f"{phi.PLACEHOLDER} {phi.PLACEHOLDER}"


def test_the_filter_redacts_message_arguments_traceback_and_stack():
    phi.register_patient("Doe^Jane", "JD-1234")
    record_logger = logging.getLogger("medviewer.test_phi")
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(self.format(record))

    handler = Keep()
    handler.addFilter(phi.RedactFilter())
    handler.setFormatter(logging.Formatter("%(message)s"))
    record_logger.addHandler(handler)
    record_logger.setLevel(logging.DEBUG)
    try:
        try:
            raise ValueError("bad value 'Doe^Jane' in JD-1234")
        except ValueError:
            record_logger.exception("reading %s failed", "/scans/JANE DOE/1.dcm", stack_info=True)
        record_logger.warning("100%% of %d slices", 3)  # ordinary records are left as they were
    finally:
        record_logger.removeHandler(handler)
        record_logger.setLevel(logging.NOTSET)
    text = "\n".join(seen)
    assert "Traceback" in text and "ValueError: bad value" in text and "Stack (most recent" in text
    for leaked in ("Doe", "Jane", "JANE", "DOE", "JD-1234"):
        assert leaked not in text, leaked
    assert seen[-1] == "100% of 3 slices"
