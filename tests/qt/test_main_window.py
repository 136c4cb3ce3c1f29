"""The main window as a radiologist uses it: open, scroll, window, zoom, MPR, measure, export."""

import math

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from medviewer.dicom import load_volume, scan
from medviewer.qt.main_window import MainWindow
from medviewer.resources import sample_study_dir
from medviewer.session.measure import roi_stats
from medviewer.testing.synthetic import write_series

from .mouse import NB, drag, hover, send

Qt = QtCore.Qt


@pytest.fixture(scope="module")
def sample_volume():
    return load_volume(scan([sample_study_dir()]).all_series()[0])


def open_window(qtbot, paths):
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        w.open_paths(paths)
    return w


@pytest.fixture
def window(qtbot):
    return open_window(qtbot, [str(sample_study_dir())])


def shown(w, plane=None):
    view = w.viewer.views[plane] if plane else w.viewer.primary
    return view.view.image.image


def test_opens_sample_on_middle_slice_with_the_files_brain_window(window, sample_volume):
    n = sample_volume.array.shape[0]
    assert window.viewer.primary_plane == "axial"
    assert window.viewer.primary.index == n // 2
    assert np.array_equal(shown(window), sample_volume.array[n // 2])
    assert tuple(np.asarray(window.viewer.primary.view.image.levels, float)) == (0.0, 80.0)
    assert window.slider.maximum() == n - 1
    assert window.browser.series_keys() == [sample_volume.series.key]
    corners = window.viewer.primary.view
    assert window.windowTitle() == "medviewer — Head CT (InVesalius sample)"
    assert corners is not None


def test_keys_wheel_and_slider_scroll(window, qtbot, sample_volume):
    view = window.viewer.primary.view
    start = window.viewer.primary.index
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert window.viewer.primary.index == start + 1
    qtbot.keyClick(view, Qt.Key.Key_PageUp)
    assert window.viewer.primary.index == start - 9
    assert np.array_equal(shown(window), sample_volume.array[start - 9])
    assert window.slider.value() == start - 9
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert window.viewer.primary.index == sample_volume.array.shape[0] - 1
    window.slider.setValue(3)
    assert window.viewer.primary.index == 3 and window.session.slice_index == 3


def test_left_drag_changes_window_level(window, qtbot):
    view = window.viewer.primary.view
    lo0, hi0 = np.asarray(view.image.levels, float)
    c = (view.width() // 2, view.height() // 2)
    drag(qtbot, view, Qt.MouseButton.LeftButton, c, (c[0] + 150, c[1]))
    lo1, hi1 = np.asarray(view.image.levels, float)
    assert hi1 - lo1 > (hi0 - lo0) * 1.5  # wider
    assert window.session.window.name == "Custom"
    assert window.window_box.currentText().startswith("Custom")


def test_presets_by_menu_and_number_keys(window, qtbot):
    names = [window.window_box.itemText(i) for i in range(window.window_box.count())]
    bone = next(i for i, n in enumerate(names) if n.startswith("Bone 600/2800"))
    window.actions[f"window.preset_{bone + 1}"].trigger()
    assert tuple(np.asarray(window.viewer.primary.view.image.levels, float)) == (-800.0, 2000.0)
    window.actions["window.auto"].trigger()
    assert window.session.window.name == "Auto"


def test_zoom_pan_and_fit(window, qtbot):
    view = window.viewer.primary.view
    assert view.zoom == pytest.approx(1.0, rel=0.02)
    view.zoom_by(2.0)
    assert view.zoom == pytest.approx(2.0, rel=0.02)
    before = view.view_center()
    view.pan_by(10.0, 0.0)
    assert view.view_center()[0] == pytest.approx(before[0] + 10.0, abs=0.5)
    window.actions["view.fit"].trigger()
    assert view.zoom == pytest.approx(1.0, rel=0.02)
    assert any("Zoom 100%" in line for line in view.corner_lines("bottom_right"))


def test_mpr_layout_shows_three_planes_linked_by_the_crosshair(window, qtbot, sample_volume):
    window.actions["view.layout"].trigger()
    assert window.viewer.layout_name == "1x3"
    for plane in ("axial", "coronal", "sagittal"):
        assert window.viewer.views[plane].isVisible()
    k, j, i = window.session.cursor
    assert np.array_equal(shown(window, "coronal"), sample_volume.array[::-1, j, :])
    assert np.array_equal(shown(window, "sagittal"), sample_volume.array[::-1, :, i])
    window.viewer.set_cursor((20, 100, 60))
    assert window.viewer.views["axial"].index == 20
    assert np.array_equal(shown(window, "coronal"), sample_volume.array[::-1, 100, :])
    assert np.array_equal(shown(window, "sagittal"), sample_volume.array[::-1, :, 60])
    labels = {p: window.viewer.views[p].view.orientation_labels() for p in ("coronal", "sagittal")}
    assert (labels["coronal"]["left"], labels["coronal"]["top"]) == ("R", "S")
    assert (labels["sagittal"]["left"], labels["sagittal"]["top"]) == ("A", "S")
    # cine plays the plane last clicked
    coronal = window.viewer.views["coronal"]
    centre = (coronal.view.width() / 2, coronal.view.height() / 2)
    left = Qt.MouseButton.LeftButton
    send(coronal.view, QtCore.QEvent.Type.MouseButtonPress, centre, left, left)
    send(coronal.view, QtCore.QEvent.Type.MouseButtonRelease, centre, left)
    before, axial = coronal.index, window.viewer.views["axial"].index
    window.viewer._cine_step()
    assert coronal.index == (before + 1) % coronal.count()
    assert window.viewer.views["axial"].index == axial


def test_orientation_labels_of_the_acquired_plane(window):
    labels = window.viewer.primary.view.orientation_labels()
    assert labels == {"left": "R", "right": "L", "top": "A", "bottom": "P"}


@pytest.fixture
def known_spacing(tmp_path, qtbot):
    hu = np.zeros((5, 40, 60), dtype=np.int16)
    hu[:, 10:20, 20:40] = 100  # a bright block for ROI statistics
    hu[:, 15, 30] = 400
    write_series(tmp_path, hu=hu, spacing=(2.0, 0.5, 0.8), shuffle=False)
    return open_window(qtbot, [str(tmp_path)]), hu[2]


def test_ruler_measures_millimetres(known_spacing, qtbot):
    w, _ = known_spacing
    plane = w.viewer.primary
    w.actions["measure.ruler"].trigger()
    view = plane.view
    vb = view.view

    def screen(row, col):  # pixel centre (row, col) -> viewport position
        row_sp, col_sp = plane.image.row_spacing, plane.image.col_spacing
        p = vb.mapViewToScene(QtCore.QPointF((col + 0.5) * col_sp, (row + 0.5) * row_sp))
        q = view.mapFromScene(p)
        return (q.x(), q.y())

    drag(qtbot, view, Qt.MouseButton.LeftButton, screen(10, 10), screen(10, 50), steps=6)
    (m,) = w.session.measurements.on(w.viewer.tools[plane.plane].key)
    (p0, p1) = m.points
    length = ((p1[1] - p0[1]) * 0.8) ** 2 + ((p1[0] - p0[0]) * 0.5) ** 2
    assert length**0.5 == pytest.approx(40 * 0.8, abs=0.8)  # 40 columns of 0.8 mm
    assert w.viewer.tools[plane.plane].labels()[0].endswith("mm")
    w.viewer.tools[plane.plane].selected = m.id
    w.actions["measure.delete"].trigger()
    assert w.session.measurements.on(w.viewer.tools[plane.plane].key) == []


def test_angle_drag_the_first_arm_then_click_the_second(known_spacing, qtbot):
    from tests.qt.mouse import E, send

    w, _ = known_spacing
    plane = w.viewer.primary
    tools = w.viewer.tools[plane.plane]
    w.actions["measure.angle"].trigger()
    view = plane.view

    def screen(row, col):
        row_sp, col_sp = plane.image.row_spacing, plane.image.col_spacing
        p = view.view.mapViewToScene(QtCore.QPointF(col * col_sp, row * row_sp))
        q = view.mapFromScene(p)
        return (q.x(), q.y())

    # first arm: 20 columns (16 mm) to the vertex; second: 32 rows (16 mm) down from it
    drag(qtbot, view, Qt.MouseButton.LeftButton, screen(4, 40), screen(4, 20), steps=6)
    assert w.session.measurements.on(tools.key) == []  # waiting for the second arm
    hover(qtbot, view, screen(36, 20))
    assert tools._preview is not None  # the second arm follows the mouse
    qtbot.keyClick(view, Qt.Key.Key_Escape)  # Esc drops it
    assert tools._preview is None
    hover(qtbot, view, screen(30, 30))
    assert tools._preview is None
    drag(qtbot, view, Qt.MouseButton.LeftButton, screen(4, 40), screen(4, 20), steps=6)
    hover(qtbot, view, screen(36, 20))
    for kind in (E.MouseButtonPress, E.MouseButtonRelease):
        button = Qt.MouseButton.LeftButton
        send(view, kind, screen(36, 20), button, button if kind == E.MouseButtonPress else NB)
    (m,) = w.session.measurements.on(tools.key)
    assert m.kind == "angle"
    (label,) = tools.labels()
    assert float(label.rstrip("°")) == pytest.approx(90.0, abs=2.5)  # in mm, not pixels
    assert label.endswith("°")
    # drag the end of the second arm sideways: the angle follows
    w.session.measurements.update(m.id, (m.points[0], m.points[1], (24.0, 30.0)))
    tools.sync()
    # second arm 20 rows (10 mm) down, 10 columns (8 mm) across; the first arm as the mouse
    # drew it (nearly along the columns; how nearly depends on the view's size)
    (r0, c0), (rv, cv) = m.points[0], m.points[1]
    a = np.array([(r0 - rv) * 0.5, (c0 - cv) * 0.8])
    b = np.array([(24.0 - rv) * 0.5, (30.0 - cv) * 0.8])
    expected = math.degrees(math.acos(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
    assert expected == pytest.approx(math.degrees(math.atan2(10, 8)), abs=1.0)
    (label,) = tools.labels()
    assert label == f"{expected:.1f}°"
    w.actions["measure.angle"].trigger()  # off again
    assert tools.tool is None


def test_measurement_labels_never_lie_on_top_of_each_other(known_spacing, qtbot):
    w, _ = known_spacing
    tools = w.viewer.tools[w.viewer.primary_plane]
    # three shapes sharing their top right corner: their labels would start at one point
    w.session.measurements.add(tools.key, "rect", ((8.0, 18.0), (22.0, 42.0)))
    w.session.measurements.add(tools.key, "ellipse", ((8.0, 18.0), (30.0, 42.0)))
    w.session.measurements.add(tools.key, "ruler", ((8.0, 42.0), (30.0, 18.0)))
    tools.sync()
    qtbot.wait(50)
    rects = [label.mapRectToParent(label.boundingRect()) for _, label in tools._items.values()]
    assert len(rects) == 3
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not a.intersects(b), (a, b)


def test_roi_statistics_match_numpy(known_spacing):
    w, values = known_spacing
    tools = w.viewer.tools[w.viewer.primary_plane]
    m = w.session.measurements.add(tools.key, "rect", ((8.0, 18.0), (22.0, 42.0)))
    tools.sync()
    inside = values[8:22, 18:42].astype(float)
    stats = roi_stats(values, "rect", (8.0, 18.0), (22.0, 42.0), 0.5, 0.8)
    assert stats.mean == pytest.approx(inside.mean()) and stats.max == 400
    assert stats.area_mm2 == pytest.approx(inside.size * 0.5 * 0.8)
    (text,) = tools.labels()
    assert f"{inside.mean():.1f}" in text and "HU" in text
    assert w.session.measurements.find(m.id).kind == "rect"


def test_cursor_probe_reports_value_and_position(known_spacing, qtbot):
    w, values = known_spacing
    plane = w.viewer.primary
    vb = plane.view.view
    p = vb.mapViewToScene(QtCore.QPointF((30 + 0.5) * 0.8, (15 + 0.5) * 0.5))
    q = plane.view.mapFromScene(p)
    hover(qtbot, plane.view, (q.x(), q.y()))
    qtbot.waitUntil(lambda: w.cursor_label.text().startswith("400 HU"), timeout=2000)
    assert "mm" in w.cursor_label.text()


def test_without_pixel_spacing_nothing_claims_millimetres(tmp_path, qtbot):
    import pydicom

    hu = np.zeros((5, 40, 60), dtype=np.int16)
    hu[:, 15, 30] = 400
    write_series(tmp_path, hu=hu, spacing=(2.0, 0.5, 0.8), shuffle=False)
    for path in tmp_path.iterdir():
        ds = pydicom.dcmread(path)
        del ds.PixelSpacing
        ds.save_as(path)
    w = open_window(qtbot, [str(tmp_path)])
    plane = w.viewer.primary
    tools = w.viewer.tools[plane.plane]
    w.session.measurements.add(tools.key, "ruler", ((10.0, 10.0), (10.0, 50.0)))
    w.session.measurements.add(tools.key, "rect", ((8.0, 18.0), (22.0, 42.0)))
    tools.sync()
    ruler, rect = sorted(tools.labels(), key=len)
    assert ruler == "40.0 px"  # 40 columns; not 40 x 0.8 mm, nor "40.0 mm"
    assert rect.endswith("area 336.0 px²") and "mm" not in rect
    assert plane.view.scale_bar_mm == 0  # no scale bar
    assert "pixel size unknown" in w.session.status_text() and " mm" not in w.session.status_text()
    vb = plane.view.view
    sp = plane.image.row_spacing, plane.image.col_spacing
    q = plane.view.mapFromScene(vb.mapViewToScene(QtCore.QPointF(30.5 * sp[1], 15.5 * sp[0])))
    hover(qtbot, plane.view, (q.x(), q.y()))
    qtbot.waitUntil(lambda: w.cursor_label.text().startswith("400 HU"), timeout=2000)
    assert "pixel (30, 15), no Pixel Spacing" in w.cursor_label.text()
    assert "mm" not in w.cursor_label.text()


def test_the_tag_browser_follows_the_slice_shown(window, qtbot):
    import pydicom

    w = window
    w.slider.setValue(10)
    w.actions["tools.tag_browser"].trigger()
    browser = w.tag_browser
    qtbot.waitUntil(lambda: browser.visible_rows() > 0, timeout=10_000)

    def instance_number() -> int:
        return int(pydicom.dcmread(browser.path, stop_before_pixels=True).InstanceNumber)

    first = browser.path
    assert first == w.session.volume.series.slices[10].path
    browser.set_query("InstanceNumber")
    w.slider.setValue(60)  # scrolling: the tags follow once it stops
    qtbot.waitUntil(lambda: browser.path != first, timeout=5000)
    assert browser.path == w.session.volume.series.slices[60].path
    qtbot.waitUntil(lambda: browser.visible_rows() > 0, timeout=10_000)
    assert browser.query() == "InstanceNumber"  # the search stays
    shown = [n.value for n in browser.shown_nodes() if n.keyword == "InstanceNumber"]
    assert shown == [str(instance_number())]
    browser.close()
    w.slider.setValue(20)  # closed: no reading
    qtbot.wait(400)
    assert browser.path == w.session.volume.series.slices[60].path


def test_a_reloaded_series_says_its_warnings_afresh(qtbot, tmp_path):
    # as files arrive from the network the series is reloaded: a gap that has since been
    # filled must not still be reported
    from medviewer.jobs import run_job

    full = write_series(tmp_path / "all", n_slices=8, rows=16, cols=16, shuffle=False)
    folder = tmp_path / "arriving"
    folder.mkdir()
    for k in (0, 1, 2, 6, 7):  # slices 3-5 not here yet: a gap
        (folder / f"{k}.dcm").write_bytes(open(full.paths[k], "rb").read())
    w = open_window(qtbot, [str(folder)])

    def texts():
        return [w.messages.item(i).text() for i in range(w.messages.count())]

    assert sum("not equally spaced" in t for t in texts()) == 1
    key = w.session.series.key
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        w.load_series(key)  # the same series again: said once, not twice
    assert sum("not equally spaced" in t for t in texts()) == 1
    for k in (3, 4, 5):
        (folder / f"{k}.dcm").write_bytes(open(full.paths[k], "rb").read())
    run_job(w.session.open_iter([str(folder)]))  # what the live rescan does
    w.browser.set_scan_result(w.session.scan_result)
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        w.load_series(key)
    assert w.session.volume.array.shape[0] == 8
    assert not any("not equally spaced" in t for t in texts())


def test_png_export_with_and_without_overlays(window, tmp_path):
    with_text = window.export_png(str(tmp_path / "with.png"), overlays=True)
    without = window.export_png(str(tmp_path / "without.png"), overlays=False)
    a, b = QtGui.QImage(with_text), QtGui.QImage(without)
    assert not a.isNull() and a.size() == b.size()
    assert a != b  # the text overlays are burnt into one only
    assert window.viewer.overlays_visible  # restored after the export


def test_nifti_export_runs_in_background(window, qtbot, tmp_path, sample_volume):
    import SimpleITK as sitk

    target = str(tmp_path / "series.nii.gz")
    window.export_nifti(target)
    qtbot.waitUntil(lambda: getattr(window, "exported", None) == target, timeout=20_000)
    image = sitk.ReadImage(target)
    assert np.array_equal(sitk.GetArrayFromImage(image), sample_volume.array)


def test_deidentified_display_hides_patient(window):
    view = window.viewer.primary.view
    assert "Anonymous, Cranium" in view.corner_lines("top_left")
    window.actions["view.deidentify"].trigger()
    assert "Anonymous, Cranium" not in view.corner_lines("top_left")
    assert "MV-SAMPLE-0001" not in " ".join(view.corner_lines("top_left"))


def test_cancel_during_loading_keeps_the_window_usable(qtbot, tmp_path):
    write_series(tmp_path, n_slices=120, rows=128, cols=128)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.open_paths([str(tmp_path)])
    qtbot.waitUntil(lambda: w.cancel_button.isVisible(), timeout=5000)
    w.cancel_button.click()
    assert not w.progress.isVisible()
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        w.open_paths([str(sample_study_dir())])
    assert w.session.volume.array.shape == (108, 256, 256)


def test_empty_folder_and_non_dicom_files_give_a_message_not_a_crash(qtbot, tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.open_paths([str(tmp_path)])
    qtbot.waitUntil(lambda: w.messages.count() >= 2, timeout=10_000)
    texts = [w.messages.item(i).text() for i in range(w.messages.count())]
    assert any("notes.txt" in t and "not a DICOM file" in t for t in texts)
    assert any(
        f"No DICOM image series found in {tmp_path}: of its 1 file(s): 1 not DICOM." in t
        for t in texts
    )
    assert w.messages_dock.isVisible()


@pytest.mark.parametrize("bad", ["empty", "missing", "text"])
def test_opening_a_folder_without_images_keeps_the_study_that_was_open(qtbot, tmp_path, bad):
    # RadiAnt and Horos say "no DICOM files found" and leave the open study as it was:
    # the series list, the image, the patient's identity and the window title stay.
    w = open_window(qtbot, [str(sample_study_dir())])
    w.slider.setValue(40)
    series_before = w.browser.series_keys()
    title = w.windowTitle()
    view = w.viewer.primary.view

    def corners():
        return [view.corner_lines(c) for c in ("top_left", "top_right", "bottom_left")]

    before = corners()
    assert any("Im 41/108" in line for line in before[2])
    folder = tmp_path / bad
    if bad != "missing":
        folder.mkdir()
    if bad == "text":
        (folder / "notes.txt").write_text("not an image")
    w.open_paths([str(folder)])
    qtbot.waitUntil(lambda: not w.progress.isVisible() and w.messages.count() >= 1, timeout=10_000)
    texts = [w.messages.item(i).text() for i in range(w.messages.count())]
    detail = {
        "empty": "it holds no files",
        "missing": "1 unreadable or missing",
        "text": "1 not DICOM",
    }[bad]
    (error,) = [t for t in texts if t.startswith("No DICOM image series found")]
    assert f"in {folder}: " in error and detail in error
    assert "The study that was open" in error and "stays open" in error
    assert w.browser.series_keys() == series_before
    assert w.session.volume.array.shape == (108, 256, 256) and w.viewer.primary.index == 40
    assert w.windowTitle() == title and corners() == before
    assert w.opened_paths == [str(sample_study_dir())]
    assert str(folder) not in w.settings.recent


def test_settings_persist_between_sessions(qtbot, tmp_path):
    w = open_window(qtbot, [str(sample_study_dir())])
    w.actions["view.layout"].trigger()
    w.actions["view.overlays"].trigger()
    w.close()
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.viewer.layout_name == "1x3"
    assert not again.viewer.overlays_visible
    assert again.settings.recent[0].endswith("cranium-ct")


def test_custom_window_preset_is_saved_and_offered_again(window, qtbot):
    from medviewer.dicom import Window

    window.viewer.set_window(Window(55, 120, "Custom"))
    window.save_window_preset("Posterior fossa")
    names = [window.window_box.itemText(i) for i in range(window.window_box.count())]
    assert any(n.startswith("Posterior fossa 55/120") for n in names)
    menu_texts = [a.text() for a in window.window_menu.actions()]
    assert any(t.startswith("Posterior fossa 55/120") for t in menu_texts)
    window.close()  # settings are written on close
    again = open_window(qtbot, [str(sample_study_dir())])
    names = [again.window_box.itemText(i) for i in range(again.window_box.count())]
    assert any(n.startswith("Posterior fossa 55/120") for n in names)


def _cancel_every_dialog(monkeypatch):
    """File, input and message boxes answer Cancel / No; modal dialogs close at once."""
    from PySide6 import QtWidgets

    fd, box = QtWidgets.QFileDialog, QtWidgets.QMessageBox
    for name in ("getSaveFileName", "getOpenFileName"):
        monkeypatch.setattr(fd, name, staticmethod(lambda *a, **k: ("", "")))
    monkeypatch.setattr(fd, "getOpenFileNames", staticmethod(lambda *a, **k: ([], "")))
    monkeypatch.setattr(fd, "getExistingDirectory", staticmethod(lambda *a, **k: ""))
    for name in ("getText", "getItem"):
        monkeypatch.setattr(QtWidgets.QInputDialog, name, staticmethod(lambda *a, **k: ("", False)))
    for name in ("question", "warning", "information", "critical"):
        monkeypatch.setattr(box, name, staticmethod(lambda *a, **k: box.StandardButton.No))
    monkeypatch.setattr(QtWidgets.QDialog, "exec", lambda self: 0)


def test_every_menu_action_runs_from_its_menu_entry(window, qtbot, monkeypatch, tmp_path):
    """A menu click passes ``checked`` to its slot: no slot may take it for an argument
    (export_png(path=False) once failed on every click)."""
    from PySide6 import QtWidgets

    _cancel_every_dialog(monkeypatch)
    skip = {"file.quit", "ai.run", "ai.finetune"}  # quits; heavy (tested in tests/qt/test_ai*)
    for action_id, action in window.actions.items():
        if not action.isCheckable() and action_id not in skip:
            action.trigger()  # an exception in the slot fails the test (pytest-qt)
    for widget in QtWidgets.QApplication.topLevelWidgets():
        if isinstance(widget, QtWidgets.QDialog):
            widget.close()
    # and the two exports write their files when a file is chosen
    png, nii = str(tmp_path / "view.png"), str(tmp_path / "series.nii.gz")
    monkeypatch.setattr(
        QtWidgets.QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (png, ""))
    )
    window.actions["file.export_png"].trigger()
    assert not QtGui.QImage(png).isNull()
    monkeypatch.setattr(
        QtWidgets.QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (nii, ""))
    )
    window.actions["file.export_nifti"].trigger()
    qtbot.waitUntil(lambda: getattr(window, "exported", None) == nii, timeout=20_000)


def test_a_chest_film_gets_its_own_letters_and_mpr_is_refused_with_the_reason(qtbot):
    from pydicom.data import get_testdata_file

    w = open_window(qtbot, [get_testdata_file("RG1_UNCR.dcm")])
    view = w.viewer.primary.view
    assert view.orientation_labels() == {"left": "R", "right": "L", "top": "H", "bottom": "F"}
    assert not any(t.startswith("Pos") for t in view.corner_lines("bottom_left"))
    w.actions["view.layout"].trigger()  # MPR: three planes
    assert w.viewer.visible_views() == [w.viewer.primary]
    assert not w.viewer.views["coronal"].isVisible()
    texts = [w.messages.item(i).text() for i in range(w.messages.count())]
    assert any("No MPR for this series" in t and "Image Position" in t for t in texts)


def test_view_actions_without_a_study_say_so(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.ai._warm_timer.timeout.disconnect()
    w.show()
    actions = ("window.auto", "view.fit", "file.export_png", "file.export_nifti", "view.invert")
    for action_id in (*actions, "ai.run"):  # (label keys are greyed out without a series)
        w.statusBar().clearMessage()
        w.actions[action_id].trigger()
        assert w.statusBar().currentMessage().startswith("Open a study first"), action_id
    assert not w.actions["view.invert"].isChecked()
    w.statusBar().clearMessage()
    w.actions["ai.toggle_heatmap"].trigger()
    assert not w.actions["ai.toggle_heatmap"].isChecked() and not w.ai_panel.heatmap_on
    assert "Open a study first" in w.statusBar().currentMessage()


def test_about_says_what_the_app_is_which_model_and_where_data_lives(qtbot):
    import sys

    w = MainWindow()
    qtbot.addWidget(w)
    w.ai._warm_timer.timeout.disconnect()
    had_torch = "torch" in sys.modules
    text = w.about_html()
    assert "research use only, not for" in text and "medviewer 0.1.0" in text
    assert "Model in use" in text and "Settings" in text and "GPL-2" in text
    if not had_torch:
        assert "torch (not loaded yet)" in text and "torch" not in sys.modules


def test_the_empty_window_says_how_to_open_a_study_and_shows_no_placeholders(qtbot):
    from medviewer.qt.main_window import EMPTY_VIEW_LINES

    w = MainWindow()
    qtbot.addWidget(w)
    w.ai._warm_timer.timeout.disconnect()
    w.show()
    qtbot.waitExposed(w)
    assert w.viewer.primary.view.corner_lines("top_left") == EMPTY_VIEW_LINES
    assert not w.labeling_panel.strip.isVisible()  # no strip without a series
    assert w.ai_panel.model_group.progress.text() == ""  # not "0%"
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        w.open_paths([str(sample_study_dir())])
    assert "No study open" not in w.viewer.primary.view.corner_lines("top_left")
    assert w.labeling_panel.strip.isVisible()


def test_a_damaged_settings_file_is_still_told_after_a_study_opens(qtbot):
    from medviewer.settings import settings_path

    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"cine_fps": "fast"}')
    w = open_window(qtbot, [str(sample_study_dir())])
    texts = [w.messages.item(i).text() for i in range(w.messages.count())]
    assert any("cine_fps" in t and ".bad" in t for t in texts), texts
    assert w.messages_dock.isVisible()
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):  # and after the next one
        w.open_paths([str(sample_study_dir())])
    assert any("cine_fps" in w.messages.item(i).text() for i in range(w.messages.count()))
