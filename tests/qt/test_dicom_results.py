"""AI results as DICOM inside the app: the SR finding list in the AI dock (a study holding one
of our SRs, an SR opened from the AI menu, an SR medviewer did not write), going to a flagged
slice from the list, and saving the dock's result as DICOM (SR + KO + the heat map shown).

A tiny real model (tests/qt/dicom_results_study.py) flags slices 4, 3, 5, 2 of a synthetic
head CT; the node tests against a real PACS are in tests/net/test_qt_send_results.py."""

from __future__ import annotations

import pytest
from pydicom.uid import BasicTextSRStorage, generate_uid
from PySide6 import QtCore, QtGui

from tests.qt.dicom_results_study import (
    FLAGGED,
    OTHER_SERIES_UID,
    RUN_TIMEOUT,
    make_models,
    make_study,
    new_window,
    open_window,
    run_model,
)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("dicom-results-models"))


@pytest.fixture(autouse=True)
def _tiny_models(models_dir, monkeypatch):
    monkeypatch.setenv("MEDVIEWER_MODELS", str(models_dir))
    monkeypatch.setenv("MEDVIEWER_NO_WARMUP", "1")


@pytest.fixture(scope="module")
def study(tmp_path_factory, models_dir):
    return make_study(tmp_path_factory.mktemp("sr-study"), models_dir)


def _open_with_report(qtbot, folder):
    w = new_window(qtbot)
    with qtbot.waitSignal(w.ai.reports.search_finished, timeout=30_000) as blocker:
        w.open_paths([str(folder)])
    return w, blocker.args[0]


def test_a_study_with_our_sr_shows_its_finding_list(qtbot, study):
    w, n = _open_with_report(qtbot, study.folder)
    assert n == 1
    box = w.ai.reports.box
    assert box.isVisible() and w.ai_dock.isVisible()
    p = study.prediction
    assert box.title_label.text() == f"<b>{p.model} {p.version}</b>" == "<b>tiny-flag 1.0.0</b>"
    assert box.weights_label.text() == f"weights sha256 {p.sha256[:12]}…"
    assert p.sha256 in box.weights_label.toolTip()
    series = box.series_label.text()
    assert f"lesion {p.probabilities['lesion']:.2f}" in series
    assert f"normal {p.probabilities['normal']:.2f}" in series
    assert box.flagged_label.text() == "Flagged slices (4)"
    rows = box.flagged_list.rows()
    assert [r.index for r in rows] == FLAGGED
    by_index = {s.index: s for s in p.slices}
    for row in rows:
        probs = by_index[row.index].probabilities
        assert row.text == f"Im {row.index + 1}: lesion {probs['lesion']:.2f}"
        assert row.sop_instance_uid == study.volume.series.slices[row.index].sop_instance_uid
    assert not box.regions_list.isVisible()  # no labels in this report
    assert "Research use only, not for diagnosis" in box.disclaimer_label.text()
    assert box.disclaimer_label.isVisible()
    assert box.source_label.toolTip() == str(study.sr_path)
    assert not box.choice.isVisible()  # one report: no choice to make
    # the Results box under it says what a saved result lacks, not "Not run yet"
    assert w.ai_panel.series_label.text().startswith("The saved result above (tiny-flag 1.0.0)")
    # the report is named in the Messages list as not an image, with no warning sign
    items = [w.messages.item(i) for i in range(w.messages.count())]
    notes = [i for i in items if str(study.sr_path) in i.text()]
    assert len(notes) == 1 and notes[0].text().startswith(
        "Not an image, not shown (a medviewer AI result among them is read into the AI dock):"
    )
    assert notes[0].icon().isNull()


def test_clicking_a_flagged_slice_shows_that_slice(qtbot, study):
    w, _ = _open_with_report(qtbot, study.folder)
    lst = w.ai.reports.box.flagged_list
    for i, k in enumerate(FLAGGED):
        item = lst.item(i)
        qtbot.mouseClick(
            lst.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=lst.visualItemRect(item).center()
        )
        assert w.viewer.primary.index == k
        assert w.ai_panel.current_slice == k


def test_a_click_in_another_series_loads_the_series_of_the_report(qtbot, study):
    w, _ = _open_with_report(qtbot, study.folder)
    other = next(s for s in w.session.scan_result.all_series() if s.series_uid == OTHER_SERIES_UID)
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        w.load_series(other.key)
    box = w.ai.reports.box
    assert "another series" in box.message_label.text()
    row = box.flagged_list.rows()[0]
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        box.flagged_list.row_chosen.emit(row)
    assert w.session.volume.series.series_uid == study.volume.series.series_uid
    assert w.viewer.primary.index == row.index
    assert not box.message_label.isVisible()


