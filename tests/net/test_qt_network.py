"""The Network menu in the window against a real PACS (Orthanc on 127.0.0.1, tests/net/
conftest.py): nodes dialog (validation, save, Verify), query, retrieve shown while it arrives,
cancel, and the receiver switched on from the menu receiving a push."""

from __future__ import annotations

import os
import time

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("pytestqt")

from medviewer.net.nodes import LocalNode, NetConfig, load_config, save_config  # noqa: E402
from medviewer.net.query import Match  # noqa: E402
from medviewer.net.storage import StudyStore  # noqa: E402
from medviewer.testing.orthanc import free_port  # noqa: E402

from .test_receive_send import _push  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _pyqtgraph_config():
    from medviewer.qt.app import configure_pyqtgraph

    configure_pyqtgraph()


def _window(qtbot):
    from tests.qt.dicom_results_study import new_window

    return new_window(qtbot)


@pytest.fixture
def configured(pacs, tmp_path):
    """The PACS as node "pacs" (C-GET), this station receiving on the test port, a study
    folder of this test's own."""
    local = LocalNode(
        port=pacs.receiver_port,
        bind_address="127.0.0.1",
        allowed_callers=("ORTHANC",),
        store_folder=str(tmp_path / "studies"),
    )
    config = NetConfig(local, [pacs.node()])
    save_config(config)
    return config


@pytest.fixture
def slow_store(monkeypatch):
    """A slow network: each instance takes 30 ms more to arrive."""
    real = StudyStore.store

    def store(self, data):
        time.sleep(0.03)
        return real(self, data)

    monkeypatch.setattr(StudyStore, "store", store)


def test_nodes_dialog_validates_saves_and_verifies(qtbot, pacs):
    w = _window(qtbot)
    assert not w.network.receiving.running and w.network.config.nodes == []
    dialog = w.network.show_nodes_dialog()
    dialog.ae_edit.setText("A_TITLE_FAR_TOO_LONG")
    dialog.port_edit.setText("eleven")
    dialog.save()
    assert dialog.isVisible()
    assert "at most 16" in dialog.local_errors["ae_title"].text()
    assert "not a TCP port" in dialog.local_errors["port"].text()
    assert not dialog.local_errors["bind_address"].isVisibleTo(dialog)
    dialog.ae_edit.setText("MEDVIEWER")
    dialog.port_edit.setText(str(pacs.receiver_port))

    editor = dialog.add_node()
    editor.name_edit.setText("pacs")
    editor.ae_edit.setText("ORTHANC")
    editor.host_edit.setText("bad host!")
    editor.port_edit.setText(str(pacs.server.dicom_port))
    editor.accept()
    assert editor.isVisible() and "not a host name" in editor.errors["host"].text()
    # every field wrong at once: the dialog grows so that no message is clipped
    for field in (editor.name_edit, editor.ae_edit, editor.port_edit):
        field.setText("")
    editor.port_edit.setText("abc")
    editor.accept()
    qtbot.wait(50)
    for label in editor.errors.values():
        if label.text():
            assert label.height() >= label.heightForWidth(label.width()) - 1, label.text()
    editor.name_edit.setText("pacs")
    editor.ae_edit.setText("ORTHANC")
    editor.port_edit.setText(str(pacs.server.dicom_port))
    editor.host_edit.setText("127.0.0.1")
    editor.accept()
    assert not editor.isVisible() and [n.name for n in dialog.nodes] == ["pacs"]

    dead = dialog.add_node()
    dead.name_edit.setText("gone")
    dead.ae_edit.setText("GONE")
    dead.host_edit.setText("127.0.0.1")
    dead.port_edit.setText(str(free_port()))
    dead.accept()

    with qtbot.waitSignal(dialog.verified, timeout=15_000):
        dialog.verify("pacs")
    assert dialog.result_text("pacs").startswith("ok, ")
    with qtbot.waitSignal(dialog.verified, timeout=15_000):
        dialog.verify("gone")
    assert dialog.result_text("gone") == "connection refused"

    with qtbot.waitSignal(w.network.config_saved):
        dialog.save()
    saved, problems = load_config()
    assert problems == [] and [n.name for n in saved.nodes] == ["pacs", "gone"]
    assert saved.local.port == pacs.receiver_port
    assert w.network.query.panel.node_box.count() == 2
    assert not w.network.receiving.running  # receiving was not switched on


