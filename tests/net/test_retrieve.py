"""Retrieve from a real Orthanc: C-GET and C-MOVE, voxel-exact, per-instance progress, partial
failures, cancel, and an association that dies mid-transfer."""

from __future__ import annotations

import re

import numpy as np
import pytest

from medviewer.dicom import load_volume, scan
from medviewer.errors import Cancelled
from medviewer.jobs import run_job
from medviewer.net.association import NetError
from medviewer.net.retrieve import retrieve_iter
from medviewer.net.storage import StudyStore
from medviewer.testing.orthanc import OrthancServer, free_port
from tests.net.conftest import CancelAfter


def _volume(folder):
    return load_volume(scan([str(folder)]).all_series()[0])


def _no_partial_files(root):
    return not [p for p in root.rglob(".*") if p.is_file()]


@pytest.mark.parametrize(
    ("name", "method"), [("sample", "get"), ("rle", "get"), ("rle", "move"), ("native", "move")]
)
def test_a_series_comes_back_voxel_exact(pacs, tmp_path, method, name):
    series = pacs.series[name]
    store = StudyStore(tmp_path / "studies", 10**9)
    steps = []
    job = retrieve_iter(
        pacs.node(), pacs.local(), store, series.study_uid, series.series_uid, method=method
    )
    result = run_job(job, steps.append)
    n = len(series.slices)
    assert result.ok and result.method == method and len(result.stored) == n
    assert [s.done for s in steps] == list(range(1, n + 1))  # one step per instance
    assert all(s.detail.kind == "stored" and s.detail.path.exists() for s in steps)
    folder = store.root / series.study_uid / series.series_uid
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{r.sop_instance_uid}.dcm" for r in series.slices
    )
    assert np.array_equal(_volume(folder).array, load_volume(series).array)
    assert _no_partial_files(store.root)

    again = run_job(
        retrieve_iter(pacs.node(), pacs.local(), store, series.study_uid, method=method)
    )
    assert again.duplicates == n and not again.stored and again.ok  # kept once


def test_a_whole_study_and_the_first_instance_is_usable_at_once(pacs, tmp_path):
    series = pacs.series["native"]
    store = StudyStore(tmp_path / "s", 10**9)
    job = retrieve_iter(pacs.node(), pacs.local(), store, series.study_uid)
    first = next(job)
    # the first file is complete and readable while the rest is still coming
    assert first.detail.kind == "stored" and scan([str(first.detail.path)]).all_series()
    for _ in job:
        pass
    assert len(list((store.root / series.study_uid).rglob("*.dcm"))) == len(series.slices)


def test_sub_operations_that_fail_are_reported_one_by_one_and_the_rest_kept(pacs, tmp_path):
    """Our side refuses what is over the size cap: Orthanc reports those sub-operations failed."""
    series = pacs.series["native"]
    one = next(iter((pacs.folders["native"]).iterdir())).stat().st_size
    store = StudyStore(tmp_path / "s", cap_bytes=int(one * 7.5))
    result = run_job(retrieve_iter(pacs.node(), pacs.local(), store, series.study_uid))
    assert len(result.stored) == 7 and not result.ok
    assert len(result.failures) >= len(series.slices) - 7
    assert any("size cap" in f for f in result.failures)
    assert "7 instance(s)" in result.message and "failed" in result.message
    assert _no_partial_files(store.root)


def test_cancel_keeps_what_arrived(pacs, tmp_path):
    series = pacs.series["sample"]
    store = StudyStore(tmp_path / "s", 10**9)
    cancel_after_five = CancelAfter(5)
    token = cancel_after_five.token
    job = retrieve_iter(pacs.node(), pacs.local(), store, series.study_uid, cancel=token)
    with pytest.raises(Cancelled, match="instance\\(s\\) kept"):
        run_job(job, cancel_after_five)
    kept = list(store.root.rglob("*.dcm"))
    assert 5 <= len(kept) < len(series.slices)
    assert all(scan([str(p)]).all_series() for p in kept[:3]) and _no_partial_files(store.root)


