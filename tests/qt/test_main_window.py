"""The main window opens the sample study in the background and shows real slices."""

import numpy as np
import pytest
from PySide6 import QtCore

from medviewer.dicom import load_volume, scan
from medviewer.qt.main_window import MainWindow
from medviewer.resources import sample_study_dir


@pytest.fixture(scope="module")
def sample_volume():
    return load_volume(scan([sample_study_dir()]).all_series()[0])


@pytest.fixture
def window(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        w.open_paths([str(sample_study_dir())])
    return w


def test_opens_sample_on_middle_slice_with_brain_window(window, sample_volume):
    n = sample_volume.array.shape[0]
    assert window.session.slice_index == n // 2
    shown = window.view.image.image
    assert np.array_equal(shown, sample_volume.array[n // 2])
    assert window.view.image.levels is not None
    lo, hi = np.asarray(window.view.image.levels, dtype=float)
    assert (lo, hi) == (0.0, 80.0)  # BRAIN 40/80 from the file's (0028,1050/1051)
    assert window.slider.maximum() == n - 1
    assert "slice 55/108" in window.statusBar().currentMessage()


def test_keys_and_wheel_scroll_slices(window, qtbot, sample_volume):
    start = window.session.slice_index
    qtbot.keyClick(window.view, QtCore.Qt.Key.Key_Down)
    assert window.session.slice_index == start + 1
    qtbot.keyClick(window.view, QtCore.Qt.Key.Key_PageUp)
    assert window.session.slice_index == start + 1 - 10
    assert np.array_equal(window.view.image.image, sample_volume.array[start - 9])
    window.show_slice(10_000)  # clamped, never out of range
    assert window.session.slice_index == sample_volume.array.shape[0] - 1
    assert window.slider.value() == window.slider.maximum()


def test_window_presets_change_levels(window, qtbot):
    names = [window.window_box.itemText(i) for i in range(window.window_box.count())]
    assert any(n.startswith("Bone (600/2800)") for n in names)
    bone = next(i for i, n in enumerate(names) if n.startswith("Bone"))
    window.window_box.setCurrentIndex(bone)
    lo, hi = np.asarray(window.view.image.levels, dtype=float)
    assert (lo, hi) == (600 - 1400, 600 + 1400)


def test_folder_without_images_reports_instead_of_crashing(qtbot, tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("not an image")
    shown = []
    monkeypatch.setattr("PySide6.QtWidgets.QMessageBox.warning", lambda *a, **k: shown.append(a[2]))
    w = MainWindow()
    qtbot.addWidget(w)
    w.open_paths([str(tmp_path)])
    qtbot.waitUntil(lambda: bool(shown), timeout=10_000)
    assert "no displayable image series" in shown[0]
    texts = [w.messages.item(i).text() for i in range(w.messages.count())]
    assert any("notes.txt" in t and "not a DICOM file" in t for t in texts)
