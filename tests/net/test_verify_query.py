"""C-ECHO and C-FIND against a real Orthanc, and every way an association can fail."""

from __future__ import annotations

import socket
import threading
import time
from io import BytesIO

import pydicom
import pytest
from pydicom.uid import generate_uid

from medviewer.errors import Cancelled
from medviewer.jobs import run_job
from medviewer.net.association import NetError
from medviewer.net.nodes import NodeError, RemoteNode
from medviewer.net.query import Query, find_iter
from medviewer.net.verify import echo
from medviewer.testing.orthanc import OrthancServer, free_port
from tests.net.conftest import CancelAfter


def test_echo_ok(pacs):
    result = echo(pacs.node(), "MEDVIEWER")
    assert result.ok and result.reason == "ok" and "answered in" in result.message


def test_echo_wrong_called_ae_title(pacs):
    result = echo(pacs.node(ae_title="NOTORTHANC"), "MEDVIEWER")
    assert not result.ok and result.reason == "called_ae"
    assert "its AE title is not 'NOTORTHANC'" in result.message


def test_echo_from_an_unknown_calling_ae_title(pacs):
    result = echo(pacs.node(), "STRANGER")
    assert not result.ok and result.reason == "calling_ae"
    assert "does not know this station's AE title 'STRANGER'" in result.message


def test_echo_of_a_closed_port(pacs):
    result = echo(RemoteNode("gone", "ORTHANC", "127.0.0.1", free_port()), "MEDVIEWER")
    assert not result.ok and result.reason == "refused"
    assert "connection refused" in result.message


def test_echo_of_something_that_is_not_a_dicom_node():
    """A port that accepts the connection and never answers: a timeout, said so."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        node = RemoteNode("mute", "MUTE", "127.0.0.1", server.getsockname()[1])
        result = echo(node, "MEDVIEWER", timeout=1.0)
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        server.close()
    assert not result.ok and result.reason == "aborted"
    assert "without an answer" in result.message


def test_find_studies_and_their_series(pacs):
    found = run_job(find_iter(pacs.node(), "MEDVIEWER", Query()))
    assert not found.truncated
    by_uid = {m.study_uid: m for m in found.matches}
    sample = pacs.series["sample"]
    assert sample.study_uid in by_uid
    m = by_uid[sample.study_uid]
    assert m.patient_id == "MV-SAMPLE-0001" and m.modalities == "CT" and m.instances == 108
    series = run_job(
        find_iter(pacs.node(), "MEDVIEWER", Query(study_uid=sample.study_uid), "SERIES")
    )
    assert [s.series_uid for s in series.matches] == [sample.series_uid]
    assert series.matches[0].instances == 108


def test_find_filters(pacs):
    node = pacs.node()
    only = run_job(find_iter(node, "MEDVIEWER", Query(patient_id="MV-SAMPLE-0001")))
    assert {m.study_uid for m in only.matches} == {pacs.series["sample"].study_uid}
    none = run_job(find_iter(node, "MEDVIEWER", Query(patient_name="NOBODY*")))
    assert none.matches == [] and "0 studies" in none.message
    with pytest.raises(NodeError, match="not a date"):
        run_job(find_iter(node, "MEDVIEWER", Query(date_from="2026-13-01")))
    with pytest.raises(NodeError, match="ends before it starts"):
        run_job(find_iter(node, "MEDVIEWER", Query(date_from="20261201", date_to="20250101")))
    with pytest.raises(NodeError, match="series query needs the study"):
        run_job(find_iter(node, "MEDVIEWER", Query(), "SERIES"))


def test_find_of_a_node_that_rejects_us_is_a_net_error(pacs):
    with pytest.raises(NetError, match="rejected us") as info:
        run_job(find_iter(pacs.node(), "STRANGER", Query()))
    assert info.value.reason == "calling_ae"


@pytest.fixture(scope="module")
def crowded(tmp_path_factory, pacs):
    """A second Orthanc holding 1,200 one-image studies (a busy PACS)."""
    template = pydicom.dcmread(sorted(pacs.folders["native"].iterdir())[0])
    knows_us = {"medviewer": ("MEDVIEWER", free_port())}
    with OrthancServer(tmp_path_factory.mktemp("crowded"), knows_us) as server:
        for k in range(1200):
            template.StudyInstanceUID = generate_uid()
            template.SeriesInstanceUID = generate_uid()
            template.SOPInstanceUID = generate_uid()
            template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
            template.PatientID = f"P{k:05d}"
            buf = BytesIO()
            template.save_as(buf)
            server._request("POST", "/instances", buf.getvalue())
        yield server


def test_thousands_of_matches_come_in_pages_stop_at_the_limit_and_cancel(crowded):
    node = crowded.node()
    steps = []
    result = run_job(find_iter(node, "MEDVIEWER", Query(), limit=5000), steps.append)
    assert len(result.matches) == 1200 and not result.truncated
    assert len({m.study_uid for m in result.matches}) == 1200
    assert len(steps) == 1200 // 50 and all(len(s.detail) == 50 for s in steps)

    limited = run_job(find_iter(node, "MEDVIEWER", Query(), limit=300))
    assert len(limited.matches) == 300 and limited.truncated
    assert "stopped at 300" in limited.message

    cancel_after_two = CancelAfter(2)
    token, pages = cancel_after_two.token, cancel_after_two.steps

    with pytest.raises(Cancelled):
        run_job(find_iter(node, "MEDVIEWER", Query(), cancel=token), cancel_after_two)
    assert len(pages) == 2
    # the node is still fine afterwards
    assert echo(node, "MEDVIEWER").ok


def test_a_node_that_closes_at_once_is_asked_twice_then_said_to_give_no_answer():
    """A busy node may be seen closing before its rejection is read: one more try, then
    "no answer" (a real socket on 127.0.0.1 that closes every connection)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        result = echo(RemoteNode("shut", "SHUT", "127.0.0.1", port), "MEDVIEWER")
        # every connection was made before echo returned; the server may accept the last late
        deadline = time.monotonic() + 10
        while len(accepted) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        server.close()
    assert not result.ok and result.reason == "aborted"
    assert "closed the connection without an answer" in result.message
    assert len(accepted) == 4  # two associations, each followed by a probe of the port
