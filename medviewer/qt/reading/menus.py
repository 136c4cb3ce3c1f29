"""The reading parts of the View menu (grid, links, slab, prior, hanging protocol), the slab
controls of the toolbar, and the viewport context menu.

Every action comes from the one shortcut table (:mod:`medviewer.qt.shortcuts`); the slots
write to the reading area, which writes to its Qt-free layout.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from medviewer.qt.shortcuts import make_action
from medviewer.session.layout import GRIDS
from medviewer.session.priors import study_date_text
from medviewer.session.slab import SLAB_MODES, Slab

SLAB_TEXT = {"off": "No slab", "mip": "MIP", "minip": "MinIP", "average": "Average"}
DEFAULT_SLAB_MM = 10.0
SLAB_STEP_MM = 2.0
PLANE_TEXT = {
    "acquired": "As acquired",
    "axial": "Axial",
    "coronal": "Coronal",
    "sagittal": "Sagittal",
}


def build(window, a: dict) -> None:
    """Add the reading actions to ``window.view_menu`` and ``a``, and a second toolbar row
    (``window.reading_toolbar``: grid, links, slab, compare with prior)."""
    from medviewer.qt.reading import compare, protocols, protocols_dialog

    w, area = window, window.reading

    def act(action_id, slot=None, **kw):
        a[action_id] = make_action(action_id, w, slot, **kw)
        return a[action_id]

    menu = w.view_menu
    menu.addSeparator()
    grids = menu.addMenu("Viewport &grid")
    group = QtGui.QActionGroup(w)
    for grid in GRIDS:
        action = act(
            f"reading.grid_{grid}",
            lambda _=False, g=grid: area.set_grid(g),
            text=grid,
            checkable=True,
        )
        action.setChecked(grid == area.grid_name)
        group.addAction(action)
        grids.addAction(action)
    area.grid_changed.connect(lambda g: a[f"reading.grid_{g}"].setChecked(True))

    menu.addAction(act("reading.next_viewport", lambda: area.step_active(+1), text="Next viewport"))
    menu.addAction(
        act("reading.previous_viewport", lambda: area.step_active(-1), text="Previous viewport")
    )

    links = menu.addMenu("&Links")
    for name, attr, text in (
        ("link_scroll", "scroll", "Link &scrolling"),
        ("link_window", "window", "Link &window/level"),
        ("link_zoom_pan", "zoom_pan", "Link &zoom/pan"),
    ):
        action = act(f"reading.{name}", text=text, checkable=True)
        action.setChecked(getattr(area.layout_state.links, attr))
        action.toggled.connect(lambda on, attr=attr: _set_link(area, attr, on))
        links.addAction(action)
    area.links_changed.connect(lambda: _show_links(area, a))
    links.addSeparator()
    links.addAction(act("reading.link_here", area.links.link_here, text="Link &here (offset)"))

    w.slab_box = QtWidgets.QComboBox()
    for mode in SLAB_MODES:
        w.slab_box.addItem(SLAB_TEXT[mode], mode)
    w.slab_box.setToolTip("Thick slab of the active viewport")
    w.slab_spin = QtWidgets.QDoubleSpinBox()
    w.slab_spin.setRange(0.5, 200.0)
    w.slab_spin.setDecimals(1)
    w.slab_spin.setSingleStep(SLAB_STEP_MM)
    w.slab_spin.setSuffix(" mm")
    w.slab_spin.setValue(DEFAULT_SLAB_MM)
    w.slab_spin.setToolTip("Slab thickness")
    w.slab_box.currentIndexChanged.connect(lambda _i: _slab_chosen(w))
    w.slab_spin.valueChanged.connect(lambda _v: _slab_chosen(w))
    area.active_changed.connect(lambda _n: sync_slab_controls(w))

    slabs = menu.addMenu("Thick &slab")
    slabs.addAction(act("reading.slab_mode", lambda: _cycle_slab(w), text="Next slab &mode"))
    slabs.addAction(act("reading.slab_thicker", lambda: _step_slab(w, +1), text="&Thicker"))
    slabs.addAction(act("reading.slab_thinner", lambda: _step_slab(w, -1), text="T&hinner"))
    menu.addSeparator()
    menu.addAction(
        act(
            "reading.compare_prior",
            lambda: compare.compare_with_prior(w),
            text="Compare with &prior",
        )
    )
    menu.addAction(
        act(
            "reading.save_hanging",
            lambda: protocols.save_hanging_layout(w),
            text="Save layout as &hanging protocol…",
        )
    )
    menu.addAction(
        act(
            "reading.manage_hanging",
            lambda: protocols_dialog.show_dialog(w),
            text="Hanging pro&tocols…",
        )
    )
    w.addToolBarBreak()
    bar = w.reading_toolbar = w.addToolBar("Reading")
    bar.setObjectName("reading-toolbar")
    bar.setMovable(False)
    bar.addWidget(QtWidgets.QLabel(" Grid "))
    for grid in GRIDS:
        bar.addAction(a[f"reading.grid_{grid}"])
    bar.addSeparator()
    for name in ("link_scroll", "link_window", "link_zoom_pan", "link_here"):
        bar.addAction(a[f"reading.{name}"])
    bar.addSeparator()
    bar.addWidget(QtWidgets.QLabel(" Slab "))
    bar.addWidget(w.slab_box)
    bar.addWidget(w.slab_spin)
    bar.addSeparator()
    bar.addAction(a["reading.compare_prior"])
    area.context_menu.connect(lambda n, pos: viewport_menu(area, n).popup(pos))


def _show_links(area, a: dict) -> None:
    options = area.layout_state.links
    for name, attr in (
        ("link_scroll", "scroll"),
        ("link_window", "window"),
        ("link_zoom_pan", "zoom_pan"),
    ):
        a[f"reading.{name}"].setChecked(getattr(options, attr))


def _set_link(area, attr: str, on: bool) -> None:
    setattr(area.layout_state.links, attr, bool(on))
    if attr == "scroll" and on:
        area.links.sync()


def sync_slab_controls(w) -> None:
    """Show the active viewport's slab in the toolbar controls."""
    slab = w.reading.layout_state.active_state.slab
    w.slab_box.blockSignals(True)
    w.slab_spin.blockSignals(True)
    w.slab_box.setCurrentIndex(SLAB_MODES.index(slab.mode))
    if slab.thickness_mm > 0:
        w.slab_spin.setValue(slab.thickness_mm)
    w.slab_box.blockSignals(False)
    w.slab_spin.blockSignals(False)


