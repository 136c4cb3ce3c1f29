"""The triage worklist dock: rows sorted by suspicion, filters, live rows of a running triage
with pause / cancel / resume, a model mismatch asked about, opening a row at its most
suspicious slice with Grad-CAM on, the Labels dock's review status in the table.

Tiny random-weight models in a temporary MEDVIEWER_DATA_DIR; a small synthetic archive.
"""

import time

import pytest
from PySide6 import QtCore, QtWidgets

from medviewer.qt import shortcuts as sc
from medviewer.qt.ai import RESEARCH_NOTICE
from medviewer.qt.main_window import MainWindow
from medviewer.qt.worklist.runner import TriageRequest
from medviewer.qt.worklist.start_dialog import ACTIVE_MODEL, StartTriageDialog
from medviewer.testing.synthetic import write_series
from medviewer.testing.tiny_model import make_package
from medviewer.triage.job import TriageOptions, triage
from medviewer.triage.records import ModelIdentity, SeriesResult
from medviewer.triage.store import ResultsStore

Qt = QtCore.Qt
TINY = "tiny-ct:1.0.0"
TINY2 = "tiny-ct:2.0.0"
N_CT = 5
N_SLICES = 8
TIMEOUT = 120_000


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    data = tmp_path_factory.mktemp("worklist-data")
    make_package(data / "models" / "tiny-ct" / "1.0.0", input_size=(64, 64))
    make_package(
        data / "models" / "tiny-ct" / "2.0.0", version="2.0.0", seed=1, input_size=(64, 64)
    )
    return data, tmp_path_factory.mktemp("no-bundled")


@pytest.fixture(autouse=True)
def _models_env(model_dirs, monkeypatch):
    data, bundled = model_dirs
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(data))
    monkeypatch.setenv("MEDVIEWER_MODELS", str(bundled))
    monkeypatch.setenv("MEDVIEWER_NO_WARMUP", "1")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Five CT series of five patients (one folder each) and an MR series (skipped)."""
    root = tmp_path_factory.mktemp("archive")
    for i in range(N_CT):
        write_series(
            root / f"ct{i}",
            n_slices=N_SLICES,
            rows=48,
            cols=48,
            seed=i,
            patient_id=f"P-{i}",
            study_date=f"2026011{i}",
            series_description=f"Head {i}",
        )
    write_series(root / "mr", n_slices=4, rows=32, cols=32, modality="MR", patient_id="P-MR")
    return root


@pytest.fixture
def window(qtbot, _models_env, tmp_path):
    w = MainWindow()
    w.settings.label_store = str(tmp_path / "labels.sqlite")  # this test's labels only
    qtbot.addWidget(w)
    w.resize(1300, 900)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def options(ref=TINY, **kw):
    return TriageOptions(model_ref=ref, device="cpu", **kw)


def open_results(qtbot, w, path):
    with qtbot.waitSignal(w.worklist.loaded, timeout=TIMEOUT):
        w.worklist.open_results(path)


def cells(w, column):
    i = [c.lower() for c in ("patient", "study date", "series", "series result", "suspicion",
                             "flagged slices", "review")].index(column)  # fmt: skip
    return [row.cells[i] for row in w.worklist.rows()]


def settle(qtbot, w):
    """Wait for the AI dock's run and explanation jobs (nothing left running at teardown)."""
    panel = w.ai_panel
    qtbot.waitUntil(
        lambda: (
            not panel.running and panel.explainer.worker is None and panel.explainer.pending is None
        ),
        timeout=TIMEOUT,
    )


def made_result(i, suspicion, top):
    probs = {"no lesion": round(1 - suspicion, 3), "lesion": suspicion}
    return SeriesResult(
        series_key=f"1.2.{i}", series_uid=f"1.2.{i}", study_uid=f"9.{i}", patient_id=f"P-{i}",
        patient_name="", study_date="20260101", study_description="", series_description=f"S{i}",
        modality="CT", series_number=1, n_slices=10, folder="/nowhere",
        model=ModelIdentity("m", "1", "0" * 64), probabilities=probs, top_class=top,
        suspicion=suspicion, top_slice=3, top_slice_sop_uid="", top_slice_probability=suspicion,
        flagged_slices=[3] if top == "lesion" else [],
    )  # fmt: skip


