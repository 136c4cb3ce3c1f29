"""De-identification (PS3.15 Basic profile): the sample study, pydicom's test files, a study full
of identifying values, DICOMDIR input, consistent UIDs, bad input, cancelling, the CLI."""

import hashlib
import json
import os
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.datadict import keyword_for_tag

from medviewer.cli import main
from medviewer.dicom import deid as deid_module
from medviewer.dicom import load_volume, scan
from medviewer.dicom.deid import (
    DICOMDIR_NOT_COPIED,
    AnonymizeResult,
    UidMapper,
    anonymize,
    anonymize_iter,
    deidentify_dataset,
)
from medviewer.dicom.deid_profile import BASIC_PROFILE
from medviewer.errors import Cancelled, DicomError
from medviewer.jobs import CancelToken, Progress, run_job
from medviewer.resources import sample_study_dir
from medviewer.testing.phi import PHI, phi_needles, write_identified_series

# pydicom test files with names, institutions, private tags, overlays, references, big endian,
# deflate, JPEG 2000, JPEG baseline colour, multi-frame and a waveform.
PYDICOM_FILES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR-SIEMENS-DICOM-WithOverlays.dcm",
    "JPEG2000.dcm",
    "ExplVR_BigEnd.dcm",
    "image_dfl.dcm",
    "liver.dcm",
    "color3d_jpeg_baseline.dcm",
    "emri_small.dcm",
    "waveform_ecg.dcm",
    "rtplan.dcm",
]


def _read(path):
    return pydicom.dcmread(path, force=True)


def _files(folder):
    return sorted(
        os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs if not f.startswith(".")
    )


def _digest(folder) -> dict[str, str]:
    return {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in _files(folder)}


def _identity_strings(ds) -> list[bytes]:
    """The original's identifying values (5+ characters: shorter ones turn up by chance in
    numbers) as bytes, less those that are also
    part of the manufacturer's name (kept by the profile: MR_small's institution 'TOSHIBA' is
    also in its manufacturer 'TOSHIBA_MEC')."""
    kept = str(ds.get("Manufacturer", "") or "")
    out = set()
    for kw in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "InstitutionName",
        "InstitutionAddress",
        "ReferringPhysicianName",
        "OperatorsName",
        "PerformingPhysicianName",
        "StationName",
        "AccessionNumber",
    ):
        value = str(ds.get(kw, "") or "").strip()
        if len(value) >= 5 and value not in kept and value.upper() != "ANONYMOUS":
            out.add(value.encode())
    return sorted(out)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    before = _digest(sample_study_dir())
    out = tmp_path_factory.mktemp("deid") / "sample"
    steps = []
    result = run_job(anonymize_iter(sample_study_dir(), out), steps.append)
    assert _digest(sample_study_dir()) == before  # the input was never written to
    return result, out, steps


def test_sample_study_patient_fields_gone_uids_replaced_voxels_identical(sample_run):
    result, out, steps = sample_run
    originals = {os.path.basename(p): _read(p) for p in _files(sample_study_dir())}
    assert isinstance(result, AnonymizeResult)
    assert result.written == len(originals) == 108 and result.skipped == []
    assert all(isinstance(s, Progress) for s in steps) and steps[-1].done == steps[-1].total
    written = {os.path.basename(p): _read(p) for p in _files(out)}
    assert written.keys() == originals.keys()  # the same layout and names
    studies, series, sops = set(), set(), set()
    for name, ds in written.items():
        orig = originals[name]
        assert ds.PatientName == "" and ds.PatientID == "" and "StudyDescription" not in ds
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[-1].CodeValue == "113100"
        assert ds.DeidentificationMethodCodeSequence[-1].CodingSchemeDesignator == "DCM"
        assert ds.SOPInstanceUID != orig.SOPInstanceUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.StudyInstanceUID != orig.StudyInstanceUID
        assert ds.FrameOfReferenceUID != orig.FrameOfReferenceUID
        assert ds.SOPInstanceUID.startswith("2.25.") and len(ds.SOPInstanceUID) <= 64
        assert ds.PixelData == orig.PixelData  # compressed bytes untouched
        assert ds.file_meta.TransferSyntaxUID == orig.file_meta.TransferSyntaxUID
        studies.add(ds.StudyInstanceUID)
        series.add(ds.SeriesInstanceUID)
        sops.add(ds.SOPInstanceUID)
    assert len(studies) == len(series) == 1 and len(sops) == 108  # one study, one series
    needles = _identity_strings(next(iter(originals.values())))
    assert b"MV-SAMPLE-0001" in needles and b"Anonymous^Cranium" in needles
    for path in _files(out):
        data = open(path, "rb").read()
        assert not [n for n in needles if n in data], path


