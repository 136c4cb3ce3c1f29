"""SliceView: millimetre geometry, reading-room mouse and keys, overlays, levels.

Mouse input is real: QMouseEvents sent to the viewport go through pyqtgraph's GraphicsScene,
which turns them into the drag / click events the ViewBox receives. pyqtgraph drops mouse
moves closer than 10 ms apart (``mouseRateLimit``), so the helpers wait between moves.
"""

import math

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from medviewer.dicom import Window
from medviewer.qt.slice_view import SliceView, nice_length

from .mouse import drag, hover, send, wheel

Qt = QtCore.Qt
E = QtCore.QEvent.Type
NB = Qt.MouseButton.NoButton
NOMOD = Qt.KeyboardModifier.NoModifier

ROWS, COLS = 100, 200
SPACING = (0.8, 0.5)  # rows 80 mm tall, columns 100 mm wide
W, H = 400, 300  # fitted: 3.75 px per mm, image from x = 12.5 to 387.5 px, y = 0 to 300 px


@pytest.fixture
def view(qtbot):
    v = SliceView()
    qtbot.addWidget(v)
    v.resize(W, H)
    v.show()
    qtbot.waitExposed(v)
    values = (np.arange(ROWS * COLS, dtype=np.int16) % 400 - 100).reshape(ROWS, COLS)
    v.set_slice(values, Window(40, 80), spacing=SPACING)
    qtbot.wait(1)
    return v


def record(signal):
    got = []
    signal.connect(lambda *args: got.append(args if len(args) > 1 else args[0]))
    return got


def scene_to_view(view, x, y):
    p = view.view.mapSceneToView(view.mapToScene(QtCore.QPoint(x, y)))
    return p.x(), p.y()


# -- geometry -----------------------------------------------------------------------------------
def test_pixels_are_placed_in_millimetres_with_true_aspect(view):
    vb = view.view
    assert vb.state["yInverted"] and vb.state["aspectLocked"] == 1.0
    rect = vb.mapFromItemToView(view.image, view.image.boundingRect()).boundingRect()
    assert rect.getRect() == pytest.approx((0.0, 0.0, COLS * SPACING[1], ROWS * SPACING[0]))
    # pixel (r, c) = (10, 20) covers x [10, 10.5) mm, y [8, 8.8) mm
    corner = vb.mapFromItemToView(view.image, QtCore.QPointF(20, 10))
    assert (corner.x(), corner.y()) == pytest.approx((20 * 0.5, 10 * 0.8))
    assert view.zoom == pytest.approx(1.0)
    assert view.pixels_per_mm() == pytest.approx(3.75)
    assert view.view_center() == pytest.approx((50.0, 40.0))


def test_cursor_reports_row_col_and_none_off_the_image(view, qtbot):
    got = record(view.cursor_moved)
    hover(qtbot, view, (200, 150))  # x (200 - 12.5) / 3.75 = 50 mm -> col 100; y 40 mm -> row 50
    assert got[-1] == pytest.approx((50.0, 100.0))
    hover(qtbot, view, (50, 33))  # x 37.5 px / 3.75 = 10 mm -> col 20; y 8.8 mm -> row 11
    assert got[-1] == pytest.approx((11.0, 20.0))
    hover(qtbot, view, (5, 150))  # left of the image (the letterbox)
    assert got[-1] is None
    hover(qtbot, view, (100, 100))
    assert got[-1] is not None
    QtWidgets.QApplication.sendEvent(view, QtCore.QEvent(E.Leave))
    assert got[-1] is None


# -- window / level -----------------------------------------------------------------------------
def test_left_drag_emits_window_and_leaves_levels_to_the_owner(view, qtbot):
    got = record(view.window_dragged)
    drag(qtbot, view, Qt.MouseButton.LeftButton, (200, 150), (300, 150))
    assert len(got) >= 3  # continuous, not only at the end
    widths = [w for _, w in got]
    assert widths == sorted(widths) and widths[-1] > 80 * 1.2
    assert all(c == pytest.approx(40.0) for c, _ in got)  # horizontal: center unchanged
    assert tuple(view.image.levels) == (0.0, 80.0)  # the view does not re-level itself

    got.clear()
    drag(qtbot, view, Qt.MouseButton.LeftButton, (200, 100), (200, 200))
    centers = [c for c, _ in got]
    assert centers[-1] > 40 + 10 and all(w == pytest.approx(80.0) for _, w in got)
    got.clear()
    drag(qtbot, view, Qt.MouseButton.LeftButton, (200, 200), (200, 100))
    assert got[-1][0] < 40