def test_dock_menu_key_and_notice(window):
    w = window
    assert not w.worklist_dock.isVisible()
    action = w.actions["worklist.show"]
    assert sc.by_id("worklist.show").keys == "Ctrl+Shift+W"
    assert action.shortcut().toString() == "Ctrl+Shift+W"
    action.trigger()
    assert w.worklist_dock.isVisible()
    notice = w.worklist_panel.notice
    assert notice.isVisible() and RESEARCH_NOTICE in notice.text()
    assert "not for diagnosis" in notice.text()
    menus = [a.text().replace("&", "") for a in w.menuBar().actions()]
    assert menus.index("Worklist") == menus.index("Help") - 1


def test_rows_sorted_by_suspicion_and_filters(qtbot, window, tmp_path):
    w = window
    path = tmp_path / "made.sqlite"
    with ResultsStore(path, ModelIdentity("m", "1", "0" * 64)) as store:
        for i, (p, top) in enumerate(((0.2, "no lesion"), (0.97, "lesion"), (0.6, "lesion"),
                                      (0.05, "no lesion"), (0.81, "lesion"))):  # fmt: skip
            store.add(made_result(i, p, top))
    open_results(qtbot, w, path)
    panel = w.worklist_panel
    assert cells(w, "suspicion") == ["0.97", "0.81", "0.60", "0.20", "0.05"]
    assert cells(w, "series result")[0] == "lesion 0.97"
    assert cells(w, "flagged slices")[:2] == ["1 slice", "1 slice"]
    assert set(cells(w, "review")) == {"not reviewed"}
    table = panel.table
    assert table.model().rowCount() == 5
    assert table.model().index(0, 4).data() == "0.97"
    # the class filter, as the user picks it
    box = panel.class_filter
    assert [box.itemText(i) for i in range(box.count())] == [
        "All results (5)",
        "lesion (3)",
        "no lesion (2)",
    ]
    box.setCurrentIndex(box.findData("no lesion"))
    box.activated.emit(box.currentIndex())
    assert cells(w, "suspicion") == ["0.20", "0.05"]
    assert table.model().rowCount() == 2
    assert "2 shown" in panel.summary_label.text()
    box.setCurrentIndex(0)
    box.activated.emit(0)
    assert table.model().rowCount() == 5
    # not yet reviewed: a series labeled on every slice leaves the list
    from medviewer.session.worklist_view import ReviewStatus

    w.worklist.worklist.set_review("1.2.1", ReviewStatus(10, 10))
    panel.unreviewed_check.setChecked(True)
    assert cells(w, "suspicion") == ["0.81", "0.60", "0.20", "0.05"]
    panel.unreviewed_check.setChecked(False)
    assert len(w.worklist.rows()) == 5


def slow_classify(monkeypatch, seconds=0.4):
    """Each series takes ``seconds`` longer; returns a function that undoes it."""
    from medviewer.triage import job

    original = job._classify

    def slow(*args, **kw):
        time.sleep(seconds)
        return original(*args, **kw)

    monkeypatch.setattr(job, "_classify", slow)
    return lambda: monkeypatch.setattr(job, "_classify", original)