def test_a_study_the_node_does_not_hold_is_a_clear_error(pacs, tmp_path):
    store = StudyStore(tmp_path / "s", 10**9)
    with pytest.raises(NetError, match="does it hold this study"):
        run_job(retrieve_iter(pacs.node(), pacs.local(), store, "1.2.3.4.5.6.7"))
    assert not store.root.exists() or not list(store.root.rglob("*"))


def test_uids_that_are_not_uids_are_refused_before_any_traffic(pacs, tmp_path):
    store = StudyStore(tmp_path / "s", 10**9)
    with pytest.raises(Exception, match="not a DICOM UID"):
        run_job(retrieve_iter(pacs.node(), pacs.local(), store, "../../etc"))


@pytest.mark.parametrize("method", ["get", "move"])
def test_a_node_that_dies_mid_transfer(pacs, tmp_path, method):
    """Kill the PACS after a few instances: a clear error that counts what arrived, what
    arrived is kept, nothing half written."""
    from medviewer.net.nodes import LocalNode

    port = free_port()
    local = LocalNode(port=port, bind_address="127.0.0.1")
    with OrthancServer(tmp_path / "dying", {"medviewer": ("MEDVIEWER", port)}) as server:
        server.upload([pacs.folders["sample"]])
        series = pacs.series["sample"]
        store = StudyStore(tmp_path / "s", 10**9)
        job = retrieve_iter(server.node(), local, store, series.study_uid, timeout=5, method=method)
        got = 0
        with pytest.raises(NetError) as info:
            for _step in job:
                got += 1
                if got == 4:
                    server._proc.kill()
        assert info.value.reason == "aborted"
        said = re.search(r"(\d+) instance\(s\) arrived and are kept", str(info.value))
    kept = list(store.root.rglob("*.dcm"))
    assert len(kept) >= 4 and _no_partial_files(store.root)
    assert said and int(said.group(1)) == len(kept), (str(info.value), len(kept))


def test_progress_knows_the_total_from_the_first_pending_answer(pacs, tmp_path):
    series = pacs.series["native"]
    store = StudyStore(tmp_path / "s", 10**9)
    steps = []
    run_job(retrieve_iter(pacs.node(), pacs.local(), store, series.study_uid), steps.append)
    assert steps[-1].total == len(series.slices)


def test_a_c_get_brings_medviewers_own_results_beside_the_images(pacs, tmp_path):
    """An SR, a key object selection and a parametric map (the classes medviewer writes) come
    with the study on a C-GET, as on a C-MOVE: each class needs its own storage context."""
    import pydicom
    from pydicom.uid import generate_uid

    from medviewer.testing.synthetic import write_series

    written = write_series(tmp_path / "study", n_slices=3, rows=16, cols=16, seed=9)
    results = {
        "1.2.840.10008.5.1.4.1.1.88.33": "SR",  # Comprehensive SR
        "1.2.840.10008.5.1.4.1.1.88.59": "KO",  # Key Object Selection
        "1.2.840.10008.5.1.4.1.1.30": "OT",  # Parametric Map
    }
    for n, (sop_class, modality) in enumerate(results.items()):
        ds = pydicom.dcmread(written.paths[0])
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID, ds.Modality, ds.SeriesNumber = generate_uid(), modality, 900 + n
        ds.save_as(tmp_path / f"result-{modality}.dcm")
    pacs.server.upload([tmp_path / "study", *sorted(tmp_path.glob("result-*.dcm"))])
    store = StudyStore(tmp_path / "got", 10**9)
    result = run_job(
        retrieve_iter(pacs.node(), pacs.local(), store, written.study_uid, method="get")
    )
    assert result.ok and len(result.stored) == 3 + len(results)
    classes = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPClassUID) for p in result.stored}
    assert set(results) <= classes