def test_window_sensitivity_is_proportional_to_width(view, qtbot):
    got = record(view.window_dragged)
    drag(qtbot, view, Qt.MouseButton.LeftButton, (100, 150), (164, 150))
    narrow = got[-1][1] / 80.0
    view.set_window(Window(500, 4000))
    got.clear()
    drag(qtbot, view, Qt.MouseButton.LeftButton, (100, 150), (164, 150))
    assert got[-1][1] / 4000.0 == pytest.approx(narrow)  # same drag, same relative change


def test_set_window_relevels_without_new_data(view, qtbot):
    data = view.image.image
    changed = record(view.image.sigImageChanged)
    view.set_window(Window(100, 1000))
    assert view.image.image is data
    assert not changed
    assert tuple(view.image.levels) == (100 - 500, 100 + 500)
    assert view.window == Window(100, 1000)


def test_tool_mode_leaves_left_drag_alone(view, qtbot):
    view.interaction_mode = "tool"
    got = record(view.window_dragged)
    before = view.view_center()
    drag(qtbot, view, Qt.MouseButton.LeftButton, (200, 150), (300, 150))
    assert not got and view.view_center() == before
    drag(qtbot, view, Qt.MouseButton.MiddleButton, (200, 150), (300, 150))
    assert view.view_center()[0] < before[0]  # everything else still works
    with pytest.raises(ValueError):
        view.interaction_mode = "draw"


def test_colour_images_show_full_range_and_ignore_window_drags(view, qtbot):
    rgb = np.zeros((50, 60, 3), np.uint8)
    view.set_slice(rgb, None, spacing=(1.0, 1.0))
    assert tuple(view.image.levels) == (0.0, 255.0)
    got = record(view.window_dragged)
    drag(qtbot, view, Qt.MouseButton.LeftButton, (200, 150), (300, 150))
    assert not got


def test_invert_uses_an_inverted_lookup_table(view):
    values = np.array([[0, 80]], dtype=np.int16)
    view.set_slice(values, Window(40, 80), invert=True, spacing=(1.0, 1.0))
    assert np.array_equal(view.image.lut, np.arange(255, -1, -1, dtype=np.uint8))
    view.image.render()
    assert view.image.qimage.pixelColor(0, 0).value() == 255  # low values white
    assert view.image.qimage.pixelColor(1, 0).value() == 0
    view.set_slice(values, Window(40, 80), invert=False, spacing=(1.0, 1.0))
    assert view.image.lut is None


def test_a_voi_lut_window_draws_through_its_table_and_back(view):
    from medviewer.dicom.display import voi_lut_window

    # a steep S-shaped table over values 0..99: value v is drawn as table[v]
    table = np.round(4095 / (1 + np.exp(-(np.arange(100) - 50) / 5.0))).astype(np.int64)
    window = voi_lut_window((0, 12, table))
    values = np.array([[10, 45, 50, 55, 90]], dtype=np.int16)
    view.set_slice(values, window, spacing=(1.0, 1.0))
    view.image.render()
    drawn = [view.image.qimage.pixelColor(i, 0).value() for i in range(5)]
    expected = np.round(table[values[0]] * 255 / 4095)
    assert np.abs(np.array(drawn) - expected).max() <= 1
    view.set_window(Window(50, 100))  # a linear window again: the ramp
    assert view.image.lut is None
    view.image.render()
    assert view.image.qimage.pixelColor(1, 0).value() == pytest.approx(45 * 255 / 100, abs=2)


# -- zoom and pan -------------------------------------------------------------------------------
def test_right_drag_up_zooms_in_and_down_zooms_out(view, qtbot):
    zooms = record(view.view_changed)
    drag(qtbot, view, Qt.MouseButton.RightButton, (200, 200), (200, 120))
    assert view.zoom > 1.5 and zooms and zooms[-1] == pytest.approx(view.zoom)
    zoomed = view.zoom
    drag(qtbot, view, Qt.MouseButton.RightButton, (200, 120), (200, 180))
    assert view.zoom < zoomed


