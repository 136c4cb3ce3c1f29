"""The series browser lists patient -> study -> series, fills previews from a worker, and
emits the key of the series the user picks (mouse or keyboard)."""

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from medviewer.dicom import scan
from medviewer.dicom.model import NONUNIFORM_SPACING
from medviewer.qt.series_browser import SeriesBrowser, array_to_pixmap
from medviewer.testing.synthetic import write_series


@pytest.fixture(scope="module")
def two_series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    first = write_series(
        folder / "s1",
        n_slices=6,
        rows=32,
        cols=32,
        series_description="Axial brain",
        series_number=2,
    )
    write_series(
        folder / "s2",
        n_slices=5,
        rows=24,
        cols=40,
        series_description="Bone 1 mm",
        series_number=1,
        study_uid=first.study_uid,
        seed=3,
        z_offsets=[0.0, 2.5, 5.0, 9.0, 11.5],  # a gap: nonuniform spacing warning
    )
    result = scan([folder])
    assert len(result.all_series()) == 2
    return result


@pytest.fixture
def browser(qtbot, two_series):
    widget = SeriesBrowser()
    qtbot.addWidget(widget)
    widget.resize(320, 400)
    widget.show()
    widget.set_scan_result(two_series)
    return widget


def key_of(result, description):
    return next(s.key for s in result.all_series() if s.description == description)


def test_tree_is_patient_study_series_sorted_by_number(browser, two_series):
    tree = browser.tree
    assert tree.topLevelItemCount() == 1
    patient = tree.topLevelItem(0)
    assert "Anonymous" in patient.text(0) and "ANON0001" in patient.text(0)
    assert patient.childCount() == 1
    study = patient.child(0)
    assert study.text(0).startswith("2026-01-01") and "Synthetic study" in study.text(0)
    rows = [study.child(i).text(0) for i in range(study.childCount())]
    assert rows[0].startswith("CT 1 · Bone 1 mm") and rows[0].endswith("5 images")
    assert rows[1].startswith("CT 2 · Axial brain") and rows[1].endswith("6 images")
    assert browser.series_keys() == [
        key_of(two_series, "Bone 1 mm"),
        key_of(two_series, "Axial brain"),
    ]


def test_placeholders_then_thumbnails_arrive_from_the_worker(qtbot, two_series):
    browser = SeriesBrowser()
    qtbot.addWidget(browser)
    browser.set_scan_result(two_series)
    keys = browser.series_keys()
    # nothing can arrive before the event loop runs: placeholders first
    assert all(browser.thumbnail_for(k) is None for k in keys)
    placeholder = browser.item_for(keys[0]).icon(0).pixmap(64, 64).toImage()
    assert placeholder.pixelColor(32, 32).name() == "#3a3c40"
    with qtbot.waitSignal(browser.thumbnails_finished, timeout=20_000):
        pass
    assert all(browser.thumbnail_for(k) is not None for k in keys)
    assert not browser.thumbnails_pending()
    bone = browser.thumbnail_for(key_of(two_series, "Bone 1 mm"))
    assert (bone.width(), bone.height()) == (96, 58)  # 40 x 24 columns x rows, square pixels
    brain = browser.thumbnail_for(key_of(two_series, "Axial brain"))
    assert (brain.width(), brain.height()) == (96, 96)
    image = brain.toImage()
    greys = {image.pixelColor(x, 48).red() for x in range(0, 96, 4)}
    assert len(greys) > 2  # a real picture, not a flat placeholder


def test_warning_icon_and_tooltip(browser, two_series):
    warned = browser.item_for(key_of(two_series, "Bone 1 mm"))
    clean = browser.item_for(key_of(two_series, "Axial brain"))
    series = two_series.find_series(key_of(two_series, "Bone 1 mm"))
    assert NONUNIFORM_SPACING in series.warning_codes()
    message = next(w.message for w in series.warnings if w.code == NONUNIFORM_SPACING)
    assert not warned.icon(1).isNull()
    assert message in warned.toolTip(1) and message in warned.toolTip(0)
    assert clean.icon(1).isNull() and clean.toolTip(1) == ""


