"""Odd and awkward inputs show what they can, with a message; the window never dies."""

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless

from medviewer.qt.main_window import MainWindow
from medviewer.session import mpr
from medviewer.testing.synthetic import write_series


def open_in_window(qtbot, paths, expect_volume=True):
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    if expect_volume:
        with qtbot.waitSignal(w.volume_ready, timeout=60_000):
            w.open_paths(paths)
    else:
        w.open_paths(paths)
    return w


def messages(w):
    return [w.messages.item(i).text() for i in range(w.messages.count())]


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("emri_small.dcm", (10, 64, 64)),  # multi-frame MR
        ("US1_UNCR.dcm", (1, 480, 640, 3)),  # RGB ultrasound
        ("RG1_UNCR.dcm", (1, 1955, 1841)),  # a huge CR
        ("CT_small.dcm", (1, 128, 128)),  # a one-slice series
    ],
)
def test_awkward_single_files_are_shown(qtbot, name, shape):
    path = get_testdata_file(name)
    w = open_in_window(qtbot, [path])
    volume = w.session.volume
    assert volume.array.shape == shape
    shown = w.viewer.primary.view.image.image
    assert shown.shape == shape[1:]
    assert w.slider.isEnabled() == (shape[0] > 1)
    w.actions["view.layout"].trigger()  # MPR of a thin or colour volume must not fail
    # one slice, or no position in the patient: refused with the reason, the image stays
    assert w.viewer.visible_views() == [w.viewer.primary]
    assert w.viewer.primary.view.image.image is not None
    assert any(f"No MPR for this series: {mpr.reformat_problem(volume)}" in t for t in messages(w))
    qtbot.keyClick(w.viewer.primary.view, "a")  # auto window on anything
    w.actions["view.invert"].trigger()


def test_series_whose_slices_fail_halfway_loads_the_rest(qtbot, tmp_path):
    series = write_series(
        tmp_path, n_slices=12, rows=32, cols=32, transfer_syntax=JPEG2000Lossless, shuffle=False
    )
    for path in series.paths[6:9]:  # wipe the JPEG 2000 codestream header of three files
        data = bytearray(open(path, "rb").read())
        start = data.find(b"\xff\x4f\xff\x51")
        assert start > 0
        data[start : start + 16] = bytes(16)
        open(path, "wb").write(bytes(data))
    w = open_in_window(qtbot, [str(tmp_path)])
    assert w.session.volume.array.shape == (9, 32, 32)
    assert any("3 of 12 slice(s) could not be decoded" in m for m in messages(w))
    assert any("not equally spaced" in m for m in messages(w))
    kept = np.delete(series.values, [6, 7, 8], axis=0)
    assert np.array_equal(w.session.volume.array, kept)
    index = w.viewer.primary.index
    assert np.array_equal(w.viewer.primary.view.image.image, kept[index])


def test_folder_of_only_bad_files_explains_each(qtbot, tmp_path):
    (tmp_path / "empty.dcm").write_bytes(b"")
    (tmp_path / "readme.txt").write_text("hello")
    w = open_in_window(qtbot, [str(tmp_path)], expect_volume=False)
    qtbot.waitUntil(lambda: len(messages(w)) >= 3, timeout=10_000)
    text = "\n".join(messages(w))
    assert "empty file" in text and "not a DICOM file" in text
    assert f"No DICOM image series found in {tmp_path}: of its 2 file(s): " in text
    assert w.session.volume is None and not w.progress.isVisible()


def test_drop_a_folder_opens_it(qtbot, tmp_path):
    from PySide6 import QtCore, QtGui

    write_series(tmp_path, n_slices=4, rows=16, cols=16)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(tmp_path))])
    pos = QtCore.QPointF(50, 50)
    actions = QtCore.Qt.DropAction.CopyAction
    nob, nom = QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier
    with qtbot.waitSignal(w.volume_ready, timeout=20_000):
        w.dropEvent(QtGui.QDropEvent(pos, actions, mime, nob, nom))
    assert w.session.volume.array.shape == (4, 16, 16)


def test_a_colour_image_has_no_window_to_choose_and_no_wl_line(qtbot):
    w = open_in_window(qtbot, [get_testdata_file("US1_UNCR.dcm")])
    assert w.session.volume.is_color
    assert not w.window_box.isEnabled() and w.window_box.count() == 0
    corner = w.viewer.primary.view.corner_lines("bottom_right")
    assert not any(line.startswith("W ") for line in corner)