def test_an_sr_opened_from_the_ai_menu_names_the_series_when_it_is_not_open(qtbot, study, tmp_path):
    from medviewer.testing.synthetic import write_series

    write_series(tmp_path / "unrelated", n_slices=4, rows=32, cols=32)
    w = open_window(qtbot, tmp_path / "unrelated")
    assert not w.ai.reports.box.isVisible()  # nothing found in that study
    assert w.actions["ai.open_sr"].text().replace("&", "") == "Open AI result (DICOM SR)…"
    with qtbot.waitSignal(w.ai.reports.report_shown, timeout=10_000):
        assert w.ai.reports.open_report(str(study.sr_path))
    box = w.ai.reports.box
    assert box.isVisible() and box.title_label.text() == "<b>tiny-flag 1.0.0</b>"
    assert "is not open: open its study" in box.message_label.text()
    box.flagged_list.row_chosen.emit(box.flagged_list.rows()[0])
    text = box.message_label.text()
    assert "is not among the open images" in text and study.volume.series.series_uid in text


def _foreign_sr(path):
    """A Basic Text SR another system wrote."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = BasicTextSRStorage
    ds.file_meta.MediaStorageSOPInstanceUID = uid = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = BasicTextSRStorage, uid
    ds.Modality = "SR"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.ValueType = "CONTAINER"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "18748-4", "LN"
    code.CodeMeaning = "Diagnostic imaging report"
    ds.ConceptNameCodeSequence = [code]
    ds.save_as(path, enforce_file_format=True)
    return path


def test_an_sr_we_did_not_write_gets_a_plain_message(qtbot, study, tmp_path):
    w = open_window(qtbot, study.folder / "lesion")
    path = _foreign_sr(tmp_path / "other-report.dcm")
    with qtbot.waitSignal(w.ai.reports.report_shown, timeout=10_000) as blocker:
        w.ai.reports.open_report(str(path))
    assert blocker.args[0].report is None
    box = w.ai.reports.box
    text = box.message_label.text()
    assert str(path) in text and "is not a medviewer classifier report" in text
    assert "Diagnostic imaging report" in text
    assert not box.flagged_list.isVisible() and not box.title_label.isVisible()
    box.close_button.click()
    assert not box.isVisible()


def test_a_file_that_is_not_dicom_says_so(qtbot, study, tmp_path):
    w = open_window(qtbot, study.folder / "lesion")
    path = tmp_path / "notes.txt"
    path.write_text("not a report")
    with qtbot.waitSignal(w.ai.reports.report_shown, timeout=10_000):
        w.ai.reports.open_report(str(path))
    assert "is not a readable DICOM file" in w.ai.reports.box.message_label.text()


def test_save_as_dicom_writes_what_read_sr_reads_back_equal(qtbot, study, tmp_path):
    from medviewer.reports.ko import read_ko
    from medviewer.reports.pmap import read_pmap
    from medviewer.reports.sr import read_sr, report_of

    w = open_window(qtbot, study.folder / "lesion")
    results = w.ai.results
    assert not results.save_action.isEnabled()  # nothing classified yet
    prediction = run_model(qtbot, w)
    assert results.save_action.isEnabled() and results.save_button.isEnabled()

    # with the heat map of slice 4 shown, the Parametric Map comes too
    panel = w.ai_panel
    w.viewer.primary.set_index(4)
    with qtbot.waitSignal(
        panel.explanation_changed,
        check_params_cb=lambda e: e is not None and e.faithfulness is not None,
        timeout=RUN_TIMEOUT,
    ):
        w.actions["ai.toggle_heatmap"].trigger()
    out = tmp_path / "results"
    with qtbot.waitSignal(results.saved, timeout=60_000) as blocker:
        assert results.save(str(out))
    saved = blocker.args[0]
    assert sorted(saved.kinds) == ["ko", "pmap", "sr"]
    assert sorted(p.name.split("-")[0] for p in out.iterdir()) == ["ko", "pmap", "sr"]
    sr = next(out.glob("sr-*.dcm"))
    expected, _sources = report_of(w.session.volume, prediction)
    assert read_sr(sr) == expected
    assert [f.index for f in read_sr(sr).flagged] == FLAGGED
    uids = {s.sop_instance_uid for s in w.session.volume.series.slices}
    assert {uid for uid, _frame in read_ko(next(out.glob("ko-*.dcm"))).images} <= uids
    heat = read_pmap(next(out.glob("pmap-*.dcm")))
    assert heat.info.source_sop_instance_uid == w.session.volume.series.slices[4].sop_instance_uid
    assert heat.map.shape == panel.explanation.map.shape
    assert abs(heat.map - panel.explanation.map).max() < 1e-6
    assert str(out) in results.status_label.text() and results.status_label.isVisible()

    # the saved SR opens in the dock again
    with qtbot.waitSignal(w.ai.reports.report_shown, timeout=10_000):
        w.ai.reports.open_report(str(sr))
    assert [r.index for r in w.ai.reports.box.flagged_list.rows()] == FLAGGED


def test_save_refuses_a_file_as_folder_in_plain_words(qtbot, study, tmp_path):
    w = open_window(qtbot, study.folder / "lesion")
    run_model(qtbot, w)
    target = tmp_path / "a-file"
    target.write_text("x")
    with qtbot.waitSignal(w.ai.results.failed, timeout=30_000) as blocker:
        w.ai.results.save(str(target))
    assert "is a file" in blocker.args[0]
    assert w.ai.results.status_label.text().startswith("Not done:")
    assert w.ai.results.save_action.isEnabled()  # usable again
    assert target.read_text() == "x"


def test_without_a_node_the_send_menus_say_where_to_add_one(qtbot, study):
    w = open_window(qtbot, study.folder / "lesion")
    run_model(qtbot, w)
    menu = w.ai.results.send_menu
    menu.aboutToShow.emit()
    texts = [a.text() for a in menu.actions()]
    assert texts[0] == "No DICOM node configured: add one in Network > DICOM nodes"
    assert not menu.actions()[0].isEnabled()
    assert "Network > DICOM nodes" in menu.actions()[0].toolTip()
    assert menu in [a.menu() for a in w.ai.menu.actions() if a.menu() is not None]
    if "network.nodes" in w.actions:  # the Network menu's dialog is one click away
        assert texts[1] == "Open Network > DICOM nodes…"
        nodes_keys = w.actions["network.nodes"].shortcut()
        assert nodes_keys.toString(QtGui.QKeySequence.SequenceFormat.PortableText) == "Ctrl+Shift+N"
    save_keys = w.ai.results.save_action.shortcut()
    assert save_keys.toString(QtGui.QKeySequence.SequenceFormat.PortableText) == "Ctrl+Alt+S"

    key = w.session.volume.series.key
    series_menu = w.browser.tree.series_menu(key)
    sub = next(a.menu() for a in series_menu.actions() if a.menu() is not None)
    assert sub.title().replace("&", "") == "Send series to node"
    sub.aboutToShow.emit()
    assert sub.actions()[0].text().startswith("No DICOM node configured")


def test_saving_is_offered_only_for_a_result_of_the_series_shown(qtbot, study):
    w = open_window(qtbot, study.folder)
    run_model(qtbot, w)
    assert w.ai.results.save_action.isEnabled()
    other = next(s for s in w.session.scan_result.all_series() if s.series_uid == OTHER_SERIES_UID)
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        w.load_series(other.key)
    assert not w.ai.results.save_action.isEnabled()
    assert not w.ai.results.save()
    assert "Run the classifier" in w.ai.results.status_label.text()


def test_a_series_send_shows_its_progress_and_can_be_cancelled(qtbot, study, monkeypatch):
    """The send job (the real one is tested against Orthanc in tests/net) is replaced by one
    that sends one file and then waits for its cancel token, as ``send_iter`` checks it
    between files: the status bar shows the progress and a Cancel button, the series menu
    offers "Cancel sending …", and cancelling says what the node kept."""
    import time

    from medviewer.errors import Cancelled
    from medviewer.jobs import Progress
    from medviewer.net.nodes import NetConfig, RemoteNode, save_config
    from medviewer.session import dicom_send as ds

    save_config(NetConfig(nodes=[RemoteNode("PACS", "PACS", "127.0.0.1", 11112)]))

    def one_file_then_wait(series, node, calling_ae, cancel=None):
        n = len(series.slices)
        yield Progress(0, n, f"sending {n} file(s) to {node.name}")
        yield Progress(1, n, "1 file sent")
        deadline = time.monotonic() + 30
        while not cancel.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        raise Cancelled("send cancelled after 1 file(s)")

    monkeypatch.setattr(ds, "send_series_iter", one_file_then_wait)
    w = open_window(qtbot, study.folder)
    sender = w.ai.series_sender
    other = next(s for s in w.session.scan_result.all_series() if s.series_uid == OTHER_SERIES_UID)
    assert sender.send(other.key, "PACS")
    assert not sender.send(other.key, "PACS")  # one send at a time
    qtbot.waitUntil(lambda: sender.progress.value() == 1, timeout=10_000)
    assert not sender.progress.isHidden() and not sender.cancel_button.isHidden()
    assert sender.progress.maximum() == len(other.slices)
    menu = w.browser.tree.series_menu(other.key)
    texts = [a.text() for a in menu.actions()]
    [cancel_text] = [t for t in texts if t.startswith("Cancel sending ")]
    assert cancel_text == f"Cancel sending {ds.series_words(other)} to PACS"
    assert not any(a.menu() is not None for a in menu.actions())  # no second send offered

    with qtbot.waitSignal(sender.cancelled, timeout=10_000) as blocker:
        sender.cancel_button.click()
    text = blocker.args[0]
    assert text.endswith("was cancelled; the 1 file(s) it took before stay there"), text
    assert sender.progress.isHidden() and sender.cancel_button.isHidden()
    assert sender.worker is None
    assert w.messages.item(w.messages.count() - 1).text() == text
    again = w.browser.tree.series_menu(other.key)
    assert any(a.menu() is not None for a in again.actions())  # the node list is back