def test_nothing_configured_opens_no_socket(qtbot, monkeypatch):
    import socket

    w = _window(qtbot)
    opened = []
    real = socket.socket.__init__

    def watch(self, family=-1, *a, **k):
        if family not in (socket.AF_UNIX,):
            opened.append(family)
        return real(self, family, *a, **k)

    monkeypatch.setattr(socket.socket, "__init__", watch)
    w.actions["network.query"].trigger()
    assert w.network.query.dock.isVisible()
    panel = w.network.query.panel
    assert not panel.search_button.isEnabled() and "No DICOM node" in panel.status.text()
    assert not w.network.query.search()
    dialog = w.network.show_nodes_dialog()
    dialog.reject()
    folder = w.network.show_study_folder()
    qtbot.waitUntil(lambda: "No study here yet" in folder.status.text(), timeout=10_000)
    assert opened == []


def test_the_query_dock_gives_the_studies_the_width_and_the_image_its_height(qtbot):
    w = _window(qtbot)
    w.resize(1600, 1000)
    viewer_before = w.viewer.height()
    w.actions["network.query"].trigger()
    qtbot.waitUntil(lambda: w.network.query.dock.isVisible())
    panel = w.network.query.panel
    qtbot.wait(50)
    # the studies table (seven columns) gets more than half; series and retrieves share the rest
    assert panel.study_table.width() > 0.55 * panel.splitter.width()
    assert panel.series_table.width() > 0.3 * panel.splitter.width()
    assert w.network.query.dock.height() <= 340
    assert w.viewer.height() >= viewer_before - 340


def _search(qtbot, w, **fields):
    q = w.network.query
    q.show()
    for name, value in fields.items():
        getattr(q.panel, f"{name}_edit").setText(value)
    with qtbot.waitSignal(q.search_finished, timeout=20_000) as found:
        assert q.search()
    return found.args[0]


def _select_study(qtbot, w, study_uid: str) -> Match:
    panel = w.network.query.panel
    proxy = panel.study_table.model()
    for r in range(proxy.rowCount()):
        match = proxy.index(r, 0).data(0x0100)
        if match.study_uid == study_uid:
            with qtbot.waitSignal(w.network.query.series_listed, timeout=20_000):
                panel.study_table.selectRow(r)
            return match
    raise AssertionError(f"study {study_uid} not in the table")


def test_a_query_fills_the_table_and_the_series_of_a_study(qtbot, pacs, configured):
    w = _window(qtbot)
    result = _search(qtbot, w)
    panel = w.network.query.panel
    uids = {m.study_uid for m in panel.studies.items()}
    assert {s.study_uid for s in pacs.series.values()} <= uids
    assert result is not None and len(result.matches) == panel.studies.rowCount()
    sample = pacs.series["sample"]
    match = _select_study(qtbot, w, sample.study_uid)
    assert match.instances == len(sample.slices)
    series = panel.series.items()
    assert [s.series_uid for s in series] == [sample.series_uid]
    assert panel.retrieve_study_button.isEnabled()

    found = _search(qtbot, w, id=sample.patient_id if hasattr(sample, "patient_id") else "")
    assert found is not None
    w.network.query.panel.from_edit.setEnabled(True)
    w.network.query.panel.from_edit.setText("2026-01-01")
    assert panel.studies.rowCount() > 0
    assert not w.network.query.search()
    assert "YYYYMMDD" in panel.status.text()
    # a refused search does not leave the last search's rows as if they answered it
    assert panel.studies.rowCount() == 0 and not panel.retrieve_study_button.isEnabled()