def test_live_rows_pause_cancel_and_resume(qtbot, window, archive, tmp_path, monkeypatch):
    w, dock = window, window.worklist
    panel = w.worklist_panel
    fast_again = slow_classify(monkeypatch)
    results = str(tmp_path / "live.sqlite")
    events = []
    dock.runner.event.connect(lambda e: events.append(e.kind))
    request = TriageRequest((str(archive),), results, options())
    assert dock.start(request)
    dock.runner.set_paused(True)  # before the first series
    assert panel.pause_button.text() == "Resume" and panel.cancel_button.isEnabled()
    assert not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: "paused" in events, timeout=TIMEOUT)
    assert dock.rows() == [] and panel.status_label.text().startswith("Paused")
    dock.runner.set_paused(False)
    assert panel.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: len(dock.rows()) >= 1, timeout=TIMEOUT)  # live rows
    dock.runner.set_paused(True)
    events.clear()
    qtbot.waitUntil(lambda: "paused" in events, timeout=TIMEOUT)
    shown = len(dock.rows())
    assert 1 <= shown < N_CT
    qtbot.wait(1200)
    assert len(dock.rows()) == shown  # nothing classified while paused
    sus = [float(s.lstrip("<>")) for s in cells(w, "suspicion")]
    assert sus == sorted(sus, reverse=True)
    with qtbot.waitSignal(dock.runner.finished, timeout=TIMEOUT) as ended:
        panel.cancel_button.click()
    assert ended.args == [None]
    assert "cancelled" in panel.status_label.text()
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    with ResultsStore(results, read_only=True) as store:
        assert len(store.results()) == shown  # each row shown was stored, nothing else
    # started again it goes on where it stopped
    fast_again()
    with qtbot.waitSignal(dock.runner.finished, timeout=TIMEOUT) as ended:
        assert dock.start(request)
    summary = ended.args[0]
    assert summary is not None and summary.already == shown and summary.done == N_CT - shown
    qtbot.waitUntil(lambda: len(dock.rows()) == N_CT and dock._load_worker is None)
    keys = [row.key for row in dock.rows()]
    assert len(set(keys)) == N_CT
    assert "Triage done" in panel.status_label.text()
    assert "Cancel came" not in panel.status_label.text()
    assert "1 skipped" in panel.summary_label.text()  # the MR series, with its reason
    assert "MR" in panel.summary_label.toolTip()
    # Cancel pressed while the last series was classified: done, and it says so
    from medviewer.jobs import CancelToken

    token = CancelToken()
    token.cancel()
    dock.runner._cancel = token
    dock._triage_finished(summary)
    qtbot.waitUntil(lambda: "Cancel came as the last series" in panel.status_label.text())


def test_a_file_of_another_model_is_asked_about(qtbot, window, archive, tmp_path):
    dock = window.worklist
    results = str(tmp_path / "two-models.sqlite")
    triage([str(archive / "ct0")], results, options())
    with qtbot.waitSignal(dock.runner.mismatch, timeout=TIMEOUT):
        dock.start(TriageRequest((str(archive / "ct1"),), results, options(TINY2)))
    qtbot.waitUntil(lambda: dock.mismatch_box is not None and not dock.runner.running)
    with ResultsStore(results, read_only=True) as store:
        assert [m.version for m in store.models()] == ["1.0.0"]  # untouched until asked
    box = dock.mismatch_box
    with qtbot.waitSignal(dock.runner.finished, timeout=TIMEOUT) as ended:
        box.button(QtWidgets.QMessageBox.StandardButton.Yes).click()
    assert ended.args[0] is not None and ended.args[0].done == 1
    with ResultsStore(results, read_only=True) as store:
        assert sorted(m.version for m in store.models()) == ["1.0.0", "2.0.0"]


@pytest.fixture
def triaged(archive, tmp_path):
    path = tmp_path / "results.sqlite"
    summary = triage([str(archive)], path, options())
    assert summary.done == N_CT
    with ResultsStore(path, read_only=True) as store:
        return path, store.results()


def test_opening_a_row_shows_the_top_slice_with_gradcam(qtbot, window, triaged):
    w, dock = window, window.worklist
    path, results = triaged
    open_results(qtbot, w, path)
    first = results[0]
    assert dock.rows()[0].result.series_key == first.series_key
    table = w.worklist_panel.table
    table.setFocus()
    table.selectRow(0)
    with qtbot.waitSignal(dock.row_opened, timeout=TIMEOUT) as opened:
        qtbot.keyClick(table, Qt.Key.Key_Return)
    request, index = opened.args
    assert index == first.top_slice and request.series_key == first.series_key
    assert w.session.volume.series.key == first.series_key
    assert w.viewer.primary.index == first.top_slice
    panel = w.ai_panel
    assert panel.current_ref == TINY and panel.method == "gradcam"
    assert panel.target == request.target and panel.heatmap_on
    qtbot.waitUntil(
        lambda: panel.explanation is not None and panel.explained_slice == first.top_slice,
        timeout=TIMEOUT,
    )
    assert panel.overlay is not None
    qtbot.waitUntil(lambda: not panel.running, timeout=TIMEOUT)  # the plot's run
    # double-click another row: its series, another folder
    assert table.viewport().height() >= 150  # the dock opens tall enough to read
    second = dock.rows()[1].result
    rect = table.visualRect(table.model().index(1, 2))
    with qtbot.waitSignal(dock.row_opened, timeout=TIMEOUT) as opened:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args[1] == second.top_slice
    assert w.session.volume.series.key == second.series_key
    assert w.viewer.primary.index == second.top_slice
    qtbot.waitUntil(lambda: panel.explained_slice == second.top_slice, timeout=TIMEOUT)
    settle(qtbot, w)


