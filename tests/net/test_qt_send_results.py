"""Sending from the app to a real PACS (the session's Orthanc): the AI dock's "Send result to
node ▸ NODE" (SR + KO built into a temporary folder, then C-STORE on a worker) and the series
browser's "Send series to node ▸ NODE"; Orthanc then holds what was sent."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from pydicom import dcmread  # noqa: E402

from medviewer.net.nodes import NetConfig, save_config  # noqa: E402
from tests.qt.dicom_results_study import (  # noqa: E402
    FLAGGED,
    OTHER_SERIES_UID,
    make_models,
    make_study,
    open_window,
    run_model,
)


@pytest.fixture(scope="module")
def _pyqtgraph():
    from medviewer.qt.app import configure_pyqtgraph

    configure_pyqtgraph()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("send-results-models"))


@pytest.fixture(autouse=True)
def _env(models_dir, monkeypatch, _pyqtgraph):
    monkeypatch.setenv("MEDVIEWER_MODELS", str(models_dir))
    monkeypatch.setenv("MEDVIEWER_NO_WARMUP", "1")


@pytest.fixture(scope="module")
def study(tmp_path_factory, models_dir):
    return make_study(tmp_path_factory.mktemp("send-study"), models_dir, with_sr=False)


@pytest.fixture
def configured(pacs):
    """dicom-nodes.json (in the test's config folder) naming the session's Orthanc PACS."""
    save_config(NetConfig(pacs.local(), [pacs.node(name="PACS")]))
    return pacs


def test_send_result_to_node_stores_the_sr_in_the_pacs(qtbot, configured, study):
    from medviewer.reports.sr import read_sr

    pacs = configured
    w = open_window(qtbot, study.folder / "lesion")
    run_model(qtbot, w)
    results = w.ai.results
    menu = results.send_menu
    menu.aboutToShow.emit()
    [action] = menu.actions()
    assert action.text() == "PACS" and "127.0.0.1" in action.toolTip()

    sent_objects = []
    import medviewer.reports.common as common

    real_write = common.write_objects

    def spy(objects, out):
        sent_objects.extend(ds for _kind, ds in objects)
        return real_write(objects, out)

    from unittest import mock

    with (
        mock.patch.object(common, "write_objects", spy),
        qtbot.waitSignal(results.sent, timeout=60_000) as blocker,
    ):
        action.trigger()
        assert results.cancel_button.isVisible()
    sent = blocker.args[0]
    assert sent.complete, sent.text()
    assert sent.result.sent == 2  # SR + KO (no heat map shown)
    text = results.status_label.text()
    assert text == "Sent the AI result to PACS: 2 file(s), all taken"
    assert not results.cancel_button.isVisible() and results.save_action.isEnabled()

    sr = next(ds for ds in sent_objects if ds.Modality == "SR")
    stored = pacs.server.instances_of(str(sr.SOPInstanceUID))
    from io import BytesIO

    report = read_sr(dcmread(BytesIO(stored)))
    assert [f.index for f in report.flagged] == FLAGGED
    assert report.series_uid == study.volume.series.series_uid
    ko = next(ds for ds in sent_objects if ds.Modality == "KO")
    assert pacs.server.instances_of(str(ko.SOPInstanceUID))


def test_send_series_from_the_series_browser(qtbot, configured, study):
    pacs = configured
    w = open_window(qtbot, study.folder)
    other = next(s for s in w.session.scan_result.all_series() if s.series_uid == OTHER_SERIES_UID)
    menu = w.browser.tree.series_menu(other.key)
    sub = next(a.menu() for a in menu.actions() if a.menu() is not None)
    sub.aboutToShow.emit()
    [action] = sub.actions()
    assert action.text() == "PACS"
    with qtbot.waitSignal(w.ai.series_sender.sent, timeout=60_000) as blocker:
        action.trigger()
    sent = blocker.args[0]
    assert sent.complete and sent.result.sent == len(other.slices), sent.text()
    assert "Sent series CT 1" in sent.text() and "to PACS" in sent.text()
    for ref in other.slices:
        assert pacs.server.instances_of(ref.sop_instance_uid)
    assert w.messages.item(w.messages.count() - 1).text() == sent.text()


def test_a_node_that_does_not_answer_is_said_in_plain_words(qtbot, study, pacs):
    from medviewer.net.nodes import RemoteNode
    from medviewer.testing.orthanc import free_port

    save_config(NetConfig(pacs.local(), [RemoteNode("GONE", "GONE", "127.0.0.1", free_port())]))
    w = open_window(qtbot, study.folder / "lesion")
    run_model(qtbot, w)
    with qtbot.waitSignal(w.ai.results.failed, timeout=60_000) as blocker:
        assert w.ai.results.send("GONE")
    assert "refused" in blocker.args[0].lower()
    assert w.ai.results.status_label.text().startswith("Not done:")
    assert w.ai.results.save_action.isEnabled()