def test_sample_study_scans_and_loads_voxel_identical(sample_run):
    result, out, _ = sample_run
    a = scan([sample_study_dir()])
    b = scan([out])
    assert b.skipped == [] and len(b.all_series()) == 1
    (st,) = b.studies
    assert st.patient_id == "" and st.patient_name == ""
    va, vb = load_volume(a.all_series()[0]), load_volume(b.all_series()[0])
    assert vb.array.dtype == va.array.dtype and np.array_equal(va.array, vb.array)
    assert vb.geometry.spacing == va.geometry.spacing
    assert np.allclose(vb.geometry.origin, va.geometry.origin)
    assert b.all_series()[0].series_uid != a.all_series()[0].series_uid


@pytest.fixture(scope="module")
def pydicom_run(tmp_path_factory, testdata_module):
    src = tmp_path_factory.mktemp("pyd-in")
    for name in PYDICOM_FILES:
        shutil.copy(testdata_module(name), src / name)
    out = tmp_path_factory.mktemp("pyd-out") / "anon"
    return src, out, anonymize(src, out)


@pytest.fixture(scope="module")
def testdata_module():
    from .stacks import find_testdata

    return find_testdata


def test_pydicom_files_follow_the_profile_table(pydicom_run):
    src, out, result = pydicom_run
    assert result.written == len(PYDICOM_FILES) and result.skipped == []
    checked = 0
    for name in PYDICOM_FILES:
        orig, ds = _read(src / name), _read(out / name)
        for elem in ds.iterall():
            assert not elem.tag.is_private, (name, elem.tag)
            assert not 0x6000 <= elem.tag.group <= 0x60FF, (name, "overlay", elem.tag)
            assert not 0x5000 <= elem.tag.group <= 0x50FF, (name, "curve", elem.tag)
        for elem in orig:  # top level: every attribute the table lists got its action
            code = BASIC_PROFILE.get(int(elem.tag))
            if code is None or elem.value in (None, "", b"") or elem.VR == "SQ":
                continue
            checked += 1
            kw = keyword_for_tag(elem.tag) or str(elem.tag)
            if code == "X":
                assert elem.tag not in ds, (name, kw)
            elif code in ("Z", "X/Z", "X/Z/D", "Z/D"):
                assert ds[elem.tag].value in (None, "", b""), (name, kw)
            elif code in ("D", "X/D"):
                assert ds[elem.tag].value != elem.value, (name, kw)
            elif code == "U":
                assert ds[elem.tag].value != elem.value, (name, kw)
        assert ds.PatientIdentityRemoved == "YES"
        if "PixelData" in orig:
            assert ds.PixelData == orig.PixelData, name
        if "WaveformSequence" in orig:
            assert ds.WaveformSequence[0].WaveformData == orig.WaveformSequence[0].WaveformData
        header = open(out / name, "rb").read().replace(orig.get("PixelData", b"-"), b"")
        for needle in _identity_strings(orig):
            assert needle not in header, (name, needle)
    assert checked > 100  # many table attributes were present and handled


def test_pydicom_images_scan_and_load_identically(pydicom_run):
    src, out, _ = pydicom_run
    for name in ("CT_small.dcm", "JPEG2000.dcm", "ExplVR_BigEnd.dcm", "image_dfl.dcm"):
        (a,) = scan([src / name]).all_series()
        (b,) = scan([out / name]).all_series()
        assert np.array_equal(load_volume(a).array, load_volume(b).array), name