def test_click_emits_the_series_key(browser, qtbot, two_series):
    key = key_of(two_series, "Axial brain")
    item = browser.item_for(key)
    rect = browser.tree.visualItemRect(item)
    with qtbot.waitSignal(browser.series_activated, timeout=2_000) as signal:
        qtbot.mouseClick(
            browser.tree.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center()
        )
    assert signal.args == [key]
    assert browser.current_key() == key
    assert browser.item_for(key).font(0).bold()
    # clicking the series already shown does not reload it
    with qtbot.assertNotEmitted(browser.series_activated):
        qtbot.mouseClick(
            browser.tree.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center()
        )


def test_keyboard_navigation_and_enter(browser, qtbot, two_series):
    first, second = browser.series_keys()
    browser.set_current(first)  # what the main window does once a series is shown
    assert browser.tree.currentItem() is browser.item_for(first)
    browser.tree.setFocus()
    with qtbot.assertNotEmitted(browser.series_activated):
        qtbot.keyClick(browser.tree, QtCore.Qt.Key.Key_Down)  # moving alone loads nothing
    assert browser.tree.currentItem() is browser.item_for(second)
    with qtbot.waitSignal(browser.series_activated, timeout=2_000) as signal:
        qtbot.keyClick(browser.tree, QtCore.Qt.Key.Key_Return)
    assert signal.args == [second]


def test_clicking_patient_or_study_rows_emits_nothing(browser, qtbot):
    study = browser.tree.topLevelItem(0).child(0)
    rect = browser.tree.visualItemRect(study)
    with qtbot.assertNotEmitted(browser.series_activated):
        qtbot.mouseClick(
            browser.tree.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center()
        )


def test_new_scan_result_replaces_everything(browser, qtbot, tmp_path):
    write_series(tmp_path, n_slices=3, rows=16, cols=16, series_description="Other")
    other = scan([tmp_path])
    browser.set_scan_result(other)
    assert browser.series_keys() == [other.all_series()[0].key]
    key = other.all_series()[0].key
    qtbot.waitUntil(lambda: browser.thumbnail_for(key) is not None, timeout=20_000)
    browser.set_scan_result(None)
    assert browser.tree.topLevelItemCount() == 0 and browser.series_keys() == []


def test_failed_preview_keeps_the_placeholder_and_says_why(qtbot, two_series, tmp_path):
    from dataclasses import replace

    from medviewer.dicom import ScanResult

    series = two_series.all_series()[0]
    gone = [replace(ref, path=str(tmp_path / "gone.dcm")) for ref in series.slices]
    broken = replace(series, slices=gone)
    study = replace(two_series.studies[0], series=[broken])
    widget = SeriesBrowser()
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.thumbnails_finished, timeout=20_000):
        widget.set_scan_result(ScanResult(studies=[study]))
    assert widget.thumbnail_for(broken.key) is None
    assert widget.thumbnail_error(broken.key)
    assert widget.thumbnail_error(broken.key) in widget.item_for(broken.key).toolTip(0)


def test_destroying_the_browser_stops_its_preview_job(qtbot, two_series):
    widget = SeriesBrowser()
    widget.set_scan_result(two_series)
    (worker,) = widget._running
    widget.deleteLater()
    qtbot.waitUntil(lambda: worker.abort_requested, timeout=2_000)


def test_array_to_pixmap_grey_and_rgb():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    pixmap = array_to_pixmap(grey)
    assert (pixmap.width(), pixmap.height()) == (4, 3)
    assert QtGui.QColor(pixmap.toImage().pixel(3, 2)).red() == 220
    rgb = np.zeros((2, 5, 3), np.uint8)
    rgb[..., 1] = 180
    colour = QtGui.QColor(array_to_pixmap(rgb).toImage().pixel(4, 1))
    assert (colour.red(), colour.green(), colour.blue()) == (0, 180, 0)
