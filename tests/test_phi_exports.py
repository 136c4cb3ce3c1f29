"""No export carries patient-identifying DICOM values by default: volumes (NIfTI / NRRD /
MetaImage / .npy), label CSV / JSON, and fine-tuned model packages (manifest.json, MODEL_CARD.md).

The identifying values are read from the files with pydicom (the bundled sample study, and a
synthetic study full of them); every exported file's bytes are searched for them. Each search
is first shown to find them where they are (the DICOM file itself, an export with PHI asked for),
so a pass means absent, not missed. (The PNG of the view: tests/qt/test_phi_png.py.)
"""

import gzip
import json
import struct

import pydicom
import pytest

from medviewer.dicom import load_volume, scan
from medviewer.dicom.export import write_volume
from medviewer.labels.io import export_labels
from medviewer.labels.schema import SliceKey
from medviewer.labels.store import LabelStore
from medviewer.resources import lesion_sample_dir, sample_study_dir
from medviewer.session.overlay import format_person_name
from medviewer.testing.phi import PHI, phi_needles, write_identified_series

IDENTIFYING = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "PatientBirthDate",
    "PatientAddress",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "AccessionNumber",
)


def needles_of(path) -> list[bytes]:
    """The identifying values of one DICOM file (as stored, and names as a viewer shows them)."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    out = set()
    for kw in IDENTIFYING:
        value = str(ds.get(kw, "") or "").strip()
        if len(value) >= 4:
            out.add(value.encode())
            if ds.data_element(kw).VR == "PN" and "^" in value:
                out.add(format_person_name(value).encode())
    return sorted(out)


def found_in(data: bytes, needles) -> list[bytes]:
    return [n for n in needles if n in data]


def file_bytes(path) -> bytes:
    data = open(path, "rb").read()
    return gzip.decompress(data) if str(path).endswith(".gz") else data


@pytest.fixture(scope="module")
def sample():
    (series,) = scan([sample_study_dir()]).all_series()
    needles = needles_of(series.slices[0].path)
    assert b"MV-SAMPLE-0001" in needles and b"Anonymous^Cranium" in needles
    assert found_in(open(series.slices[0].path, "rb").read(), needles)  # the search works
    return series, needles, load_volume(series)


@pytest.fixture(scope="module")
def identified(tmp_path_factory):
    # The folder names the patient, as PACS exports often do: the file paths are PHI too.
    folder = tmp_path_factory.mktemp("phi") / f"{PHI['PatientID']}_Quixote"
    made = write_identified_series(folder, n_slices=4)
    (series,) = scan([folder]).all_series()
    needles = sorted(set(needles_of(made.paths[0])) | set(phi_needles()))
    assert len(found_in(open(made.paths[0], "rb").read(), needles)) >= len(IDENTIFYING)
    return series, needles, load_volume(series)


@pytest.mark.parametrize("which", ["sample", "identified"])
@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha", ".npy"])
def test_volume_exports_carry_no_phi(which, suffix, request, tmp_path):
    series, needles, volume = request.getfixturevalue(which)
    out = write_volume(volume, tmp_path / f"vol{suffix}")
    data = file_bytes(out)
    assert not found_in(data, needles)
    if suffix in (".nii", ".nii.gz"):  # the header's free-text fields say nothing either
        assert struct.unpack("<i", data[:4])[0] == 348
        descrip, aux_file, intent = data[148:228], data[228:252], data[328:344]
        for text in (descrip, aux_file, intent):
            assert not found_in(text, needles) and not text.strip(b"\x00 ").startswith(b"MV-")
        import SimpleITK as sitk

        reader = sitk.ImageFileReader()
        reader.SetFileName(str(out))
        reader.ReadImageInformation()
        meta = " ".join(reader.GetMetaData(k) for k in reader.GetMetaDataKeys()).encode()
        assert not found_in(meta, needles)


def _label(store_path, series, n=None, *, comment=None):
    with LabelStore(store_path) as store, store.transaction():
        for k, ref in enumerate(series.slices[:n]):
            store.set_label(
                SliceKey(series.study_uid, series.series_uid, ref.sop_instance_uid),
                "lesion" if k % 2 else "no lesion",
                annotator="alice",
                path_hint=ref.path,
                comment=comment,
            )


@pytest.mark.parametrize("which", ["sample", "identified"])
@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_label_exports_carry_no_phi_unless_asked(which, suffix, request, tmp_path):
    series, needles, _ = request.getfixturevalue(which)
    store_path = tmp_path / "labels.sqlite"
    _label(store_path, series, 4)
    with LabelStore(store_path) as store:
        assert export_labels(store, tmp_path / f"l{suffix}") == 4
        export_labels(store, tmp_path / f"phi{suffix}", include_phi=True)
    assert not found_in(file_bytes(tmp_path / f"l{suffix}"), needles)
    if which == "identified":  # asked for: the file paths, which name the patient, are there
        assert PHI["PatientID"].encode() in file_bytes(tmp_path / f"phi{suffix}")


@pytest.fixture(scope="module")
def lesion_study():
    """The bundled lesion demonstration study (44 slices of the sample CT; MV-SAMPLE-0002)."""
    (series,) = scan([lesion_sample_dir()]).all_series()
    needles = needles_of(series.slices[0].path)
    assert b"MV-SAMPLE-0002" in needles and b"Anonymous, Cranium Lesions" in needles
    return series, needles, None


def test_finetuned_package_manifest_and_card_carry_no_phi(lesion_study, tmp_path):
    """A bundled study is one patient: the single-patient warning goes into the model card.
    It named the PatientID ("all labels come from one patient (MV-SAMPLE-0002)")."""
    from medviewer.ai.datasets import SplitOptions, prepare
    from medviewer.ai.train import TrainOptions, finetune
    from tests.ai.finetune_helpers import tiny_registry

    series, needles, _ = lesion_study
    store_path = tmp_path / "labels.sqlite"
    _label(store_path, series, 24)
    registry = tiny_registry(tmp_path)
    plan = prepare(
        store_path,
        "tiny-ct",
        split=SplitOptions(allow_single_patient=True),
        registry=registry,
    )
    assert any("one patient" in w for w in plan.warnings)
    result = finetune(
        plan,
        TrainOptions(epochs=1, head_epochs=1, lr=1e-2, batch_size=8, early_stopping=0),
        registry=registry,
    )
    folder = result.entry.folder
    card = (folder / "MODEL_CARD.md").read_bytes()
    assert b"one patient" in card  # the warning is in the card, without the patient
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        assert not found_in(path.read_bytes(), needles), path.name
    manifest = json.loads((folder / "manifest.json").read_text())
    text = json.dumps(manifest).encode()
    assert not found_in(text, needles) and str(lesion_sample_dir()).encode() not in text
    assert not found_in(json.dumps(result.to_json()).encode(), needles)
    assert not [w for w in result.warnings if found_in(w.encode(), needles)]