def test_references_follow_their_new_uids(pydicom_run):
    src, out, _ = pydicom_run
    orig, ds = _read(src / "rtplan.dcm"), _read(out / "rtplan.dcm")
    before = [e.value for e in orig.iterall() if e.tag == 0x00081155]
    after = [e.value for e in ds.iterall() if e.tag == 0x00081155]
    assert len(after) == len(before) == 2 and not set(after) & set(before)


def test_identified_series_uids_consistent_names_and_paths_clean(tmp_path):
    src = tmp_path / "in"
    folder = src / f"{PHI['PatientID']}_Quixote"
    made = write_identified_series(folder, n_slices=4)
    first = _read(made.paths[0])
    by_sop = folder / f"{first.SOPInstanceUID}.dcm"  # a file named by its SOP Instance UID
    os.rename(made.paths[0], by_sop)
    originals = {p: _read(p) for p in _files(src)}

    result = anonymize(src, tmp_path / "out")

    assert result.written == 4 and result.skipped == []
    assert any("renamed" in w for w in result.warnings)
    new = {a: _read(b) for a, b in result.files}
    new_first = new[str(by_sop)]
    assert os.path.basename(result.files[0][1]) == f"{new_first.SOPInstanceUID}.dcm"
    assert {os.path.basename(os.path.dirname(b)) for _, b in result.files} == {"ANON_ANON"}
    for path, ds in new.items():
        orig = originals[path]
        assert ds.StudyInstanceUID == new_first.StudyInstanceUID != orig.StudyInstanceUID
        assert ds.SeriesInstanceUID == new_first.SeriesInstanceUID
        assert ds.FrameOfReferenceUID == new_first.FrameOfReferenceUID
        if "ReferencedImageSequence" in orig:  # points at the first file's new UID
            assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == (
                new_first.SOPInstanceUID
            )
            assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == orig.SOPClassUID
        assert ds.PatientName == "" and ds.PatientID == "" and ds.PatientBirthDate == ""
        assert "OtherPatientIDs" not in ds and "InstitutionAddress" not in ds
        assert "ReferringPhysicianName" in ds and ds.ReferringPhysicianName == ""
        assert ds.InstitutionName == "" and ds.OperatorsName == "" and ds.StationName == ""
    needles = phi_needles()
    for _, target in result.files:
        data = open(target, "rb").read()
        assert not [n for n in needles if n in data], target
        assert PHI["PatientID"] not in target and "Quixote" not in target
    assert np.array_equal(load_volume(scan([tmp_path / "out"]).all_series()[0]).array, made.values)


