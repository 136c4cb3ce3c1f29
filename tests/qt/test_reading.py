"""Reading like a radiologist, in the window: grids, drag and drop, linked scrolling, the "no
slice" notice, different patients, reference lines, slabs, compare with prior, hanging
protocols and their settings.

One synthetic patient has a current head CT (2.5 mm) with a second series of the same frame
of reference (5 mm), and a prior study in another frame, shifted; a second patient has one
series. Everything runs in the real main window, offscreen.
"""

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.dicom import Window
from medviewer.qt.main_window import MainWindow
from medviewer.qt.reading import protocols
from medviewer.qt.reading.area import ACTIVE_COLOUR
from medviewer.qt.reading.drop import key_from_mime, series_mime
from medviewer.qt.reading.menus import viewport_menu
from medviewer.session import hanging, mpr
from medviewer.settings import Settings, load_settings
from medviewer.testing.synthetic import write_series

from .mouse import send

Qt = QtCore.Qt
E = QtCore.QEvent.Type


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    root = tmp_path_factory.mktemp("reading")
    common = dict(rows=48, cols=48, body_part="HEAD", patient_id="P1")
    current = dict(common, study_uid="1.2.826.0.1.3680043.8.498.101", study_date="20260301")
    frame = "1.2.826.0.1.3680043.8.498.201"
    cur = write_series(
        root / "cur",
        n_slices=24,
        spacing=(2.5, 0.8, 0.8),
        origin=(-20.0, -20.0, -40.0),
        frame_of_reference_uid=frame,
        series_description="Head axial",
        seed=1,
        **current,
    )
    thick = write_series(
        root / "thick",
        n_slices=10,
        spacing=(5.0, 0.8, 0.8),
        origin=(-20.0, -20.0, -37.5),
        frame_of_reference_uid=frame,
        series_description="Head thick",
        series_number=2,
        seed=2,
        **current,
    )
    prior = write_series(
        root / "prior",
        n_slices=20,
        spacing=(2.5, 0.8, 0.8),
        origin=(-14.0, -18.0, -30.0),
        frame_of_reference_uid="1.2.826.0.1.3680043.8.498.202",
        study_uid="1.2.826.0.1.3680043.8.498.102",
        study_date="20250301",
        series_description="Head axial",
        seed=3,
        **common,
    )
    other = write_series(
        root / "other",
        n_slices=12,
        rows=48,
        cols=48,
        body_part="HEAD",
        patient_id="P2",
        study_date="20260301",
        series_description="Head axial",
        seed=4,
    )
    return SimpleNamespace(root=root, cur=cur, thick=thick, prior=prior, other=other)


def open_window(qtbot, root, settings=None):
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        w.open_paths([str(root)])
    return w


@pytest.fixture
def window(qtbot, series):
    w = open_window(qtbot, series.root)
    assert w.session.series.series_uid == series.cur.series_uid
    return w


def key_of(w, synthetic) -> str:
    return w.session.scan_result.find_series(synthetic.series_uid).key


def wait_loaded(qtbot, vp):
    qtbot.waitUntil(lambda: vp.volume is not None and not vp.loading, timeout=30_000)
    return vp


def load_into(qtbot, w, n, synthetic):
    if w.reading.count() <= n:
        w.reading.set_grid("1x2" if n == 1 else "2x2")
    w.reading.assign(n, key_of(w, synthetic))
    return wait_loaded(qtbot, w.reading.viewports[n - 1])


def messages(w) -> list[str]:
    return [w.messages.item(i).text() for i in range(w.messages.count())]


def corner(view, where="bottom_left") -> str:
    return " | ".join(view.view.corner_lines(where))


