"""Open the app on the sample study and save the README's screenshots.

Run under a real (virtual) X display: `make screenshots` (uses xvfb-run).

    python docs/screenshots/capture.py [OUT_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6 import QtCore, QtWidgets


def wait(app, predicate=lambda: True, timeout=30.0):
    end = time.monotonic() + timeout
    while not predicate() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = Path(args[0] if args else Path(__file__).parent)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MEDVIEWER_CONFIG_DIR", tempfile.mkdtemp(prefix="mv-shots-"))
    from medviewer.qt.app import configure_pyqtgraph
    from medviewer.qt.theme import apply_dark_theme
    from medviewer.resources import sample_study_dir

    configure_pyqtgraph()
    app = QtWidgets.QApplication(sys.argv[:1])
    apply_dark_theme(app)
    if "--finetune-only" in sys.argv:  # only the fine-tuning dialog's shots
        finetune_shots(app, out)
        print("saved to", out)
        return 0
    if "--reading-only" in sys.argv:  # only the reading layouts' shots
        reading_shots(app, out)
        print("saved to", out)
        return 0
    if "--network" in sys.argv:  # only the DICOM network's shots (starts an Orthanc)
        from capture_network import network_shots

        network_shots(app, out, wait)
        print("saved to", out)
        return 0
    if "--worklist-only" in sys.argv:  # only the triage worklist's shot
        worklist_shot(app, out)
        print("saved to", out)
        return 0
    from medviewer.qt.main_window import MainWindow

    w = MainWindow()
    w.resize(1400, 900)
    w.show()
    if "--sr-only" in sys.argv:  # only the AI dock's SR finding list
        sr_shot(app, w, out)
        print("saved to", out)
        return 0
    if "--ai-only" in sys.argv:  # only the AI dock's heat-map shots
        w.actions["view.layout"].trigger()  # MPR, so that ai_shots' toggle returns to one plane
        ai_shots(app, w, out)
        print("saved to", out)
        return 0
    if "--labeling-only" in sys.argv:  # only the Labels dock's shot
        labeling_shot(app, w, out)
        print("saved to", out)
        return 0
    done = []
    w.volume_ready.connect(lambda: done.append(True))
    w.open_paths([str(sample_study_dir())])
    wait(app, lambda: bool(done))
    wait(app, lambda: not w.browser.thumbnails_pending(), 10)
    w.grab().save(str(out / "viewer-sample-brain.png"))

    # Measurements on a lower slice, bone window.
    plane = w.viewer.primary
    plane.set_index(40)
    tools = w.viewer.tools[plane.plane]
    store = w.session.measurements
    store.add(tools.key, "ruler", ((60.0, 70.0), (60.0, 186.0)))
    store.add(tools.key, "ellipse", ((120.0, 100.0), (150.0, 140.0)))
    store.add(tools.key, "angle", ((200.0, 150.0), (160.0, 190.0), (200.0, 215.0)))
    tools.sync()
    wait(app)
    w.grab().save(str(out / "viewer-measurements.png"))

    w.actions["view.layout"].trigger()
    w.viewer.set_cursor((60, 140, 128))
    wait(app)
    w.grab().save(str(out / "viewer-mpr.png"))

    w.actions["tools.tag_browser"].trigger()
    browser = w.tag_browser
    browser.resize(900, 600)
    wait(app, lambda: browser.visible_rows() > 0, 10)
    browser.set_query("Window")
    wait(app)
    browser.grab().save(str(out / "tag-browser.png"))
    browser.close()

    reading_shots(app, out)
    ai_shots(app, w, out)
    sr_shot(app, w, out)
    labeling_shot(app, w, out)
    finetune_shots(app, out, parent=w)
    worklist_shot(app, out)
    print("saved to", out)
    return 0


def reading_studies(folder: Path) -> tuple[Path, Path]:
    """A current and a prior study of one patient made from the sample head CT: the current
    is the sample itself with a study date; the prior lies 4 slices and a few millimetres
    elsewhere in the field of view, in another frame of reference, with its own noise."""
    import numpy as np

    from medviewer.dicom import load_volume, scan
    from medviewer.resources import sample_study_dir
    from medviewer.testing.synthetic import write_series

    volume = load_volume(scan([sample_study_dir()]).all_series()[0])
    geometry = volume.geometry
    common = dict(
        spacing=geometry.spacing,
        patient_id="MV-SAMPLE-0001",
        body_part="HEAD",
        series_description="Axial head 1.5 mm",
        shuffle=False,
        name_by="index",
    )
    current = folder / "current"
    write_series(current, hu=volume.array, origin=geometry.origin, study_date="20260115", **common)
    noise = np.random.default_rng(7).normal(0.0, 4.0, size=(100, *volume.array.shape[1:]))
    shifted = np.full((100, *volume.array.shape[1:]), -1024.0)  # air where nothing was imaged
    shifted[:, 9:, :-7] = volume.array[4:104, :-9, 7:]  # 9 rows down, 7 columns left
    shifted += noise
    prior = folder / "prior"
    x, y, z = geometry.origin
    write_series(
        prior,
        hu=np.clip(np.rint(shifted), -1024, 3071).astype(np.int16),
        origin=(x + 12.0, y - 30.0, z + 250.0),  # another frame: its own coordinates
        study_date="20240610",
        seed=1,
        **common,
    )
    return current, prior


def reading_shots(app, out: Path) -> None:
    """Reading layouts: the current study beside its prior (linked by the offset set with
    Shift+O) and a sagittal view with the reference line of the active slice; then a 10 mm
    MIP slab beside the plain slice."""
    from medviewer.qt.main_window import MainWindow
    from medviewer.qt.reading import compare

    current, prior = reading_studies(Path(tempfile.mkdtemp(prefix="mv-shots-reading-")))
    w = MainWindow()
    w.resize(1400, 900)
    w.show()
    w.ai_dock.hide()
    w.labeling_dock.hide()
    done = []
    w.volume_ready.connect(lambda: done.append(True))
    w.open_paths([str(current), str(prior)])
    wait(app, lambda: bool(done))
    wait(app, lambda: not w.browser.thumbnails_pending(), 10)
    area = w.reading
    area.set_grid("1x3")
    compare.compare_with_prior(w)  # the prior into viewport 2
    key = w.session.series.key
    area.set_plane(2, "sagittal")
    area.assign(2, key)
    vp_prior, vp_sagittal = area.viewports[0], area.viewports[1]
    wait(app, lambda: all(v.volume is not None and not v.loading for v in area.viewports[:2]))
    primary = w.viewer.primary
    primary.set_index(64)
    vp_prior.plane_view.set_index(60)  # the same anatomy, aligned by eye
    area.set_active(0)
    w.actions["reading.link_here"].trigger()
    primary.set_index(70)  # the prior follows by the remembered offset
    w.messages_dock.hide()
    wait(app)
    assert vp_prior.plane_view.index == 66 and vp_sagittal.plane_view.reference_line_mm()
    w.grab().save(str(out / "reading-prior.png"))

    area.set_grid("1x2")
    area.assign(1, key)  # the same series beside itself, as a 10 mm MIP
    wait(app, lambda: vp_prior.volume is not None and not vp_prior.loading)
    area.set_active(1)
    w.slab_spin.setValue(10.0)
    w.slab_box.setCurrentIndex(w.slab_box.findData("mip"))
    vp_prior.plane_view.set_index(int(os.environ.get("MV_SHOT_MIP_SLICE", "40")))  # + linked
    w.statusBar().clearMessage()
    w.messages_dock.hide()
    wait(app)
    w.grab().save(str(out / "reading-mip.png"))
    w.close()


def classify_lesion_study(app, w) -> None:
    """Open the study with synthetic lesions and run the default CT model on it (CPU)."""
    from medviewer.resources import lesion_sample_dir

    done = []
    w.volume_ready.connect(lambda: done.append(True))
    w.open_paths([str(lesion_sample_dir())])
    wait(app, lambda: bool(done))
    panel = w.ai_panel
    finished = []
    panel.run_finished.connect(lambda r: finished.append(r))
    panel.device_box.setCurrentIndex(panel.device_box.findData("cpu"))
    w.actions["ai.run"].trigger()
    wait(app, lambda: bool(finished), 120)


def ai_shots(app, w, out: Path) -> None:
    """The bundled model on the study with synthetic lesions: per-slice plot and Grad-CAM."""

    w.actions["view.layout"].trigger()  # back to one plane
    classify_lesion_study(app, w)
    panel = w.ai_panel
    slice_index = int(os.environ.get("MV_SHOT_SLICE", "23"))
    w.viewer.primary.set_index(slice_index)
    shown = []
    panel.explanation_changed.connect(
        lambda e: shown.append(e) if e is not None and e.faithfulness is not None else None
    )
    w.actions["ai.toggle_heatmap"].trigger()
    wait(app, lambda: bool(shown), 120)
    w.grab().save(str(out / "ai-gradcam-lesion.png"))

    second = int(os.environ.get("MV_SHOT_SLICE2", "7"))
    shown.clear()
    panel.method_box.setCurrentIndex(panel.method_box.findData("attention"))
    w.viewer.primary.set_index(second)
    wait(app, lambda: bool(shown), 120)
    w.grab().save(str(out / "ai-attention-lesion.png"))


def sr_shot(app, w, out: Path) -> None:
    """The AI dock's finding list of a medviewer SR: the bundled model's result of the study
    with synthetic lesions written as a Comprehensive SR into a copy of the study, the copy
    opened, the second flagged slice clicked."""
    import shutil

    from medviewer.ai.classifier import predict
    from medviewer.ai.registry import ModelRegistry
    from medviewer.dicom import load_volume, scan
    from medviewer.reports.common import write_objects
    from medviewer.reports.sr import make_sr
    from medviewer.resources import lesion_sample_dir

    study = Path(tempfile.mkdtemp(prefix="mv-shots-sr-")) / "study"
    shutil.copytree(lesion_sample_dir(), study / "images")
    volume = load_volume(scan([str(study / "images")]).all_series()[0])
    device = os.environ.get("MV_SHOT_DEVICE", "cpu")
    model = ModelRegistry().load(modality=volume.modality, device=device)
    write_objects([("sr", make_sr(volume, predict(model, volume)))], study / "results")
    found = []
    w.ai.reports.search_finished.connect(found.append)
    w.open_paths([str(study)])
    wait(app, lambda: bool(found), 120)
    w.ai_dock.raise_()
    w.messages_dock.hide()  # it lists the SR as a file without pixels
    labels_shown = w.labeling_dock.isVisible()
    w.labeling_dock.hide()  # the AI dock gets the height
    box = w.ai.reports.box
    rows = box.flagged_list.rows()
    if len(rows) > 1:
        box.flagged_list.setCurrentRow(1)
        w.ai.reports.go_to(rows[1])
    w.statusBar().clearMessage()
    wait(app, lambda: not w.browser.thumbnails_pending(), 10)
    w.grab().save(str(out / "ai-sr-findings.png"))
    w.labeling_dock.setVisible(labels_shown)


def labeling_shot(app, w, out: Path) -> None:
    """The Labels dock on the lesion study after the AI run: a dozen slices labeled by key
    (one accepted from the model, one flagged in review), an evidence rectangle shown. The
    study is opened and classified again: the SR shot before leaves a copy of it open."""
    from medviewer.labels.schema import Region

    classify_lesion_study(app, w)
    heat = w.actions["ai.toggle_heatmap"]
    if heat.isChecked():  # left on by the heat-map shots
        heat.trigger()
    w.messages_dock.hide()
    lab = w.labeling
    lab.change_annotator("Demo annotator")
    w.labeling_dock.raise_()
    start = int(os.environ.get("MV_SHOT_LABEL_START", "2"))
    w.viewer.primary.set_index(start)
    keys = "NNNBBKNNUNNX"
    for key in keys:
        cls = lab.session.label_set.by_key(key)
        lab.assign(cls.name)
        wait(app)
    lab.accept_suggestion()
    wait(app)
    first = start + 4
    lab.session.set_region(first, Region(114.0, 160.0, 144.0, 191.0))  # around the lesion mask
    lab.session.review(start + 1, "flagged", "check the lower slices")
    lab.refresh_all()
    w.viewer.primary.set_index(first)
    wait(app)
    w.grab().save(str(out / "labeling-panel.png"))


def finetune_shots(app, out: Path, parent=None) -> None:
    """AI > Fine-tune model…: the bundled model learns a class it has no output for
    ("skull_base": slices through the skull base, labeled on the sample study through the label
    store) — the Data page after "add as new class", the Training page with its curves and the
    Result page. The store, the new version and the active-model choice live in a temporary
    folder; the user's own are not touched."""
    from medviewer.ai.registry import ModelRegistry
    from medviewer.jobs import run_job
    from medviewer.labels.store import LabelStore
    from medviewer.qt.dialogs.finetune import FinetuneDialog
    from medviewer.resources import sample_study_dir
    from medviewer.session import StudySession
    from medviewer.session.labeling import slice_keys

    folder = Path(tempfile.mkdtemp(prefix="mv-shots-finetune-"))
    session = StudySession()
    run_job(session.open_iter([str(sample_study_dir())]))
    volume = run_job(session.load_iter(session.default_series()))
    paths = [str(ref.path) for ref in volume.series.slices]
    store = LabelStore(folder / "labels.sqlite")
    with store.transaction("label the sample study"):
        for k, key in enumerate(slice_keys(volume)):
            if k >= 100:
                label = "exclude"  # above the brain
            elif k in (36, 37, 70):
                label = "uncertain"
            else:
                label = "skull_base" if k < 36 else "normal"
            who = "Dr. Ada" if k % 3 else "Dr. Ben"
            store.set_label(key, label, annotator=who, path_hint=paths[k])
    store.close()
    registry = ModelRegistry(user_dir=folder / "models", state_file=folder / "active.json")

    d = FinetuneDialog(folder / "labels.sqlite", registry, modality="CT", parent=parent)
    d.setWindowFlag(QtCore.Qt.WindowType.Window)
    d.resize(1080, 820)
    d.show()
    wait(app, lambda: d.overview is not None, 30)
    d.single_patient_check.setChecked(True)
    checked = []
    d.check_finished.connect(checked.append)
    d.check_data()
    wait(app, lambda: bool(checked), 300)
    if d.offered_classes():
        d.add_classes_radio.setChecked(True)
        d.apply_mapping()
        wait(app, lambda: len(checked) > 1, 300)
    d.grab().save(str(out / "finetune-data.png"))

    d.next()
    d.mode_box.setCurrentIndex(d.mode_box.findData("full"))
    d.epochs_spin.setValue(int(os.environ.get("MV_SHOT_EPOCHS", "10")))
    d.lr_spin.setValue(3e-4)
    d.patience_spin.setValue(0)
    d.train_device_box.setCurrentIndex(d.train_device_box.findData("cpu"))
    finished = []
    d.training_finished.connect(finished.append)
    d.start_training()
    # the Training page while it learns: curves so far, progress with the time left, Cancel
    shown = max(1, d.epochs_spin.value() * 6 // 10)
    wait(app, lambda: len(d.history) >= shown or bool(finished), 1800)
    d.grab().save(str(out / "finetune-training.png"))
    wait(app, lambda: bool(finished), 1800)
    d.next()
    wait(app)
    d.grab().save(str(out / "finetune-result.png"))
    d.close()


def worklist_shot(app, out: Path) -> None:
    """The triage worklist: the bundled model triaged both sample studies and a few synthetic
    head CTs (an MR series is skipped, with its reason); the most suspicious series is open at
    its most suspicious slice with Grad-CAM, a few of its slices labeled in the Labels dock.
    The results file and the label store live in a temporary folder."""
    from medviewer.qt.main_window import MainWindow
    from medviewer.qt.worklist.runner import TriageRequest
    from medviewer.resources import lesion_sample_dir, sample_study_dir
    from medviewer.testing.synthetic import write_series
    from medviewer.triage.job import TriageOptions

    folder = Path(tempfile.mkdtemp(prefix="mv-shots-worklist-"))
    cases = (
        ("MV-TRIAGE-0102", "20260112"),
        ("MV-TRIAGE-0107", "20260112"),
        ("MV-TRIAGE-0111", "20260113"),
        ("MV-TRIAGE-0115", "20260114"),
    )
    for i, (patient, date) in enumerate(cases):
        write_series(
            folder / "archive" / patient,
            n_slices=24,
            rows=160,
            cols=160,
            spacing=(5.0, 1.2, 1.2),
            seed=20 + i,
            patient_id=patient,
            study_date=date,
            series_description="Head 5 mm (synthetic)",
            series_number=2,
            body_part="HEAD",
        )
    write_series(
        folder / "archive" / "MV-TRIAGE-0120-MR",
        n_slices=12,
        rows=64,
        cols=64,
        modality="MR",
        patient_id="MV-TRIAGE-0120",
        study_date="20260114",
        series_description="T2 axial",
    )
    w = MainWindow()
    w.settings.label_store = str(folder / "labels.sqlite")
    w.resize(1400, 900)
    w.show()
    w.browser_dock.hide()  # the worklist lists the series
    dock = w.worklist
    read = []
    dock.loaded.connect(read.append)
    paths = (str(sample_study_dir()), str(lesion_sample_dir()), str(folder / "archive"))
    options = TriageOptions(device=os.environ.get("MV_SHOT_DEVICE", "cpu"), workers=2)
    dock.start(TriageRequest(paths, str(folder / "results.sqlite"), options))
    wait(app, lambda: not dock.runner.running and bool(read), 900)
    opened = []
    dock.row_opened.connect(lambda *args: opened.append(args))
    dock.open_row(dock.rows()[0])
    wait(app, lambda: bool(opened), 120)
    panel = w.ai_panel
    wait(
        app,
        lambda: panel.explanation is not None and panel.explanation.faithfulness is not None,
        300,
    )
    wait(app, lambda: not panel.running, 300)
    lab = w.labeling
    lab.change_annotator("Demo reader")
    w.labeling_dock.raise_()
    top = w.viewer.primary.index
    w.viewer.primary.set_index(max(top - 3, 0))
    for name in ("normal", "normal", "uncertain", "hyperdense_lesion", "hyperdense_lesion"):
        lab.assign(name)
        wait(app)
    w.viewer.primary.set_index(top)
    w.labeling_dock.hide()  # its review status shows in the table; the table gets the width
    w.resizeDocks([w.ai_dock], [430], QtCore.Qt.Orientation.Horizontal)
    dock.panel.table.selectRow(0)
    w.messages_dock.hide()
    w.statusBar().clearMessage()
    wait(app)
    w.grab().save(str(out / "worklist.png"))
    wait(app, lambda: not w.browser.thumbnails_pending(), 10)
    w.close()


if __name__ == "__main__":
    sys.exit(main())