def test_files_named_by_their_patients_do_not_overwrite_each_other(tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("Smith", "Jones"):
        made = write_identified_series(tmp_path / name, n_slices=1)
        ds = _read(made.paths[0])
        ds.PatientName = f"{name}^Pat"
        ds.save_as(tmp_path / "in" / f"{name}.dcm")
    result = anonymize(tmp_path / "in", tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out")) == ["ANON-2.dcm", "ANON.dcm"]
    assert len({_read(p).SOPInstanceUID for _, p in result.files}) == 2


def test_two_runs_give_unrelated_uids_one_mapper_is_deterministic(tmp_path):
    write_identified_series(tmp_path / "in", n_slices=2)
    a = anonymize(tmp_path / "in", tmp_path / "a")
    b = anonymize(tmp_path / "in", tmp_path / "b")
    ua = {_read(p).SOPInstanceUID for _, p in a.files}
    ub = {_read(p).SOPInstanceUID for _, p in b.files}
    assert len(ua) == len(ub) == 2 and not ua & ub
    m = UidMapper(secret=b"k")
    assert m("1.2.3") == m(" 1.2.3\x00") == UidMapper(secret=b"k")("1.2.3") != m("1.2.4")
    assert UidMapper(secret=b"other")("1.2.3") != m("1.2.3") and len(m) == 2


def test_deidentify_dataset_in_memory_nested_and_compound_codes():
    ds = _read(sample_study_dir() / "IM0001.dcm")
    ds.InstitutionName = "Hospital de la Mancha"  # X/Z/D: kept present, emptied
    ds.ProtocolName = "Quixote protocol"  # X/D: dummy value
    ds.AcquisitionDate = "20240101"  # X/Z: emptied
    item = pydicom.Dataset()
    item.PatientName = "Quixote^Alonso"  # nested in a sequence the table does not list
    item.add_new(0x00291010, "LO", "private nested")
    ds.ProcedureCodeSequence = [item]
    ds.add_new(0x60003000, "OW", b"\x00" * 16)  # overlay data
    ds.add_new(0x60000010, "US", 16)
    ds.add_new(0x50000005, "US", 1)  # a curve
    uids = UidMapper()
    report = deidentify_dataset(ds, uids)
    assert ds.InstitutionName == "" and ds.AcquisitionDate == ""
    assert ds.ProtocolName not in ("", "Quixote protocol")
    nested = ds.ProcedureCodeSequence[0]
    assert nested.PatientName == "" and 0x00291010 not in nested
    assert not [e for e in ds if e.tag.group in (0x5000, 0x6000)]
    assert report.uids and set(report.uids.values()) <= {
        ds.SOPInstanceUID,
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.FrameOfReferenceUID,
    }


def test_dicomdir_input_writes_its_files_not_the_index(tmp_path, testdata_module):
    dicomdir = testdata_module("dicomdirtests/DICOMDIR")
    out = tmp_path / "out"
    result = anonymize(dicomdir, out)
    assert result.written == 31
    (index,) = [s for s in result.skipped if s.code == DICOMDIR_NOT_COPIED]
    assert os.path.samefile(index.path, dicomdir)
    assert not (out / "DICOMDIR").exists()
    root = os.path.dirname(dicomdir)
    for src, target in result.files:  # the CD's layout; its folders named by PatientID renamed
        patient_id = str(_read(src).PatientID)
        expected = os.path.relpath(src, root).replace(patient_id, "ANON")
        assert os.path.relpath(target, out) == expected
    assert any("renamed" in w for w in result.warnings)
    rescanned = scan([out])
    assert sum(s.n_files for s in rescanned.all_series()) == 31
    assert {st.patient_id for st in rescanned.studies} == {""}


# --- bad input ------------------------------------------------------------------------------


def test_missing_input(tmp_path):
    with pytest.raises(DicomError, match="no such file or folder"):
        anonymize(tmp_path / "nope", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_output_inside_or_equal_to_input_is_refused(tmp_path):
    write_identified_series(tmp_path / "in", n_slices=2)
    before = _digest(tmp_path / "in")
    with pytest.raises(DicomError, match="inside the input"):
        anonymize(tmp_path / "in", tmp_path / "in" / "anon")
    with pytest.raises(DicomError, match="is the input"):
        anonymize(tmp_path / "in", tmp_path / "in")
    one = _files(tmp_path / "in")[0]
    with pytest.raises(DicomError, match="not empty"):  # the file's own folder
        anonymize(one, tmp_path / "in")
    assert _digest(tmp_path / "in") == before


def test_non_dicom_and_truncated_files_are_skipped_with_reasons(tmp_path):
    made = write_identified_series(tmp_path / "in", n_slices=3)
    (tmp_path / "in" / "notes.txt").write_text("report draft for Quixote")
    data = open(made.paths[1], "rb").read()
    open(made.paths[1], "wb").write(data[: len(data) - 500])  # truncated pixel data
    result = anonymize(tmp_path / "in", tmp_path / "out")
    assert result.written == 2
    codes = {os.path.basename(s.path): (s.code, s.reason) for s in result.skipped}
    assert codes["notes.txt"][0] == "not_dicom"
    assert codes[os.path.basename(made.paths[1])][0] == "corrupt"
    assert "truncated" in codes[os.path.basename(made.paths[1])][1]
    written = {os.path.basename(p) for p in _files(tmp_path / "out")}
    assert written == {os.path.basename(made.paths[k]) for k in (0, 2)}  # no skipped file


def test_read_only_output_is_refused_before_writing(tmp_path, monkeypatch):
    write_identified_series(tmp_path / "in", n_slices=2)
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    if os.geteuid() == 0:  # root ignores permission bits: make the folder refuse instead
        real = deid_module.tempfile.mkstemp

        def refuse(*args, dir=None, **kw):
            if os.path.realpath(dir).startswith(os.path.realpath(out)):
                raise PermissionError(13, "Permission denied")
            return real(*args, dir=dir, **kw)

        monkeypatch.setattr(deid_module.tempfile, "mkstemp", refuse)
    try:
        with pytest.raises(DicomError, match=r"cannot write into .*Permission denied"):
            anonymize(tmp_path / "in", out)
        assert os.listdir(out) == []
    finally:
        out.chmod(0o755)


def test_cancel_stops_between_files_and_leaves_only_complete_files(tmp_path):
    write_identified_series(tmp_path / "in", n_slices=6)
    token = CancelToken()
    seen = []

    def on_progress(step):
        seen.append(step)
        if step.done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        run_job(anonymize_iter(tmp_path / "in", tmp_path / "out", token), on_progress, token)
    left = os.listdir(tmp_path / "out")
    assert len(left) == 2 and not [n for n in left if n.startswith(".")]
    for name in left:
        assert _read(tmp_path / "out" / name).PatientIdentityRemoved == "YES"


def test_profile_table_holds_the_standard_codes():
    assert len(BASIC_PROFILE) > 600
    expected = {
        0x00100010: "Z",  # PatientName
        0x00100020: "Z/D",  # PatientID
        0x00100030: "Z",  # PatientBirthDate
        0x00080080: "X/Z/D",  # InstitutionName
        0x00080090: "Z",  # ReferringPhysicianName
        0x00080018: "U",  # SOPInstanceUID
        0x0020000D: "U",  # StudyInstanceUID
        0x00081155: "U",  # ReferencedSOPInstanceUID
        0x00081140: "X/Z/U*",  # ReferencedImageSequence
        0x00020003: "U",  # MediaStorageSOPInstanceUID
        0x00101000: "X",  # OtherPatientIDs
    }
    assert {t: BASIC_PROFILE[t] for t in expected} == expected
    assert 0x00080016 not in BASIC_PROFILE and 0x00280010 not in BASIC_PROFILE  # kept


# --- the command line -----------------------------------------------------------------------


def test_cli_json_report(tmp_path, capsys):
    write_identified_series(tmp_path / "in", n_slices=2)
    (tmp_path / "in" / "notes.txt").write_text("x")
    assert main(["anonymize", str(tmp_path / "in"), str(tmp_path / "out"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["written"] == 2 and doc["uids_replaced"] >= 5
    assert [s["code"] for s in doc["skipped"]] == ["not_dicom"]
    assert {f["output"] for f in doc["files"]} == {"IM00001.dcm", "IM00002.dcm"}
    assert "Basic Application Level Confidentiality Profile" in doc["profile"]


def test_cli_anonymize_loads_neither_qt_nor_torch(tmp_path):
    import subprocess
    import sys

    write_identified_series(tmp_path / "in", n_slices=2)
    code = (
        "import sys\nfrom medviewer.cli import main\n"
        f"assert main(['anonymize', {str(tmp_path / 'in')!r}, {str(tmp_path / 'out')!r}]) == 0\n"
        "print(' '.join(sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = set(proc.stdout.split())
    assert not loaded & {"torch", "SimpleITK", "PySide6", "pyqtgraph"}


def test_cli_text_and_exit_codes(tmp_path, capsys):
    write_identified_series(tmp_path / "in", n_slices=2)
    assert main(["anonymize", str(tmp_path / "in"), str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "wrote 2 de-identified file(s)" in err
    assert main(["anonymize", str(tmp_path / "in"), str(tmp_path / "in" / "x")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "inside the input" in err
    assert main(["anonymize", str(tmp_path / "missing"), str(tmp_path / "o2")]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "only.txt").write_text("x")
    assert main(["anonymize", str(tmp_path / "only.txt"), str(tmp_path / "o3")]) == 1
    assert "could be de-identified" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["anonymize", str(tmp_path / "in")])
    assert exc.value.code == 2