def test_review_status_follows_the_labels_dock(qtbot, window, triaged):
    w, dock = window, window.worklist
    path, results = triaged
    open_results(qtbot, w, path)
    w.worklist.opener.run_classifier = False
    row = dock.rows()[0]
    with qtbot.waitSignal(dock.row_opened, timeout=TIMEOUT):
        dock.open_row(row)
    settle(qtbot, w)
    assert cells(w, "review")[0] == "not reviewed"
    lab = w.labeling
    assert lab.change_annotator("alice")
    w.viewer.set_primary_index(0)
    lab.assign("normal")
    assert cells(w, "review")[0] == f"labeled 1/{N_SLICES}"
    dock.set_filters(None, unreviewed_only=True)
    assert dock.rows()[0].key == row.key  # partly labeled: still to review
    for _ in range(N_SLICES - 1):
        lab.assign("normal")
    assert row.key not in [r.key for r in dock.rows()]  # every slice labeled
    dock.set_filters(None, unreviewed_only=False)
    assert cells(w, "review")[0] == f"labeled {N_SLICES}/{N_SLICES}"
    # read again from the files: the same status
    open_results(qtbot, w, path)
    assert cells(w, "review")[0] == f"labeled {N_SLICES}/{N_SLICES}"


def test_start_dialog_lists_the_registry_models(qtbot, window, archive, tmp_path):
    w = window
    w.worklist.start_dialog = None
    dialog = w.worklist.show_start_dialog()
    qtbot.addWidget(dialog)
    refs = [dialog.model_box.itemData(i) for i in range(dialog.model_box.count())]
    assert refs == [None, TINY, TINY2]
    assert dialog.model_box.itemText(0) == ACTIVE_MODEL
    assert not dialog.start_button.isEnabled()  # no folder yet
    assert dialog.results_edit.text().endswith("triage-results.sqlite")
    dialog.add_paths([archive / "ct0", archive / "ct0", archive / "ct1"])
    assert dialog.paths() == [str(archive / "ct0"), str(archive / "ct1")]
    assert dialog.set_model(TINY2)
    dialog.set_device("cpu")
    dialog.workers_spin.setValue(3)
    dialog.results_edit.setText(str(tmp_path / "r.sqlite"))
    assert dialog.start_button.isEnabled()
    request = dialog.request()
    assert request.paths == (str(archive / "ct0"), str(archive / "ct1"))
    assert request.results_path == str(tmp_path / "r.sqlite")
    o = request.options
    assert (o.model_ref, o.device, o.workers, o.accept_other_model) == (TINY2, "cpu", 3, False)
    dialog.reject()
    standalone = StartTriageDialog(None, "")
    qtbot.addWidget(standalone)
    assert standalone.model_box.count() == 1 and standalone.request() is None


def test_the_dock_fits_beside_the_other_docks(qtbot):
    """Wider than the window's centre column, a bottom dock is drawn over the right docks:
    the notice has its own row and long summaries wrap, so the panel stays narrow."""
    from medviewer.qt.worklist.panel import WorklistPanel

    panel = WorklistPanel()
    qtbot.addWidget(panel)
    panel.summary_label.setText("200 series · 40 suspicious · 180 not reviewed · 12 skipped " * 3)
    assert panel.minimumSizeHint().width() <= 480, panel.minimumSizeHint()


def test_the_worklist_opens_as_a_tab_beside_messages_with_the_whole_width(window, qtbot):
    w = window
    w.resize(1600, 1000)
    w._message("a message that opens the Messages dock", warning=True)
    assert w.messages_dock.isVisible()
    w.actions["worklist.show"].trigger()
    dock = w.worklist.dock
    qtbot.waitUntil(dock.isVisible)
    assert dock in w.tabifiedDockWidgets(w.messages_dock)  # a tab, not half the bottom
    assert dock.width() > 0.9 * w.messages_dock.width()
