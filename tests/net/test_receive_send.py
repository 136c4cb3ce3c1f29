"""The receiver (C-STORE SCP) fed by a real Orthanc and by hostile senders, and sending to
Orthanc (C-STORE SCU)."""

from __future__ import annotations

import errno
import json
import time
from io import BytesIO

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from medviewer.dicom import load_volume, scan
from medviewer.jobs import run_job
from medviewer.net import storage
from medviewer.net.association import NetError
from medviewer.net.nodes import RemoteNode
from medviewer.net.receiver import Receiver
from medviewer.net.send import send_iter
from medviewer.net.storage import StudyStore
from medviewer.testing.synthetic import write_series


def _orthanc_id(server, uid: str) -> str:
    return server._request("POST", "/tools/lookup", uid.encode())[0]["ID"]


def _push(server, uid: str) -> None:
    """Ask Orthanc to C-STORE the series ``uid`` to the modality "medviewer" (this station)."""
    body = json.dumps({"Resources": [_orthanc_id(server, uid)], "Synchronous": True}).encode()
    server._request("POST", "/modalities/medviewer/store", body)


def _wait_for(pred, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _no_partial_files(root):
    return not [p for p in root.rglob(".*") if p.is_file()]


def _us(pacs) -> RemoteNode:
    """This station's receiver, as a node a test sender talks to."""
    return RemoteNode("me", "MEDVIEWER", "127.0.0.1", pacs.receiver_port)


def test_orthanc_pushes_a_series_and_again(pacs, tmp_path):
    series = pacs.series["native"]
    store = StudyStore(tmp_path / "in", 10**9)
    seen = []
    with Receiver(pacs.local(), store, ["ORTHANC"], on_event=seen.append) as receiver:
        _push(pacs.server, series.series_uid)
        assert _wait_for(lambda: len(seen) >= len(series.slices))
        assert {a.kind for a in seen} == {"stored"} and all(a.calling_ae == "ORTHANC" for a in seen)
        folder = store.root / series.study_uid / series.series_uid
        assert np.array_equal(
            load_volume(scan([str(folder)]).all_series()[0]).array, load_volume(series).array
        )
        _push(pacs.server, series.series_uid)  # the same again: kept once
        assert _wait_for(lambda: len(seen) >= 2 * len(series.slices))
        assert [a.kind for a in seen[len(series.slices) :]] == ["duplicate"] * len(series.slices)
        assert len(list(folder.iterdir())) == len(series.slices)
        assert receiver.running
    assert not receiver.running and _no_partial_files(store.root)


def test_an_unknown_calling_ae_is_rejected_and_the_receiver_goes_on(pacs, tmp_path):
    series = pacs.series["rle"]
    store = StudyStore(tmp_path / "in", 10**9)
    with Receiver(pacs.local(), store, ["OTHERPACS"]) as receiver:
        with pytest.raises(OSError):  # Orthanc's REST call reports the failed C-STORE
            _push(pacs.server, series.series_uid)
        assert _wait_for(lambda: any(a.kind == "rejected" for a in receiver.events))
        rejected = [a for a in receiver.events if a.kind == "rejected"][0]
        assert rejected.calling_ae == "ORTHANC" and "not an allowed sender" in rejected.message
        assert not store.root.exists() or not list(store.root.rglob("*.dcm"))
        # an allowed sender still gets in
        sent = run_job(send_iter(_us(pacs), "OTHERPACS", [pacs.folders["rle"]]))
        assert sent.sent == len(series.slices) and not sent.failures
        # but not when it calls another AE title than this station's
        wrong = RemoteNode("me", "NOTME", "127.0.0.1", pacs.receiver_port)
        with pytest.raises(Exception, match="AE title"):
            run_job(send_iter(wrong, "OTHERPACS", [pacs.folders["rle"]]))
        assert _wait_for(lambda: any("called an AE title" in a.message for a in receiver.events))


def _dataset_bytes(**changes) -> bytes:
    ds = pydicom.dcmread(next(iter(sorted(p for p in _FOLDER[0].iterdir()))))
    for k, v in changes.items():
        setattr(ds, k, v)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


_FOLDER: list = []


def test_hostile_datasets_are_refused_and_nothing_leaves_the_folder(pacs, tmp_path):
    _FOLDER[:] = [pacs.folders["native"]]
    store = StudyStore(tmp_path / "in" / "studies", 10**9)
    files = tmp_path / "send"
    files.mkdir()
    evil = {
        "dotdot.dcm": _dataset_bytes(SOPInstanceUID="../../../escaped"),
        "abs.dcm": _dataset_bytes(StudyInstanceUID="/tmp/escaped"),
        "empty-uid.dcm": _dataset_bytes(SeriesInstanceUID=""),
    }
    good = _dataset_bytes(SOPInstanceUID=generate_uid())
    # a dataset cut off in the middle of an element: its UIDs are there, the rest is not
    cut = good.index(b"\x10\x00\x10\x00")  # (0010,0010) Patient's Name
    evil["truncated.dcm"] = good[:cut] + b"\x10\x00\x10\x00PN\xf0\xff" + b"\x00" * 16
    for name, data in evil.items():
        (files / name).write_bytes(data)
    (files / "zz-good.dcm").write_bytes(good)
    with Receiver(pacs.local(), store, ["OTHERPACS"]) as receiver:
        result = run_job(send_iter(_us(pacs), "OTHERPACS", [files]))
        assert receiver.running
    assert result.sent == 1, result.failures
    assert len(result.failures) == len(evil)  # each refused (or not even sendable), said so
    refused = [a for a in receiver.events if a.kind == "refused"]
    assert sum("not a DICOM UID" in a.message for a in refused) >= 3
    assert all("0xC000" in f or "could not be sent" in f for f in result.failures)
    assert [p.name for p in store.root.rglob("*.dcm")] == [
        f"{pydicom.dcmread(BytesIO(good)).SOPInstanceUID}.dcm"
    ]
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "in" / "escaped").exists()
    assert _no_partial_files(tmp_path)


