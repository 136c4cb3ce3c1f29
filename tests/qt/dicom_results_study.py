"""A study with a medviewer SR in it, for the GUI tests of the DICOM results (the finding list,
save / send from the AI dock): a synthetic head CT whose middle slices a tiny real model flags,
a second series of the same study, and the SR of that model's result written beside them.

Shared by tests/qt/test_dicom_results.py and tests/net/test_qt_send_results.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.flag_models import FLAG_MODEL, FLAGGED, SIZE, N, lesion_values, make_models

STUDY_UID = "1.2.826.0.1.3680043.8.498.4242"
LESION_SERIES_UID = STUDY_UID + ".1"
OTHER_SERIES_UID = STUDY_UID + ".2"
RUN_TIMEOUT = 120_000


@dataclass
class SrStudy:
    folder: Path
    """The study: lesion/ (8 slices), other/ (5 slices), sr/ (the SR file)."""
    sr_path: Path
    volume: object
    prediction: object


def make_study(root: Path, models: Path, with_sr: bool = True) -> SrStudy:
    """Write the study into ``root`` (and the SR of FLAG_MODEL's result when ``with_sr``)."""
    from medviewer.ai.classifier import predict
    from medviewer.ai.package import load_package
    from medviewer.dicom import load_volume, scan
    from medviewer.reports.common import write_objects
    from medviewer.reports.sr import make_sr
    from medviewer.testing.synthetic import write_series

    write_series(
        root / "lesion", hu=lesion_values(), series_uid=LESION_SERIES_UID, study_uid=STUDY_UID
    )
    write_series(
        root / "other", n_slices=5, rows=SIZE, cols=SIZE, seed=9, series_uid=OTHER_SERIES_UID,
        study_uid=STUDY_UID,
    )  # fmt: skip
    volume = load_volume(scan([str(root / "lesion")]).all_series()[0])
    name, version = FLAG_MODEL.split(":")
    prediction = predict(load_package(models / name / version), volume)
    sr_path = None
    if with_sr:
        [sr_path] = write_objects([("sr", make_sr(volume, prediction))], root / "sr")
    return SrStudy(root, sr_path, volume, prediction)


def new_window(qtbot):
    """A MainWindow, shown, without the torch warm-up (its timer would fire after the test,
    importing torch beside the next test's workers)."""
    from medviewer.qt.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.ai._warm_timer.timeout.disconnect()
    w.resize(1300, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


def open_window(qtbot, folder):
    """A MainWindow showing ``folder`` (its largest series: the lesion one)."""
    w = new_window(qtbot)
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        w.open_paths([str(folder)])
    return w


def run_model(qtbot, w, ref: str = FLAG_MODEL):
    """Run ``ref`` on the CPU in the window's AI dock; returns the SeriesPrediction."""
    panel = w.ai_panel
    i = panel.model_box.findData(ref)
    assert i >= 0, [panel.model_box.itemData(j) for j in range(panel.model_box.count())]
    panel.model_box.setCurrentIndex(i)
    panel.device_box.setCurrentIndex(panel.device_box.findData("cpu"))
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT) as blocker:
        w.actions["ai.run"].trigger()
    assert blocker.args[0] is not None, panel.messages()
    return blocker.args[0]


__all__ = ["FLAG_MODEL", "FLAGGED", "N", "SIZE", "lesion_values", "make_models"]