def _slab_chosen(w) -> None:
    area = w.reading
    area.set_slab(area.active, Slab(w.slab_box.currentData(), float(w.slab_spin.value())))


def _cycle_slab(w) -> None:
    w.slab_box.setCurrentIndex((w.slab_box.currentIndex() + 1) % w.slab_box.count())


def _step_slab(w, sign: int) -> None:
    w.slab_spin.setValue(w.slab_spin.value() + sign * SLAB_STEP_MM)


def viewport_menu(area, n: int) -> QtWidgets.QMenu:
    """The context menu of viewport ``n``: the open scan's series, its plane, clear."""
    menu = QtWidgets.QMenu(area)
    menu.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
    menu.setObjectName(f"viewport-menu-{n}")
    shown = area.layout_state.viewports[n].series_key
    series_menu = menu.addMenu("&Series")
    series_menu.setEnabled(bool(area.series_list()))
    for study, series in area.series_list():
        title = series.description or "no description"
        text = f"{study_date_text(study)}  {series.modality} {title} ({series.n_frames} images)"
        action = series_menu.addAction(text)
        action.setCheckable(True)
        action.setChecked(series.key == shown)
        action.triggered.connect(lambda _=False, key=series.key: area.assign(n, key))
    if n > 0:
        planes = menu.addMenu("&Plane")
        current = area.layout_state.viewports[n].plane
        for plane, text in PLANE_TEXT.items():
            action = planes.addAction(text)
            action.setCheckable(True)
            action.setChecked(plane == current)
            action.triggered.connect(lambda _=False, p=plane: area.set_plane(n, p))
        menu.addSeparator()
        clear = menu.addAction("&Clear viewport", lambda: area.clear_viewport(n))
        clear.setEnabled(shown is not None)
    return menu


__all__ = ["build", "sync_slab_controls", "viewport_menu"]