def test_a_full_disk_or_the_size_cap_answers_out_of_resources(pacs, tmp_path, monkeypatch):
    store = StudyStore(tmp_path / "in", cap_bytes=3 * 20_000)
    with Receiver(pacs.local(), store, ["OTHERPACS"]) as receiver:
        result = run_job(send_iter(_us(pacs), "OTHERPACS", [pacs.folders["native"]]))
        capped = len(list(store.root.rglob("*.dcm")))
        assert 0 < capped < len(pacs.series["native"].slices)
        assert result.sent == capped and all("0xA700" in f for f in result.failures)
        assert any("size cap" in a.message for a in receiver.events if a.kind == "refused")

        def full(path, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(storage, "write_bytes_atomic", full)
        store.cap_bytes = 10**12
        more = run_job(send_iter(_us(pacs), "OTHERPACS", [pacs.folders["rle"]]))
        assert more.sent == 0 and all("0xA700" in f for f in more.failures)
        assert any("disk holding" in a.message for a in receiver.events)
        assert receiver.running
    assert len(list(store.root.rglob("*.dcm"))) == capped and _no_partial_files(store.root)


def test_a_busy_port_is_a_clear_error(pacs, tmp_path):
    store = StudyStore(tmp_path / "in", 10**9)
    with Receiver(pacs.local(), store, ["X"]):
        with pytest.raises(NetError, match="port .* is in use"):
            Receiver(pacs.local(), store, ["X"]).start()


def test_a_receiver_without_allowed_senders_does_not_start(pacs, tmp_path):
    with pytest.raises(NetError, match="none is set"):
        Receiver(pacs.local(), StudyStore(tmp_path, 1), []).start()


def test_send_a_new_series_and_orthanc_holds_the_same_pixels(pacs, tmp_path):
    folder = tmp_path / "new"
    write_series(folder, n_slices=5, rows=32, cols=32, seed=11)
    (folder / "notes.txt").write_text("not DICOM")
    result = run_job(send_iter(pacs.node(), "MEDVIEWER", [folder]))
    assert result.sent == 5 and len(result.failures) == 1 and "notes.txt" in result.failures[0]
    for f in sorted(folder.glob("*.dcm")):
        mine = pydicom.dcmread(f)
        theirs = pydicom.dcmread(BytesIO(pacs.server.instances_of(mine.SOPInstanceUID)))
        assert np.array_equal(theirs.pixel_array, mine.pixel_array)


def test_send_to_a_node_that_rejects_us(pacs, tmp_path):
    with pytest.raises(NetError) as info:
        run_job(send_iter(pacs.node(ae_title="WRONG"), "MEDVIEWER", [pacs.folders["rle"]]))
    assert info.value.reason == "called_ae"


def test_the_reactor_is_held_before_a_request_so_it_cannot_take_the_answer(pacs, tmp_path):
    """pynetdicom runs a reactor thread beside a requestor that takes complete messages off
    the DIMSE queue; its pause before ``send_c_*`` can be read as done while the thread is just
    leaving its checkpoint, and a fast answer (this in-process receiver, a loaded CPU) is then
    taken by it: "Received unexpected C-STORE service message", a DIMSE timeout and an aborted
    send (seen once in CI). ``park_reactor`` returns only when the thread waits at the
    checkpoint; the request then gets its answer and lets the thread go again."""
    from medviewer.net.association import associate, park_reactor
    from medviewer.net.verify import VERIFICATION

    store = StudyStore(tmp_path / "in", 10**9)
    with Receiver(pacs.local(), store, ["OTHERPACS"]):
        assoc = associate(_us(pacs), "OTHERPACS", [VERIFICATION], what="verify")
        try:
            checkpoint = assoc._reactor_checkpoint
            for _ in range(20):
                assert checkpoint.is_set()  # running between requests
                park_reactor(assoc)
                assert not checkpoint.is_set() and assoc._is_paused
                assert len(checkpoint._cond._waiters) == 1  # the reactor waits there
                time.sleep(0.005)
                assert len(checkpoint._cond._waiters) == 1  # and stays
                status = assoc.send_c_echo()
                assert status is not None and status.Status == 0
        finally:
            assoc.release()
    park_reactor(object())  # not a pynetdicom association (or other internals): no-op
