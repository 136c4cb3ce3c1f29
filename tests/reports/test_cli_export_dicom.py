"""``medviewer export-dicom PATH --series UID --what sr|pmap|ko -o OUT``, in-process through
``main`` (exit 0 / 1 with a one-line reason / 2 usage): every object written validates, bad
input leaves nothing in OUT."""

from __future__ import annotations

import json
import os

import numpy as np

from medviewer.labels.schema import Region, SliceKey
from medviewer.labels.store import LabelStore
from medviewer.reports.ko import read_ko
from medviewer.reports.pmap import read_pmap
from medviewer.reports.sr import read_sr
from tests.cli_run import run_cli
from tests.reports.conftest import FLAG_MODEL, FLAGGED, NONE_MODEL, dciodvfy_errors


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _export(series_dir, volume, out, *extra, model=FLAG_MODEL):
    return [
        "export-dicom", series_dir, "--series", volume.series.series_uid, "-o", out,
        "--model", model, "--device", "cpu", *extra,
    ]  # fmt: skip


def test_writes_sr_pmap_and_ko(capsys, tmp_path, series_dir, volume, prediction):
    s = volume.series
    labels = tmp_path / "labels.sqlite"
    with LabelStore(labels) as store:
        key = SliceKey(s.study_uid, s.series_uid, s.slices[4].sop_instance_uid)
        store.set_label(key, "lesion", annotator="ann", region=Region(10, 12, 30, 33))
    out = tmp_path / "out"
    args = _export(series_dir, volume, out, "--what", "sr,pmap,ko", "--labels", labels,
                   "--method", "attention", "--json")  # fmt: skip
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["flagged_slices"] == FLAGGED
    written = {w["what"]: w for w in summary["written"]}
    assert sorted(os.listdir(out)) == sorted(os.path.basename(w["path"]) for w in written.values())
    for w in written.values():
        assert os.path.basename(w["path"]) == f"{w['what']}-{w['sop_instance_uid']}.dcm"
        assert dciodvfy_errors(w["path"]) == []
    report = read_sr(written["sr"]["path"])
    assert [f.index for f in report.flagged] == FLAGGED
    assert [(r.label, r.region) for r in report.regions] == [("lesion", Region(10, 12, 30, 33))]
    heat = read_pmap(written["pmap"]["path"])
    assert written["pmap"]["slice"] == FLAGGED[0]  # the most suspicious slice by default
    assert heat.info.method == "attention" and heat.map.shape == (48, 48)
    assert heat.info.source_sop_instance_uid == s.slices[FLAGGED[0]].sop_instance_uid
    assert np.isfinite(heat.map).all() and 0 <= heat.map.min() <= heat.map.max() <= 1
    ko = read_ko(written["ko"]["path"])
    assert ko.images == [(s.slices[k].sop_instance_uid, None) for k in FLAGGED]


def test_pmap_of_a_chosen_slice(capsys, tmp_path, series_dir, volume):
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        capsys,
        *_export(
            series_dir, volume, out, "--what", "pmap", "--slice", "1", "--target", "normal"
        ),  # fmt: skip
    )
    assert code == 0, err
    [name] = os.listdir(out)
    assert stdout.strip() == f"wrote pmap: {out / name}"
    heat = read_pmap(out / name)
    assert heat.info.target == "normal"
    assert heat.info.source_sop_instance_uid == volume.series.slices[1].sop_instance_uid


def test_unknown_series_lists_the_series_found(capsys, tmp_path, series_dir, volume):
    out = tmp_path / "out"
    args = _export(series_dir, volume, out, "--what", "sr")
    args[args.index("--series") + 1] = "1.2.3.4"
    code, _, err = run_cli(capsys, *args)
    assert code == 1
    line = _one_line(err)
    assert "1.2.3.4" in line and volume.series.series_uid in line
    assert not out.exists()


def test_ko_refused_when_nothing_is_flagged(capsys, tmp_path, series_dir, volume):
    out = tmp_path / "out"
    code, _, err = run_cli(
        capsys, *_export(series_dir, volume, out, "--what", "sr,ko", model=NONE_MODEL)
    )
    assert code == 1
    assert "was flagged" in _one_line(err) and "key object selection" in err
    assert not out.exists()  # not even the SR: nothing half-written


def test_output_that_is_a_file(capsys, tmp_path, series_dir, volume):
    out = tmp_path / "out"
    out.write_text("keep me")
    code, _, err = run_cli(capsys, *_export(series_dir, volume, out, "--what", "sr"))
    assert code == 1
    assert "is a file" in _one_line(err)
    assert out.read_text() == "keep me"


def test_output_not_writable(capsys, tmp_path, series_dir, volume, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() == 0:  # root may write anywhere: let the permission bits count for it too
        real_access = os.access

        def access(path, mode, *a, **k):
            if os.path.realpath(path) == os.path.realpath(locked) and mode & os.W_OK:
                return False
            return real_access(path, mode, *a, **k)

        monkeypatch.setattr(os, "access", access)
    try:
        code, _, err = run_cli(capsys, *_export(series_dir, volume, locked / "out", "--what", "sr"))
    finally:
        locked.chmod(0o700)
    assert code == 1
    assert "is not writable" in _one_line(err)
    assert os.listdir(locked) == []


def test_usage_errors(capsys, tmp_path, series_dir, volume):
    code, _, err = run_cli(capsys, *_export(series_dir, volume, tmp_path, "--what", "xml"))
    assert code == 2 and "expected sr, pmap or ko" in err
    code, _, err = run_cli(
        capsys, *_export(series_dir, volume, tmp_path, "--what", "ko", "--labels", "x.sqlite")
    )
    assert code == 2 and "add sr to --what" in err


def test_output_inside_a_file(capsys, tmp_path, series_dir, volume):
    parent = tmp_path / "notes.txt"
    parent.write_text("keep me")
    code, _, err = run_cli(capsys, *_export(series_dir, volume, parent / "out", "--what", "ko"))
    assert code == 1
    assert "is a file, so" in _one_line(err) and "cannot be made" in err
    assert parent.read_text() == "keep me"
