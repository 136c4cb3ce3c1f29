"""The AI dock's DICOM results without Qt: finding our SRs in a scan, ordering them, the texts
of the finding list, locating a finding's slice, and building / saving the result objects."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from medviewer.dicom import scan
from medviewer.jobs import run_job
from medviewer.session import dicom_results as dr
from medviewer.session import dicom_send as ds
from tests.qt.dicom_results_study import (
    FLAGGED,
    LESION_SERIES_UID,
    OTHER_SERIES_UID,
    STUDY_UID,
    make_models,
    make_study,
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("srstudy")
    return make_study(root / "study", make_models(root / "models"))


def test_the_scan_lists_the_sr_and_the_search_reads_only_srs(study, tmp_path):
    result = scan([str(study.folder)])
    candidates = dr.report_candidates(result)
    assert str(study.sr_path) in candidates
    junk = tmp_path / "not-dicom.dcm"
    junk.write_text("x")
    found = run_job(dr.find_reports_iter([*candidates, str(junk)]))
    assert [f.path for f in found] == [str(study.sr_path)] and found[0].ours
    report = found[0].report
    assert report.series_uid == LESION_SERIES_UID and report.study_uid == STUDY_UID
    assert [f.index for f in report.flagged] == FLAGGED


def test_reports_about_the_series_shown_come_first(study):
    [ours] = run_job(dr.find_reports_iter([str(study.sr_path)]))
    foreign = dr.FoundReport(path="/x/foreign.dcm", report=None, error="not ours", written="")
    ordered = dr.order_reports([foreign, ours], LESION_SERIES_UID, STUDY_UID)
    assert ordered == [ours, foreign]
    assert dr.choice_text(foreign).startswith("Not a medviewer result: foreign.dcm")
    text = dr.choice_text(ours, {LESION_SERIES_UID: "Lesion series"})
    assert text.startswith("tiny-flag 1.0.0 on Lesion series")


def test_the_finding_list_and_where_each_finding_is(study):
    [found] = run_job(dr.find_reports_iter([str(study.sr_path)]))
    view = dr.report_view(found)
    assert [r.index for r in view.flagged] == FLAGGED
    p = study.prediction
    first = view.flagged[0]
    assert (
        first.text
        == f"Im {FLAGGED[0] + 1}: lesion {p.slices[FLAGGED[0]].probabilities['lesion']:.2f}"
    )
    result = scan([str(study.folder)])
    series = study.volume.series
    target = dr.locate(first, found.report, result, loaded_series=series)
    assert target.index == FLAGGED[0] and target.series_key == series.key
    uid = series.slices[FLAGGED[1]].sop_instance_uid
    assert dr.slice_index(series, uid) == FLAGGED[1]
    assert dr.slice_index(series, "1.2.3.404") is None
    other = next(s for s in result.all_series() if s.series_uid == OTHER_SERIES_UID)
    assert dr.slice_index(other, uid) is None


def test_saving_the_result_writes_sr_and_ko_that_read_back(study, tmp_path):
    from medviewer.reports.ko import read_ko
    from medviewer.reports.sr import read_sr

    saved = run_job(ds.save_results_iter(study.volume, study.prediction, None, tmp_path / "out"))
    files = sorted(Path(p).name.split("-")[0] for p in saved.paths)
    assert files == ["ko", "sr"]
    sr = next(p for p in saved.paths if Path(p).name.startswith("sr-"))
    report = read_sr(pydicom.dcmread(sr))
    assert [f.index for f in report.flagged] == FLAGGED
    ko = next(p for p in saved.paths if Path(p).name.startswith("ko-"))
    assert read_ko(pydicom.dcmread(ko)) is not None
    assert saved.folder == str(tmp_path / "out")
    assert (
        saved.text() == f"Saved the structured report (SR), the key images (KO) in {saved.folder}"
    )
    assert sorted(saved.kinds) == ["ko", "sr"] and saved.notes == []


def test_a_configured_node_list_for_the_send_menus(tmp_path):
    from medviewer.net.nodes import NetConfig, RemoteNode

    assert ds.node_entries(NetConfig()) == []
    config = NetConfig().with_node(RemoteNode("PACS", "ORTHANC", "127.0.0.1", 4242))
    [entry] = ds.node_entries(config)
    assert entry.name == entry.text == "PACS"
    assert entry.tip == "PACS (ORTHANC at 127.0.0.1:4242), as MEDVIEWER"