def test_ctrl_wheel_zooms_about_the_cursor_and_wheel_scrolls(view, qtbot):
    steps = record(view.scrolled)
    under = scene_to_view(view, 100, 80)
    wheel(view, (100, 80), 240, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom == pytest.approx(1.25**2)
    assert scene_to_view(view, 100, 80) == pytest.approx(under)  # the point stays put
    assert not steps
    wheel(view, (100, 80), 120)
    wheel(view, (100, 80), -240)
    assert steps == [-1, 2]
    for _ in range(3):
        wheel(view, (100, 80), -40)  # touchpad: three thirds make one step
    assert steps == [-1, 2, 1]


def test_middle_drag_and_space_left_drag_pan(view, qtbot):
    cx, cy = view.view_center()
    drag(qtbot, view, Qt.MouseButton.MiddleButton, (200, 150), (275, 120))
    # the image follows the mouse: 75 px right, 30 px up = 20 mm, 8 mm at 3.75 px/mm
    assert view.view_center() == pytest.approx((cx - 20.0, cy + 8.0))
    assert view.zoom == pytest.approx(1.0)

    got = record(view.window_dragged)
    qtbot.keyPress(view, Qt.Key.Key_Space)
    assert view.space_held
    drag(qtbot, view, Qt.MouseButton.LeftButton, (200, 150), (125, 150))
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    assert not got and not view.space_held
    assert view.view_center() == pytest.approx((cx, cy + 8.0))


def test_double_click_fits(view, qtbot):
    view.zoom_by(3.0, (10.0, 10.0))
    view.pan_by(5.0, -3.0)
    assert view.zoom == pytest.approx(3.0)
    hover(qtbot, view, (200, 150))
    button = Qt.MouseButton.LeftButton
    send(view, E.MouseButtonPress, (200, 150), button, button)
    send(view, E.MouseButtonRelease, (200, 150), button, NB)
    send(view, E.MouseButtonDblClick, (200, 150), button, button)
    send(view, E.MouseButtonRelease, (200, 150), button, NB)
    assert view.zoom == pytest.approx(1.0)
    assert view.view_center() == pytest.approx((50.0, 40.0))


def test_zoom_by_pan_by_and_view_changed(view):
    zooms = record(view.view_changed)
    view.zoom_by(2.0)
    assert view.zoom == pytest.approx(2.0) and zooms[-1] == pytest.approx(2.0)
    assert view.view_center() == pytest.approx((50.0, 40.0))
    view.pan_by(10.0, -4.0)
    assert view.view_center() == pytest.approx((60.0, 36.0))
    assert view.zoom == pytest.approx(2.0) and len(zooms) == 2
    view.zoom_by(1e6)
    assert view.zoom == pytest.approx(64.0)  # clamped
    view.set_zoom(1.0)
    assert view.zoom == pytest.approx(1.0)


def test_new_geometry_fits_same_geometry_keeps_the_view(view):
    view.zoom_by(2.0)
    view.set_slice(np.zeros((ROWS, COLS), np.int16), Window(40, 80), spacing=SPACING)
    assert view.zoom == pytest.approx(2.0)
    view.set_slice(np.zeros((64, 64), np.int16), Window(40, 80), spacing=(1.0, 1.0))
    assert view.zoom == pytest.approx(1.0)
    assert view.view_center() == pytest.approx((32.0, 32.0))


# -- keys ---------------------------------------------------------------------------------------
def test_keys_scroll_and_jump(view, qtbot):
    steps, jumps = record(view.scrolled), record(view.jump)
    for key in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
        qtbot.keyClick(view, key)
    qtbot.keyClick(view, Qt.Key.Key_Home)
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert steps == [1, -1, 10, -10]
    assert jumps == [0, -1]


# -- overlays -----------------------------------------------------------------------------------
def test_overlay_text_labels_and_scale_bar_toggle_together(view):
    view.set_corner_text({"top_left": ["Patient^Name", "CT HEAD"], "bottom_right": ["W 80 L 40"]})
    view.set_orientation_labels({"left": "R", "right": "L", "top": "A", "bottom": "P"})
    view.set_scale_bar(50.0)
    corners, edges = view._corners, view._edges
    shown = [corners["top_left"], corners["bottom_right"], *edges.values(), view._scale_bar]
    assert all(item.isVisible() for item in shown)
    assert not corners["top_right"].isVisible()  # nothing to say there
    assert corners["top_left"].lines == ("Patient^Name", "CT HEAD")

    view.set_overlays_visible(False)
    assert not any(item.isVisible() for item in shown)
    view.set_overlays_visible(True)
    assert all(item.isVisible() for item in shown)


def test_overlays_stay_in_the_corners_at_screen_size(view):
    view.set_corner_text({"top_right": ["Series 3"], "bottom_left": ["Z 1.2"]})
    view.set_orientation_labels({"left": "R", "right": "L", "top": "A", "bottom": "P"})
    top_right = view._corners["top_right"]
    before = top_right.sceneBoundingRect()
    assert W - 20 < before.right() <= W and before.top() >= 0
    view.zoom_by(4.0)
    view.pan_by(7.0, 3.0)
    assert top_right.sceneBoundingRect() == before  # not moved, not scaled
    left = view._edges["left"].sceneBoundingRect()
    assert left.left() < 20 and left.center().y() == pytest.approx(H / 2, abs=1)
    view.resize(600, 500)
    QtWidgets.QApplication.processEvents()
    assert 580 < top_right.sceneBoundingRect().right() <= 600


def test_scale_bar_length_matches_mm_on_screen(view):
    view.set_scale_bar(20.0)

    def px_per_mm():  # measured independently: two view points mapped to the scene
        a = view.view.mapViewToScene(QtCore.QPointF(0, 0))
        b = view.view.mapViewToScene(QtCore.QPointF(10, 0))
        return (b.x() - a.x()) / 10

    assert view.scale_bar_mm == 20.0
    assert view.scale_bar_px == pytest.approx(20.0 * px_per_mm())
    view.zoom_by(2.5)
    assert view.scale_bar_px == pytest.approx(20.0 * px_per_mm())
    assert view.scale_bar_px == pytest.approx(20.0 * 3.75 * 2.5)

    view.set_scale_bar(None)  # automatic: 1/2/5 x 10^n mm, <= a quarter of the visible width
    visible_mm = view.view.viewRect().width()
    length = view.scale_bar_mm
    assert length <= visible_mm / 4 and length > visible_mm / 4 / 2.5
    mantissa = length / 10 ** math.floor(math.log10(length))
    assert round(mantissa, 6) in (1.0, 2.0, 5.0)
    assert view.scale_bar_px == pytest.approx(length * px_per_mm())
    view.set_scale_bar(visible=False)
    assert not view._scale_bar.isVisible()


def test_nice_length():
    assert nice_length(24.9) == 20.0
    assert nice_length(25.0) == 20.0
    assert nice_length(50.0) == 50.0
    assert nice_length(0.7) == 0.5
    assert nice_length(1.0) == 1.0
    assert nice_length(0.0) == 0.0


def test_rgba_overlay_layer_uses_the_slice_transform(view):
    rgba = np.zeros((ROWS, COLS, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 200
    view.set_overlay_rgba(rgba)
    layer = view.overlay
    assert layer.isVisible() and layer.opacity() == pytest.approx(0.4)
    assert layer.zValue() > view.image.zValue()
    assert layer.transform() == view.image.transform()
    assert layer.sceneBoundingRect() == view.image.sceneBoundingRect()
    assert np.shares_memory(layer.image, rgba)  # shown as given, no copy

    half = np.zeros((ROWS // 2, COLS // 2, 4), np.uint8)  # a coarser map covers the same mm
    view.set_overlay_rgba(half, opacity=0.7)
    assert layer.sceneBoundingRect() == view.image.sceneBoundingRect()
    assert layer.opacity() == pytest.approx(0.7)

    view.set_overlay_rgba(None)
    assert not layer.isVisible()
    with pytest.raises(ValueError):
        view.set_overlay_rgba(np.zeros((ROWS, COLS, 4), np.float32))


def test_corner_text_of_a_narrow_view_shrinks_until_left_and_right_no_longer_overlap(view):
    long = ["Anonymous, Synthetic Patient", "MV-SAMPLE-0001", "Head CT (InVesalius sample)"]
    view.set_corner_text({"top_left": long, "top_right": ["CT Se 1", "Axial head 1.5 mm"]})
    left, right = view._corners["top_left"], view._corners["top_right"]
    assert left.scale() == right.scale() == 1.0  # room enough at full size
    view.resize(300, 500)
    QtWidgets.QApplication.processEvents()
    a, b = left.sceneBoundingRect(), right.sceneBoundingRect()
    assert left.scale() < 1.0 and a.right() <= b.left()  # side by side, no overlap
    assert b.right() <= 300
    # nor over the orientation letter centred between them
    view.set_orientation_labels({"left": "R", "right": "L", "top": "A", "bottom": "P"})
    QtWidgets.QApplication.processEvents()
    # narrower than half size allows: long lines are shortened (…), never drawn over each other
    view.resize(170, 500)
    QtWidgets.QApplication.processEvents()
    a, b = left.sceneBoundingRect(), right.sceneBoundingRect()
    assert left.scale() == pytest.approx(0.5) and a.right() <= b.left() and b.right() <= 170
    assert view.corner_lines("top_left") == tuple(long)  # the text itself is kept whole
    view.resize(300, 500)
    QtWidgets.QApplication.processEvents()
    letter = view._edges["top"].sceneBoundingRect()  # moved below the text, not on it
    assert not letter.intersects(left.sceneBoundingRect())
    assert not letter.intersects(right.sceneBoundingRect())
    assert letter.top() >= left.sceneBoundingRect().bottom()
    view.resize(W, H)
    QtWidgets.QApplication.processEvents()
    assert left.scale() == right.scale() == 1.0
