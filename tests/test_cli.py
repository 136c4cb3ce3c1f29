"""The command line: inspect (table / JSON), convert (.npy, NIfTI, NRRD, MHA), exit codes."""

import gzip
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from medviewer.cli import main
from tests.cli_run import run_cli
from tests.dicom.stacks import write_stack

ORIENTATIONS = {"axial", "coronal", "sagittal", "oblique", "unknown"}
SKIP_CODES = {"not_dicom", "no_pixel_data", "corrupt", "unsupported_syntax", "unreadable"}
_T = math.radians(25)
OBLIQUE = (0.0, 1.0, 0.0, math.sin(_T), 0.0, -math.cos(_T))  # sagittal-ish, tilted 25 degrees


def _run(*args, cwd=None):
    """``python -m medviewer ARGS`` in a real process."""
    return subprocess.run(
        [sys.executable, "-m", "medviewer", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two patients; one series split in two stacks (mixed sizes); one oblique; a text file."""
    root = tmp_path_factory.mktemp("study")
    head = write_stack(root / "head", n=4, patient_id="P1", series_number=1)
    odd = write_stack(
        root / "odd",
        n=2,
        rows=24,
        cols=20,
        origin=(0, 0, 50),
        seed=4,
        study_uid=head.study_uid,
        series_uid=head.series_uid,
        patient_id="P1",
    )
    spine = write_stack(
        root / "spine",
        n=3,
        rows=20,
        cols=28,
        modality="MR",
        intercept=0.0,
        stored_dtype=np.uint16,
        orientation=OBLIQUE,
        patient_id="P2",
        seed=6,
    )
    (root / "notes.txt").write_text("not an image\n" * 10)
    return root, head, odd, spine


# --- inspect -----------------------------------------------------------------------------------


def _check_schema(report: dict) -> None:
    assert set(report) == {"studies", "skipped"}
    assert isinstance(report["studies"], list) and isinstance(report["skipped"], list)
    for st in report["studies"]:
        for key in ("study_uid", "patient_id", "study_date", "description"):
            assert isinstance(st[key], str), key
        assert isinstance(st["series"], list) and st["series"]
        for se in st["series"]:
            for key in ("series_uid", "modality", "description", "photometric"):
                assert isinstance(se[key], str), key
            for key in ("n_files", "n_frames"):
                assert isinstance(se[key], int) and not isinstance(se[key], bool), key
            assert len(se["shape"]) == 3 and all(type(v) is int and v > 0 for v in se["shape"])
            assert len(se["spacing"]) == 3
            assert all(isinstance(v, float) and v > 0 for v in se["spacing"])
            assert se["orientation"] in ORIENTATIONS
            assert se["transfer_syntaxes"] and all(
                isinstance(t, str) for t in se["transfer_syntaxes"]
            )
            for w in se["warnings"]:
                assert set(w) >= {"code", "message"}
                assert isinstance(w["code"], str) and isinstance(w["message"], str)
                assert w["message"]
    for sk in report["skipped"]:
        assert set(sk) >= {"path", "reason", "code"}
        assert all(isinstance(sk[k], str) and sk[k] for k in ("path", "reason", "code"))
        assert sk["code"] in SKIP_CODES


def test_inspect_json_prints_one_object_with_the_schema(study):
    root, head, odd, spine = study
    proc = _run("inspect", root, "--json")
    assert proc.returncode == 0, proc.stderr
    _no_traceback(proc.stderr)
    report = json.loads(proc.stdout)  # the whole of stdout is one JSON document
    assert proc.stdout.strip().startswith("{") and proc.stdout.strip().endswith("}")
    _check_schema(report)

    studies = {st["study_uid"]: st for st in report["studies"]}
    assert set(studies) == {head.study_uid, spine.study_uid}
    assert studies[head.study_uid]["patient_id"] == "P1"
    assert studies[head.study_uid]["study_date"] == "20260101"
    stacks = studies[head.study_uid]["series"]
    assert [se["series_uid"] for se in stacks] == [head.series_uid] * 2
    assert sorted(se["shape"] for se in stacks) == [[2, 24, 20], [4, 32, 32]]
    assert all("mixed_sizes" in [w["code"] for w in se["warnings"]] for se in stacks)
    (mr,) = studies[spine.study_uid]["series"]
    assert mr["modality"] == "MR" and mr["orientation"] == "oblique"
    assert mr["n_files"] == mr["n_frames"] == 3
    assert mr["spacing"] == pytest.approx([2.0, 0.8, 0.8])
    assert mr["photometric"] == "MONOCHROME2"
    assert mr["transfer_syntaxes"] == ["1.2.840.10008.1.2.1"]
    assert [w["code"] for w in mr["warnings"]] == ["oblique"]
    assert [(os.path.basename(s["path"]), s["code"]) for s in report["skipped"]] == [
        ("notes.txt", "not_dicom")
    ]


def test_inspect_table(study, capsys):
    root, head, odd, spine = study
    assert main(["inspect", str(root)]) == 0
    out, err = capsys.readouterr()
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)
    assert f"Study {head.study_uid}" in out and f"Study {spine.study_uid}" in out
    assert f"key {head.series_uid}#1" in out and f"key {head.series_uid}#2" in out
    assert "4x32x32" in out and "2x24x20" in out and "3x20x28" in out
    assert "oblique" in out and "! mixed_sizes:" in out
    assert "Skipped 1 file(s)" in out and "notes.txt" in out and "not_dicom" in out
    assert err == ""


def test_inspect_folder_without_images(tmp_path, capsys):
    (tmp_path / "readme.txt").write_text("hello")
    assert main(["inspect", "--json", str(tmp_path)]) == 1  # nothing to view: "could not"
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # the report is still written, skipped files and all
    _check_schema(report)
    assert report["studies"] == [] and report["skipped"][0]["code"] == "not_dicom"
    assert captured.err.startswith(f"medviewer inspect: No DICOM image series found in {tmp_path}")


# --- convert -----------------------------------------------------------------------------------


def test_convert_npy_is_ordered_along_the_normal(tmp_path, capsys):
    folder = tmp_path / "dicom"
    # Normal towards the feet, names and InstanceNumbers in neither order.
    truth = write_stack(
        folder,
        n=6,
        orientation=(1, 0, 0, 0, -1, 0),
        step=2.5,
        instance_numbers=[3, 6, 1, 5, 2, 4],
        names=["e.dcm", "b.dcm", "f.dcm", "a.dcm", "d.dcm", "c.dcm"],
    )
    out = tmp_path / "volume.npy"
    assert main(["convert", str(folder), "--series", truth.series_uid, "-o", str(out)]) == 0
    array = np.load(out)
    assert array.dtype == np.int16
    assert np.array_equal(array, truth.values)
    z = [float(np.dot(p, truth.normal)) for p in truth.positions]
    assert z == sorted(z)
    err = capsys.readouterr().err
    assert "wrote" in err and "6x32x32" in err
    assert [p.name for p in tmp_path.iterdir() if ".part" in p.name] == []


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_convert_itk_formats_keep_voxels_and_geometry(study, tmp_path, suffix, capsys):
    import SimpleITK as sitk

    root, _, _, spine = study
    out = tmp_path / f"spine{suffix}"
    assert main(["convert", str(root), "--series", spine.series_uid, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: oblique:" in err
    _no_traceback(err)
    if suffix == ".nii.gz":
        with gzip.open(out, "rb") as fp:
            assert len(fp.read(348)) == 348  # really gzip-compressed NIfTI

    image = sitk.ReadImage(str(out))
    assert np.array_equal(sitk.GetArrayFromImage(image), spine.values)
    assert image.GetSpacing() == pytest.approx((0.8, 0.8, 2.0), abs=1e-5)  # x, y, z
    assert image.GetOrigin() == pytest.approx(tuple(spine.positions[0]), abs=1e-4)
    row, col = np.array(OBLIQUE[:3]), np.array(OBLIQUE[3:])
    expected = np.column_stack([row, col, np.cross(row, col)])
    assert np.allclose(np.array(image.GetDirection()).reshape(3, 3), expected, atol=1e-5)
    # The last voxel lands where DICOM puts it.
    k, j, i = spine.values.shape[0] - 1, 19, 27
    point = image.TransformIndexToPhysicalPoint((i, j, k))
    assert np.allclose(point, spine.positions[k] + i * 0.8 * row + j * 0.8 * col, atol=1e-3)


def test_convert_split_series_needs_the_stack_key(study, tmp_path, capsys):
    root, head, odd, _ = study
    out = tmp_path / "odd.npy"
    assert main(["convert", str(root), "--series", head.series_uid, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{head.series_uid}#1" in err and f"{head.series_uid}#2" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main(["convert", str(root), "--series", f"{head.series_uid}#2", "-o", str(out)]) == 0
    assert np.array_equal(np.load(out), odd.values)


def test_convert_without_series_picks_the_only_one(tmp_path):
    truth = write_stack(tmp_path / "d", n=3)
    out = tmp_path / "v.npy"
    assert main(["convert", str(tmp_path / "d"), "-o", str(out)]) == 0
    assert np.array_equal(np.load(out), truth.values)


# --- exit codes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "unknown-series",
        "missing-path",
        "no-images",
        "several-series",
        "missing-output-dir",
        "inspect-missing-path",
    ],
)
def test_failures_exit_1_with_one_line(study, tmp_path, case, capsys):
    root = study[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    args = {
        "unknown-series": ["convert", root, "--series", "1.2.3.999", "-o", tmp_path / "x.npy"],
        "missing-path": ["convert", tmp_path / "nope", "-o", tmp_path / "x.npy"],
        "no-images": ["convert", empty, "-o", tmp_path / "x.npy"],
        "several-series": ["convert", root, "-o", tmp_path / "x.npy"],
        "missing-output-dir": ["convert", root / "spine", "-o", tmp_path / "no" / "x.npy"],
        "inspect-missing-path": ["inspect", tmp_path / "nope"],
    }[case]
    assert main([str(a) for a in args]) == 1
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("medviewer "), err
    _no_traceback(err)
    assert not (tmp_path / "x.npy").exists()
    expected = {
        "unknown-series": "not among the scanned files",
        "missing-path": "no such file or folder",
        "no-images": "no image series found",
        "several-series": "choose one with --series",
        "missing-output-dir": "does not exist",
        "inspect-missing-path": "no such file or folder",
    }[case]
    assert expected in lines[0]


@pytest.mark.parametrize("case", ["several-series", "no-images", "unknown-series"])
def test_convert_infer_and_explain_choose_the_series_alike(study, tmp_path, case, capsys):
    # one helper picks the series for all three: the same message, before any model is read
    root = study[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    where = {
        "several-series": [root],
        "no-images": [empty],
        "unknown-series": [root, "--series", "1.2.3.999"],
    }[case]
    commands = {
        "convert": ["convert", *where, "-o", tmp_path / "x.npy"],
        "infer": ["infer", *where],
        "explain": ["explain", *where, "--slice", "0", "--method", "gradcam"],
    }
    messages = {}
    for name, args in commands.items():
        if name == "explain":
            args += ["-o", tmp_path / "map.npy"]
        assert main([str(a) for a in args]) == 1, name
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert len(lines) == 1, (name, err)
        messages[name] = lines[0].split(":", 1)[1]  # without the "medviewer <command>:" prefix
    assert len(set(messages.values())) == 1, messages
    assert not (tmp_path / "x.npy").exists() and not (tmp_path / "map.npy").exists()


@pytest.mark.parametrize(
    "args, code",
    [
        (["--version"], 0),  # (no arguments at all open the viewer: tested without a process)
        (["inspect"], 2),  # PATH missing
        (["convert", "{root}"], 2),  # -o missing
        (["convert", "{root}", "-o", "{tmp}/out.png"], 2),  # unknown output format
        (["frobnicate"], 2),
        (["convert", "{root}", "--series", "1.2.3.999", "-o", "{tmp}/x.npy"], 1),
        (["inspect", "{tmp}/nope"], 1),
        (["inspect", "--json", "{root}"], 0),
    ],
)
def test_exit_codes_of_the_real_process(study, tmp_path, args, code):
    root = study[0]
    argv = [a.format(root=root, tmp=tmp_path) for a in args]
    proc = _run(*argv)
    assert proc.returncode == code, (argv, proc.stderr)
    _no_traceback(proc.stderr)
    if code == 1:
        assert len(proc.stderr.strip().splitlines()) == 1
    if code == 2:
        assert proc.stderr.strip()  # usage or the reason
        assert proc.stdout == ""
    if argv and argv[-1].endswith(".png"):
        assert "cannot tell the output format" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_a_bare_path_opens_the_viewer(monkeypatch, tmp_path):
    """``medviewer PATH`` is ``medviewer gui PATH``; a typo in a command stays a usage error."""
    import medviewer.cli as cli_module

    opened = []
    monkeypatch.setattr(cli_module, "cmd_gui", lambda args: opened.append(args.paths) or 0)
    parser_defaults = cli_module.build_parser
    monkeypatch.setattr(
        cli_module,
        "build_parser",
        lambda: _patched_parser(parser_defaults(), cli_module.cmd_gui),
    )
    assert cli_module.main([str(tmp_path)]) == 0
    assert opened == [[str(tmp_path)]]
    assert cli_module._with_default_command(["inspekt", str(tmp_path)]) == [
        "inspekt",
        str(tmp_path),
    ]
    # plain "medviewer" opens the viewer (on the sample study), as a desktop app does
    assert cli_module.main([]) == 0 and opened[-1] == []
    assert cli_module._with_default_command(["-v"]) == ["-v", "gui"]
    assert cli_module._with_default_command(["--help"]) == ["--help"]


def test_a_path_that_is_not_there_or_no_display_says_so(tmp_path):
    import os
    import subprocess
    import sys

    base = [sys.executable, "-m", "medviewer"]
    missing = str(tmp_path / "no" / "such")
    # a mistyped path: not argparse's "invalid choice" among the commands
    run = subprocess.run([*base, missing], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and run.stderr.strip() == (
        f"medviewer gui: no such file or folder: {missing}; give a DICOM folder, file or "
        "DICOMDIR (or no path for the sample study)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    run = subprocess.run([*base, "gui"], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 1 and "no display to open the window on" in run.stderr
    assert "xvfb-run" in run.stderr and "Aborted" not in run.stderr


def _patched_parser(parser, gui):
    for action in parser._subparsers._group_actions:
        action.choices["gui"].set_defaults(func=gui)
    return parser


# -- labels stats | export | import -------------------------------------------------------------
LABEL_HEADER = (
    "study_uid,series_uid,sop_uid,frame,label,scope,annotator,source,model,status,review,"
    "reviewer,comment,updated_at"
)


@pytest.fixture
def label_store(tmp_path):
    """A store with three labels of two annotators (one accepted from the model)."""
    from medviewer.labels.schema import ModelRef, SliceKey
    from medviewer.labels.store import LabelStore

    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        k = [SliceKey("1.2", "1.2.3", f"1.2.3.{i}") for i in range(1, 4)]
        store.set_label(k[0], "normal", annotator="alice", path_hint="/data/Doe^Jane/1.dcm")
        store.set_label(k[1], "uncertain", annotator="alice", status="draft")
        store.set_label(
            k[1],
            "hyperdense_lesion",
            annotator="bob",
            source="model",
            model=ModelRef("headct-lesions", "1.0.0", "ef" * 32),
        )
        store.review(k[0], annotator="alice", verdict="flagged", reviewer="rita")
    return path


def test_labels_stats_table_and_json(label_store, capsys):
    assert main(["labels", "stats", "--store", str(label_store)]) == 0
    out = capsys.readouterr().out
    assert "3 label(s)" in out and "by annotator:" in out and "hyperdense_lesion" in out
    assert main(["labels", "stats", "--store", str(label_store), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["store"] == str(label_store) and stats["total"] == 3
    assert stats["by_label"] == {"hyperdense_lesion": 1, "normal": 1, "uncertain": 1}
    assert stats["by_annotator"] == {"alice": 2, "bob": 1}
    assert stats["by_status"] == {"draft": 1, "final": 2}
    assert stats["by_review"] == {"": 2, "flagged": 1}
    assert stats["by_source"] == {"human": 2, "model": 1}


def test_labels_stats_uses_the_settings_store_by_default(label_store, capsys, monkeypatch):
    from medviewer.settings import Settings, save_settings

    save_settings(Settings(label_store=str(label_store)))
    assert main(["labels", "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 3


def test_labels_export_import_round_trip_through_the_cli(label_store, tmp_path, capsys):
    out_csv = tmp_path / "labels.csv"
    assert main(["labels", "export", "-o", str(out_csv), "--store", str(label_store)]) == 0
    assert "wrote 3 label(s)" in capsys.readouterr().err
    text = out_csv.read_text()
    assert text.splitlines()[0] == LABEL_HEADER and "Doe^Jane" not in text
    fresh = tmp_path / "fresh.sqlite"
    assert main(["labels", "import", str(out_csv), "--store", str(fresh)]) == 0
    assert "imported 3, unchanged 0, skipped 0 of 3" in capsys.readouterr().err
    again = tmp_path / "again.csv"
    assert main(["labels", "export", "-o", str(again), "--store", str(fresh)]) == 0
    assert again.read_bytes() == out_csv.read_bytes()
    out_json = tmp_path / "alice.json"
    args = ["labels", "export", "-o", str(out_json), "--store", str(label_store)]
    assert main([*args, "--annotator", "alice", "--include-phi"]) == 0
    assert "may identify patients" in capsys.readouterr().err
    doc = json.loads(out_json.read_text())
    assert len(doc["labels"]) == 2 and doc["labels"][0]["path_hint"].endswith("1.dcm")
    assert main([*args, "--status", "draft"]) == 0
    assert len(json.loads(out_json.read_text())["labels"]) == 1


def test_labels_import_json_report_and_bad_rows(tmp_path, capsys):
    csv_path = tmp_path / "in.csv"
    good = "1.2,1.2.3,1.2.3.1,,normal,slice,alice,human,,final,,,,2026-01-01T00:00:00+00:00"
    csv_path.write_text(
        f"{LABEL_HEADER}\n{good}\n{good.replace('normal', 'tumour').replace('.3.1', '.3.2')}\n"
        f"{good}\n"
    )
    store = tmp_path / "s.sqlite"
    args = ["labels", "import", str(csv_path), "--store", str(store), "--json"]
    assert main([*args, "--dry-run"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] and report["imported"] == 1 and report["n_skipped"] == 2
    assert main(["labels", "stats", "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 0  # the dry run wrote nothing
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["file"] == str(csv_path) and report["imported"] == 1
    assert [s["line"] for s in report["skipped"]] == [3, 4]
    assert "not a class of the label set" in report["skipped"][0]["reason"]
    assert report["skipped"][1]["reason"] == "duplicate of line 2"
    assert main(args[:-1]) == 0  # again: everything is there already
    err = capsys.readouterr().err
    assert "imported 0, unchanged 1, skipped 2" in err and "line 3: label 'tumour'" in err


@pytest.mark.parametrize(
    "case, code, message",
    [
        ("missing_columns", 1, "lacks the column(s) label, annotator"),
        ("all_bad", 1, "nothing could be imported"),
        ("no_file", 1, "no such file"),
        ("bad_suffix", 2, "rename"),
        ("no_store", 1, "no label store at"),
        ("newer_store", 1, "newer medviewer"),
        ("no_action", 2, "labels stats | export -o FILE | import FILE"),
        ("unknown_set", 2, "no label set 'spine'"),
    ],
)
def test_labels_failures_exit_codes(tmp_path, capsys, case, code, message):
    import sqlite3

    store = tmp_path / "s.sqlite"
    f = tmp_path / "in.csv"
    if case == "missing_columns":
        f.write_text("study_uid,series_uid,sop_uid\n1.2,1.2.3,1.2.3.1\n")
        argv = ["labels", "import", str(f), "--store", str(store)]
    elif case == "all_bad":
        f.write_text(f"{LABEL_HEADER}\n1.2,1.2.3,1.2.3.1,,tumour,slice,a,human,,final,,,,\n")
        argv = ["labels", "import", str(f), "--store", str(store)]
    elif case == "no_file":
        argv = ["labels", "import", str(f), "--store", str(store)]
    elif case == "bad_suffix":
        argv = ["labels", "export", "-o", str(tmp_path / "x.txt"), "--store", str(store)]
    elif case == "no_store":
        argv = ["labels", "stats", "--store", str(store)]
    elif case == "newer_store":
        from medviewer.labels.store import LabelStore

        LabelStore(store).close()
        conn = sqlite3.connect(store)
        conn.execute("PRAGMA user_version = 99")
        conn.close()
        argv = ["labels", "export", "-o", str(tmp_path / "x.csv"), "--store", str(store)]
    elif case == "no_action":
        argv = ["labels"]
    else:
        f.write_text(LABEL_HEADER + "\n")
        argv = ["labels", "import", str(f), "--label-set", "spine", "--store", str(store)]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.count("\n") <= 3


def test_labels_import_checks_uids_against_studies(tmp_path, capsys):
    from medviewer.testing.synthetic import write_series

    series = write_series(tmp_path / "study", n_slices=3, rows=16, cols=16)
    f = tmp_path / "in.csv"
    ours = f"{series.study_uid},{series.series_uid},1.2.3.7,,normal,slice,a,human"
    other = "1.2,1.2.3,1.2.3.1,,normal,slice,a,human"
    tail = ",,final,,,,2026-01-01T00:00:00+00:00"
    f.write_text(f"{LABEL_HEADER}\n{ours}{tail}\n{other}{tail}\n")
    store = tmp_path / "s.sqlite"
    argv = ["labels", "import", str(f), "--store", str(store), "--json"]
    assert main([*argv, "--study", str(tmp_path / "study")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["imported"] == 1
    assert report["skipped"] == [{"line": 3, "reason": "series 1.2.3 is not in the open studies"}]


def test_openmp_threads_sleep_soon_while_waiting_unless_the_user_chose(monkeypatch, capsys):
    """Long-spinning OpenMP threads took a core from the decoders in a triage run: the command
    line shortens their spin before anything imports torch, and keeps a policy or spin count
    set by the user."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and "medviewer" in out
    assert os.environ["GOMP_SPINCOUNT"] == "10000"
    monkeypatch.setenv("GOMP_SPINCOUNT", "500")
    run_cli(capsys, "--version")
    assert os.environ["GOMP_SPINCOUNT"] == "500"
    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    run_cli(capsys, "--version")
    assert "GOMP_SPINCOUNT" not in os.environ and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_a_reader_that_stops_reading_gets_no_error_message(study):
    """``medviewer inspect --json ... | head -c 1``: the pipe closes before the output is
    written; the command ends quietly (exit 1, nothing on stderr), not with an "unexpected
    error" or a traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "medviewer", "inspect", "--json", str(study[0])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    assert err.strip() == "", err