def test_a_retrieve_shows_the_first_slice_before_it_is_complete(
    qtbot, pacs, configured, slow_store
):
    w = _window(qtbot)
    _search(qtbot, w)
    sample = pacs.series["sample"]
    _select_study(qtbot, w, sample.study_uid)
    q = w.network.query
    seen = []
    with qtbot.waitSignal(q.retrieve_started) as started:
        q.retrieve_study()
    retrieval = started.args[0]
    w.volume_ready.connect(
        lambda: seen.append((retrieval.running, retrieval.state.done, w.session.volume))
    )
    qtbot.waitUntil(lambda: not retrieval.running, timeout=60_000)
    assert seen, "the retrieved series was never shown"
    running, done, volume = seen[0]
    assert running and done < len(sample.slices)
    assert 0 < len(volume.series.slices) < len(sample.slices)
    assert sample.series_uid in w.browser.series_keys()
    assert retrieval.state.state == "done" and retrieval.state.stored == len(sample.slices)
    assert not retrieval.state.failures
    # the last rescan reloads the series on screen with every slice
    qtbot.waitUntil(
        lambda: (
            w.session.volume is not None
            and len(w.session.volume.series.slices) == len(sample.slices)
            and w._worker is None
        ),
        timeout=30_000,
    )
    bar = q.panel.retrieves.itemWidget(q.panel.retrieves.topLevelItem(0), 1)
    assert bar.value() == bar.maximum() == len(sample.slices)


def test_cancel_a_retrieve_keeps_what_arrived(qtbot, pacs, configured, slow_store):
    w = _window(qtbot)
    _search(qtbot, w)
    sample = pacs.series["sample"]
    match = _select_study(qtbot, w, sample.study_uid)
    retrieval = w.network.query.retrieve_study(match)
    qtbot.waitUntil(lambda: retrieval.state.stored >= 5, timeout=30_000)
    retrieval.cancel()
    assert retrieval.state.state == "cancelling"
    qtbot.waitUntil(lambda: not retrieval.running, timeout=30_000)
    assert retrieval.state.state == "cancelled"
    kept = list((w.network.store().root / sample.study_uid).rglob("*.dcm"))
    assert 5 <= len(kept) < len(sample.slices)
    assert "cancelled" in retrieval.state.status_text()


def test_retrieve_failures_are_listed_per_instance(qtbot, pacs, configured):
    w = _window(qtbot)
    native = pacs.series["native"]
    one = next(iter(pacs.folders["native"].iterdir())).stat().st_size
    config = NetConfig(
        LocalNode(**{**configured.local.__dict__, "store_cap_gb": one * 7.5 / 1e9}),
        configured.nodes,
    )
    w.network._saved(config)
    _search(qtbot, w)
    match = _select_study(qtbot, w, native.study_uid)
    retrieval = w.network.query.retrieve_study(match)
    qtbot.waitUntil(lambda: not retrieval.running, timeout=30_000)
    lines = w.network.query.panel.retrieves.failure_lines(retrieval)
    assert len(lines) >= len(native.slices) - 7
    assert any("size cap" in line for line in lines)


def test_receive_from_the_menu_gets_a_push_into_the_browser(qtbot, pacs, configured):
    from medviewer.net.nodes import RemoteNode
    from medviewer.net.verify import echo

    w = _window(qtbot)
    with qtbot.waitSignal(w.network.receiving.state_changed, timeout=15_000) as state:
        w.actions["network.receive"].trigger()
    assert state.args[0] is True and w.network.receiving.running
    assert load_config()[0].local.receive_enabled  # remembered
    native = pacs.series["native"]
    _push(pacs.server, native.series_uid)
    qtbot.waitUntil(lambda: native.series_uid in w.browser.series_keys(), timeout=30_000)
    qtbot.waitUntil(lambda: w.session.volume is not None, timeout=30_000)
    assert w.session.volume.series.series_uid == native.series_uid
    assert "Received" in w.statusBar().currentMessage() or w.session.volume is not None

    stranger = RemoteNode("me", "MEDVIEWER", "127.0.0.1", pacs.receiver_port)
    assert not echo(stranger, "INTRUDER", timeout=5).ok
    qtbot.waitUntil(
        lambda: any("INTRUDER" in w.messages.item(i).text() for i in range(w.messages.count())),
        timeout=10_000,
    )
    w.actions["network.receive"].trigger()
    assert not w.actions["network.receive"].isChecked()
    w.network.receiving.stop(wait=True)
    assert not load_config()[0].local.receive_enabled