def drop_on(widget, key: str) -> bool:
    """Drag series ``key`` onto ``widget`` and drop it there (Qt delivers a drop only to the
    widget that accepted the drag); True when both were accepted."""
    accepted = []
    mime = series_mime(key)  # kept alive: the events only point at it
    for kind in (QtGui.QDragEnterEvent, QtGui.QDropEvent):
        point = QtCore.QPoint(20, 20) if kind is QtGui.QDragEnterEvent else QtCore.QPointF(20, 20)
        event = kind(
            point,
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QtWidgets.QApplication.sendEvent(widget, event)
        accepted.append(bool(event.isAccepted()))
    return all(accepted)


def nearest_ok(z_dst, m, z):
    """Plane ``m`` is the nearest to position ``z`` (ties either way) and within 2.5 mm."""
    d = np.abs(z_dst - z)
    return d[m] <= d.min() + 1e-6 and d[m] <= 2.5 + 1e-6


def test_grid_switching_keeps_assignments(window, qtbot, series):
    w = window
    w.actions["reading.grid_2x2"].trigger()
    assert w.reading.grid_name == "2x2" and w.reading.count() == 4
    assert all(not cell.isHidden() for cell in w.reading.cells)
    vp = load_into(qtbot, w, 1, series.thick)
    w.actions["reading.grid_1x2"].trigger()
    assert w.actions["reading.grid_1x2"].isChecked()
    state = w.reading.layout_state
    assert [v.series_key for v in state.viewports] == [
        key_of(w, series.cur),
        key_of(w, series.thick),
    ]
    assert vp.volume.series.series_uid == series.thick.series_uid
    assert not vp.isHidden() and w.reading.cells[2].isHidden()
    w.actions["reading.grid_1x1"].trigger()
    assert len(state.viewports) == 1 and vp.volume is None
    assert w.session.volume is not None and not w.viewer.isHidden()
    w.actions["reading.grid_1x2"].trigger()
    assert state.viewports[1].series_key is None


def test_drop_and_menu_load_a_series_on_a_worker(window, qtbot, series):
    w = window
    key = key_of(w, series.thick)
    item = w.browser.item_for(key)
    assert key_from_mime(w.browser.tree.mimeData([item])) == key  # the browser drags the key
    w.reading.set_grid("1x2")
    vp = w.reading.viewports[0]
    assert drop_on(vp.hint, key)
    assert vp.loading  # the drop returned at once; the series loads on a worker
    wait_loaded(qtbot, vp)
    assert vp.volume.series.series_uid == series.thick.series_uid
    assert np.array_equal(vp.volume.array, series.thick.values)
    assert np.array_equal(vp.plane_view.view.image.image, vp.volume.array[vp.plane_view.index])

    menu = viewport_menu(w.reading, 1)  # right-click: the open scan's series
    series_menu = menu.actions()[0].menu()
    texts = [a.text() for a in series_menu.actions()]
    assert len(texts) == 4 and sum("Head thick" in t for t in texts) == 1
    assert [a.isChecked() for a in series_menu.actions()].count(True) == 1
    prior_action = next(a for a in series_menu.actions() if a.text().startswith("2025-03-01"))
    prior_action.trigger()
    wait_loaded(qtbot, vp)
    assert vp.volume.series.series_uid == series.prior.series_uid

    # onto viewport 0: the window's own load of the primary series
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        assert drop_on(w.viewer.primary.view.viewport(), key)
    assert w.session.series.series_uid == series.thick.series_uid


def test_scrolling_the_active_viewport_moves_the_linked_one(window, qtbot, series):
    w = window
    vp = load_into(qtbot, w, 1, series.thick)
    w.reading.set_active(0)
    primary = w.viewer.primary
    z_cur, z_thick = series.cur.positions[:, 2], series.thick.positions[:, 2]
    for k in (0, 3, 8, 15, 18):
        primary.set_index(k)
        m = vp.plane_view.index
        assert not vp.plane_view.blank
        assert nearest_ok(z_thick, m, z_cur[k]), (k, m)
        assert np.array_equal(vp.plane_view.view.image.image, vp.volume.array[m])
    qtbot.keyClick(primary.view, Qt.Key.Key_Up)
    assert primary.index == 17 and nearest_ok(z_thick, vp.plane_view.index, z_cur[17])
    # the other way round: scrolling viewport 2 makes it the active one, viewport 1 follows
    qtbot.keyClick(vp.plane_view.view, Qt.Key.Key_Home)
    assert w.reading.active == 1 and vp.plane_view.index == 0
    assert nearest_ok(z_cur, primary.index, z_thick[0])
    # the slider follows and drives the active viewport, as the keys do
    assert w.slider.value() == vp.plane_view.index and w.slider.maximum() == 9
    w.slider.setValue(5)
    assert vp.plane_view.index == 5 and nearest_ok(z_cur, primary.index, z_thick[5])
    w.reading.set_active(0)
    assert w.slider.value() == primary.index and w.slider.maximum() == 23


def test_no_slice_there_shows_a_notice_not_a_wrong_slice(window, qtbot, series):
    w = window
    vp = load_into(qtbot, w, 1, series.thick)
    w.reading.set_active(0)
    w.viewer.primary.set_index(23)  # 17.5 mm: the 5 mm series ends at 7.5 mm
    assert vp.plane_view.blank and not vp.plane_view.view.image.isVisible()
    assert "no slice within half a slice thickness" in corner(vp.plane_view)
    assert "Im " not in corner(vp.plane_view) and "Pos " not in corner(vp.plane_view)
    w.viewer.primary.set_index(10)
    assert not vp.plane_view.blank and vp.plane_view.view.image.isVisible()
    assert "no slice" not in corner(vp.plane_view) and "Im " in corner(vp.plane_view)


def test_linking_two_patients_is_refused_with_the_reason_once(window, qtbot, series):
    w = window
    vp = load_into(qtbot, w, 1, series.other)
    w.reading.set_active(0)
    before = vp.plane_view.index
    for k in (4, 9, 14):
        w.viewer.primary.set_index(k)
    assert vp.plane_view.index == before
    refused = [m for m in messages(w) if "different patients" in m]
    assert len(refused) == 1 and "linking refused" in refused[0]
    assert vp.plane_view.reference_line_mm() is None


def test_reference_line_shows_where_the_active_slice_cuts(window, qtbot, series):
    w = window
    w.reading.set_grid("1x2")
    w.reading.set_plane(1, "coronal")
    vp = load_into(qtbot, w, 1, series.cur)
    assert vp.plane_view.plane == "coronal"
    w.reading.set_active(0)
    volume = w.session.volume
    img = vp.plane_view.image
    for k in (7, 12):
        w.viewer.primary.set_index(k)
        (x0, y0), (x1, y1) = vp.plane_view.reference_line_mm()
        _, row, _ = mpr.from_index(volume, "coronal", (k, 0, 0))
        expected = (row + 0.5) * img.row_spacing
        assert y0 == pytest.approx(expected, abs=1e-6) and y1 == pytest.approx(expected, abs=1e-6)
        assert sorted((x0, x1)) == pytest.approx([0.0, img.shape[1] * img.col_spacing])
    assert w.viewer.primary.reference_line_mm() is None  # none in the active viewport


def test_slab_draws_the_maximum_over_the_slab(window, qtbot, series):
    w = window
    primary = w.viewer.primary
    primary.set_index(10)
    w.slab_spin.setValue(10.0)
    w.slab_box.setCurrentIndex(w.slab_box.findData("mip"))
    array = w.session.volume.array
    assert np.array_equal(primary.view.image.image, array[8:13].max(axis=0))
    assert "MIP 10 mm (5 slices)" in corner(primary)
    primary.set_index(0)  # clipped to the series
    assert np.array_equal(primary.view.image.image, array[0:3].max(axis=0))
    assert "(3 slices)" in corner(primary)
    w.actions["reading.slab_thicker"].trigger()  # Shift+T: 12 mm, still 3 slices at the edge
    assert w.slab_spin.value() == 12.0 and "MIP 12 mm (3 slices)" in corner(primary)
    w.actions["reading.slab_thinner"].trigger()
    w.actions["reading.slab_mode"].trigger()  # MinIP
    assert np.array_equal(primary.view.image.image, array[0:3].min(axis=0))
    w.actions["reading.slab_mode"].trigger()  # average
    assert np.allclose(primary.view.image.image, array[0:3].mean(axis=0, dtype=np.float32))
    w.actions["reading.slab_mode"].trigger()  # off
    assert np.array_equal(primary.view.image.image, array[0]) and "MIP" not in corner(primary)

    vp = load_into(qtbot, w, 1, series.thick)  # each viewport has its own slab
    w.reading.set_active(1)
    assert w.slab_box.currentData() == "off"
    w.slab_box.setCurrentIndex(w.slab_box.findData("mip"))
    m = vp.plane_view.index
    lo, hi = max(m - 1, 0), min(m + 2, 10)
    assert np.array_equal(vp.plane_view.view.image.image, vp.volume.array[lo:hi].max(axis=0))
    w.reading.set_active(0)
    assert w.slab_box.currentData() == "off"


def test_compare_with_prior_links_by_a_manual_offset(window, qtbot, series):
    w = window
    menu = w.browser.tree.series_menu(key_of(w, series.cur))  # the series' context menu
    # (the AI dock adds "Send series to node" after it)
    assert [a.text() for a in menu.actions()][0] == "Compare with &prior"
    menu.actions()[0].trigger()
    assert w.reading.grid_name == "1x2" and w.actions["reading.grid_1x2"].isChecked()
    vp = wait_loaded(qtbot, w.reading.viewports[0])
    assert vp.volume.series.series_uid == series.prior.series_uid
    assert any("another frame of reference" in m and "Shift+O" in m for m in messages(w))
    assert "not linked" in corner(vp.plane_view)
    # align by eye: the prior's slice 8 shows what current slice 10 shows (5 mm apart)
    vp.plane_view.set_index(8)
    w.reading.set_active(0)
    w.viewer.primary.set_index(10)
    assert vp.plane_view.index == 8  # not linked yet: it stays
    # another plane in viewport 2: nothing linked, and it says why
    w.reading.set_plane(1, "coronal")
    w.actions["reading.link_here"].trigger()
    assert not w.reading.layout_state.offsets
    assert any(m.startswith("Not linked: viewport 2 shows the coronal plane") for m in messages(w))
    w.reading.set_plane(1, "axial")
    vp.plane_view.set_index(8)
    w.actions["reading.link_here"].trigger()
    assert len(w.reading.layout_state.offsets) == 1
    w.viewer.primary.set_index(14)
    assert vp.plane_view.index == 12 and "not linked" not in corner(vp.plane_view)
    w.viewer.primary.set_index(5)
    assert vp.plane_view.index == 3
    w.save_settings()
    assert load_settings()[0].link_offsets == w.reading.layout_state.offsets


def test_compare_action_for_the_primary_series(window, qtbot, series):
    w = window
    w.actions["reading.compare_prior"].trigger()
    vp = wait_loaded(qtbot, w.reading.viewports[0])
    assert vp.volume.series.series_uid == series.prior.series_uid
    w.reading.assign(0, key_of(w, series.prior))  # the prior has no prior
    qtbot.waitUntil(lambda: w.session.series.series_uid == series.prior.series_uid)
    w.actions["reading.compare_prior"].trigger()
    assert any(m.startswith("No prior to compare with") for m in messages(w))


def test_hanging_protocol_saved_then_applied_on_reopening(window, qtbot, series):
    w = window
    load_into(qtbot, w, 1, series.thick)
    bone = next(
        i for i in range(w.window_box.count()) if w.window_box.itemText(i).startswith("Bone")
    )
    w.window_box.setCurrentIndex(bone)  # the primary in the bone window
    assert w.session.window.name == "Bone"
    saved = protocols.save_hanging_layout(w, "Head two series")
    assert saved is not None and hanging.layouts_path().is_file()
    assert saved.modality == "CT" and saved.body_part == "HEAD"
    w.close()

    again = open_window(qtbot, series.root, settings=Settings())  # grid 1x1 in the settings
    assert again.reading.grid_name == "1x2"
    vp = wait_loaded(qtbot, again.reading.viewports[0])
    assert vp.volume.series.series_uid == series.thick.series_uid
    assert again.session.series.series_uid == series.cur.series_uid
    assert any("'Head two series' applied" in m for m in messages(again))
    # the window comes back under its name, not as "Custom 500/2500"
    assert again.window_box.currentText().startswith("Bone ")


@pytest.mark.parametrize(
    "content, says",
    [
        ("{not json", "damaged"),
        ('{"format": "medviewer-hanging-layouts", "version": 99, "layouts": []}', "newer"),
    ],
)
def test_bad_layouts_file_gives_a_message(qtbot, series, content, says):
    path = hanging.layouts_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    w = open_window(qtbot, series.root)
    assert any("hanging layouts file" in m and says in m for m in messages(w))
    assert w.session.volume is not None and w.reading.grid_name == "1x1"


def test_grid_and_link_toggles_round_trip_through_settings(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.actions["reading.grid_2x2"].trigger()
    w.actions["reading.link_scroll"].trigger()  # off
    w.actions["reading.link_window"].trigger()  # on
    w.save_settings()
    settings, problems = load_settings()
    assert problems == []
    assert settings.viewport_grid == "2x2"
    assert (settings.link_scroll, settings.link_window, settings.link_zoom_pan) == (
        False,
        True,
        False,
    )
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    assert again.reading.grid_name == "2x2" and again.actions["reading.grid_2x2"].isChecked()
    assert not again.actions["reading.link_scroll"].isChecked()
    assert again.actions["reading.link_window"].isChecked()


def test_window_and_zoom_links(window, qtbot, series):
    w = window
    vp = load_into(qtbot, w, 1, series.thick)
    w.reading.set_active(0)
    w.viewer.set_window(Window(100.0, 400.0, "Custom"))
    assert vp.session.window != w.session.window  # not linked by default
    w.actions["reading.link_window"].trigger()
    w.viewer.set_window(Window(60.0, 300.0, "Custom"))
    assert vp.session.window == w.session.window
    assert tuple(np.asarray(vp.plane_view.view.image.levels, float)) == (-90.0, 210.0)
    w.actions["reading.link_zoom_pan"].trigger()
    w.viewer.primary.view.set_zoom(2.0)
    assert vp.plane_view.view.zoom == pytest.approx(2.0, rel=1e-3)


def test_click_makes_a_viewport_active_with_a_frame_and_the_keys(window, qtbot, series):
    w = window
    vp = load_into(qtbot, w, 1, series.thick)
    w.reading.set_active(0)
    assert ACTIVE_COLOUR in w.reading.cells[0].styleSheet()
    view = vp.plane_view.view
    centre = (view.width() / 2, view.height() / 2)
    send(view, E.MouseButtonPress, centre, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton)
    send(view, E.MouseButtonRelease, centre, Qt.MouseButton.LeftButton)
    assert w.reading.active == 1
    assert ACTIVE_COLOUR in w.reading.cells[1].styleSheet()
    assert ACTIVE_COLOUR not in w.reading.cells[0].styleSheet()
    start = vp.plane_view.index
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert vp.plane_view.index == start - 1
    z_cur, z_thick = series.cur.positions[:, 2], series.thick.positions[:, 2]
    assert nearest_ok(z_cur, w.viewer.primary.index, z_thick[start - 1])


def test_cine_plays_the_active_viewport(window, qtbot, series):
    w = window
    vp = load_into(qtbot, w, 1, series.prior)
    w.reading.set_active(1)
    start, primary_start = vp.plane_view.index, w.viewer.primary.index
    for _ in range(3):
        w.viewer._cine_step()  # a tick of the cine timer
    assert vp.plane_view.index == (start + 3) % vp.plane_view.count()
    assert w.viewer.primary.index == primary_start  # another frame: not linked, not moved
    w.reading.set_active(0)
    for _ in range(2):
        w.viewer._cine_step()
    assert w.viewer.primary.index == (primary_start + 2) % w.viewer.primary.count()


def test_nifti_export_writes_the_active_viewports_series(window, qtbot, series, tmp_path):
    import SimpleITK as sitk

    w = window
    vp = load_into(qtbot, w, 1, series.prior)
    w.reading.set_active(1)
    target = str(tmp_path / "active.nii.gz")
    w.export_nifti(target)
    qtbot.waitUntil(lambda: getattr(w, "exported", None) == target, timeout=20_000)
    written = sitk.GetArrayFromImage(sitk.ReadImage(target))
    assert np.array_equal(written, vp.volume.array)  # the prior, not viewport 1's series
    assert written.shape[0] == 20


def test_f6_moves_the_active_viewport_without_the_mouse(window, qtbot, series):
    w = window
    vp = load_into(qtbot, w, 1, series.prior)
    w.reading.set_active(0)
    w.actions["reading.next_viewport"].trigger()
    assert w.reading.active == 1
    start = vp.plane_view.index
    qtbot.keyClick(vp.plane_view.view, Qt.Key.Key_Up)  # the keys now scroll viewport 2
    assert vp.plane_view.index == start - 1
    w.actions["reading.next_viewport"].trigger()  # 1x2: round to viewport 1
    assert w.reading.active == 0
    w.actions["reading.previous_viewport"].trigger()
    assert w.reading.active == 1
    assert w.actions["reading.next_viewport"].shortcut().toString() == "F6"


def test_a_grid_exported_as_png_has_no_active_frame(window, qtbot, series, tmp_path):
    from PySide6 import QtGui

    w = window
    load_into(qtbot, w, 1, series.prior)
    w.reading.set_active(1)
    path = w.export_png(str(tmp_path / "grid.png"), overlays=False)
    img = QtGui.QImage(path).convertToFormat(QtGui.QImage.Format.Format_RGB888)
    orange = QtGui.QColor(ACTIVE_COLOUR)
    hits = sum(
        1
        for y in range(0, img.height(), 2)
        for x in range(0, img.width(), 2)
        if abs(img.pixelColor(x, y).red() - orange.red()) < 30
        and abs(img.pixelColor(x, y).green() - orange.green()) < 30
        and abs(img.pixelColor(x, y).blue() - orange.blue()) < 30
    )
    assert hits == 0
    assert ACTIVE_COLOUR in w.reading.cells[1].styleSheet()  # back on screen


def test_files_dragged_over_a_viewport_still_reach_the_window(window, tmp_path):
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(tmp_path))])
    enter = QtGui.QDragEnterEvent(
        QtCore.QPoint(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QtWidgets.QApplication.sendEvent(window.viewer.primary.view.viewport(), enter)
    assert bool(enter.isAccepted())  # the window's own drop (open a folder) takes it


def _shows_inverted(plane_view) -> bool:
    lut = plane_view.view.image.lut
    return lut is not None and int(np.asarray(lut)[0]) == 255


def test_invert_applies_to_the_active_viewport_and_the_button_follows(window, qtbot, series):
    w = window
    vp = load_into(qtbot, w, 1, series.thick)
    invert = w.actions["view.invert"]
    w.reading.set_active(1)
    invert.trigger()
    assert vp.session.inverted and _shows_inverted(vp.plane_view)
    assert not w.session.inverted and not _shows_inverted(w.viewer.primary)
    w.reading.set_active(0)
    assert not invert.isChecked()  # the button shows viewport 1's own choice
    w.reading.set_active(1)
    assert invert.isChecked()
    invert.trigger()
    assert not vp.session.inverted and not _shows_inverted(vp.plane_view)
    # with window / level linked it goes to the linked viewports of the same modality
    w.actions["reading.link_window"].trigger()
    invert.trigger()
    assert vp.session.inverted and w.session.inverted
    assert _shows_inverted(w.viewer.primary)


def test_hanging_protocols_dialog_loosens_a_rule_previews_saves_and_deletes(
    window, qtbot, series, monkeypatch
):
    from medviewer.qt.reading import protocols_dialog

    w = window
    load_into(qtbot, w, 1, series.thick)
    protocols.save_hanging_layout(w, "Head two series")
    w.reading.set_grid("1x1")
    protocols.save_hanging_layout(w, "Head one")
    dialog = protocols_dialog.show_dialog(w)
    qtbot.addWidget(dialog)
    assert dialog.list.count() == 2
    dialog.list.setCurrentRow(0)
    table = dialog.table
    assert table.item(1, 2).text() == "Head thick"  # saved from the screen: exact
    assert table.item(1, 5).text() == "#2 Head thick"  # what it takes in the open study
    table.item(1, 2).setText("*thin*")
    assert table.item(1, 5).text() == "nothing in the open study: left empty"
    table.item(1, 2).setText("head*")  # loosened: the first series not shown yet
    assert table.item(1, 5).text() == "#2 Head thick"
    table.item(1, 4).setCheckState(QtCore.Qt.CheckState.Checked)  # from the prior
    assert table.item(1, 5).text() == "#1 Head axial"
    table.item(1, 4).setCheckState(QtCore.Qt.CheckState.Unchecked)
    # bad input: refused with the reason, the file unchanged
    before = hanging.layouts_path().read_text()
    table.item(1, 2).setText("  ")
    assert not dialog.save() and "needs a series description pattern" in dialog.status.text()
    table.item(1, 2).setText("head*")
    dialog.name_edit.setText("HEAD ONE")
    assert not dialog.save() and "another protocol is named 'Head one'" in dialog.status.text()
    dialog.name_edit.setText("")
    assert not dialog.save() and "needs a name" in dialog.status.text()
    assert hanging.layouts_path().read_text() == before
    dialog.name_edit.setText("Head any two")
    table.cellWidget(1, 3).setCurrentText("coronal")
    assert dialog.save()
    layouts, problems = hanging.load_layouts()
    assert not problems and [hl.name for hl in layouts] == ["Head any two", "Head one"]
    rule = layouts[0].viewports[1].rule
    assert rule.description_pattern == "head*" and rule.plane == "coronal"
    assert layouts[0].viewports[0].rule.description_pattern == "Head axial"  # untouched
    # delete asks first
    answer = QtWidgets.QMessageBox.StandardButton
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: answer.No)
    dialog.list.setCurrentRow(1)
    assert not dialog.delete() and len(hanging.load_layouts()[0]) == 2
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *a, **k: answer.Yes)
    assert dialog.delete()
    assert [hl.name for hl in hanging.load_layouts()[0]] == ["Head any two"]
    assert dialog.list.count() == 1
    assert w.actions["reading.manage_hanging"].text() == "Hanging pro&tocols…"
