"""Menus and toolbar of the main window, built from the shortcut table (one source of truth)."""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets

from medviewer.qt.reading import menus as reading_menus
from medviewer.qt.shortcuts import make_action


def build(window) -> dict[str, QtGui.QAction]:
    """Create every QAction of ``window`` (a MainWindow), its menus and its toolbar."""
    w = window
    a: dict[str, QtGui.QAction] = {}

    def act(action_id, slot=None, **kw):
        a[action_id] = make_action(action_id, w, slot, **kw)
        return a[action_id]

    # Slice navigation keys (Up/Down/PgUp/PgDown/Home/End) belong to the focused view, so they
    # are not window actions: a window shortcut would steal them from the series list too.
    menu = w.menuBar().addMenu("&File")
    menu.addAction(act("file.open_folder", w.choose_folder, text="Open &folder…"))
    menu.addAction(act("file.open_files", w.choose_files, text="Open f&iles…"))
    menu.addAction(act("file.open_dicomdir", w.choose_dicomdir, text="Open &DICOMDIR…"))
    w.recent_menu = menu.addMenu("Open &recent")
    menu.addSeparator()
    menu.addAction(act("file.export_png", w.export_png, text="Export view as &PNG…"))
    menu.addAction(act("file.export_nifti", w.export_nifti, text="Export series as &NIfTI…"))
    menu.addSeparator()
    menu.addAction(act("file.quit", w.close, text="&Quit"))

    menu = w.menuBar().addMenu("&View")
    menu.addAction(act("view.layout", w.toggle_layout, text="&MPR: three planes", checkable=True))
    menu.addAction(act("view.fit", w.fit_views, text="&Fit to window"))
    menu.addAction(act("view.invert", w.toggle_invert, text="&Invert", checkable=True))
    menu.addAction(act("view.overlays", w.toggle_overlays, text="&Overlays", checkable=True))
    a["view.overlays"].setChecked(True)
    menu.addAction(
        act("view.deidentify", w.toggle_deidentified, text="&De-identified display", checkable=True)
    )
    menu.addSeparator()
    w.window_menu = menu.addMenu("&Window / level")
    w.window_menu.addAction(act("window.auto", w.auto_window, text="&Automatic"))
    for i in range(1, 10):
        action = act(f"window.preset_{i}", lambda _=False, i=i: w.pick_window(i - 1))
        w.addAction(action)  # active even though the preset menu is rebuilt per series
    menu.addSeparator()
    menu.addAction(act("cine.play", w.toggle_cine, text="&Cine play/pause", checkable=True))
    menu.addAction(act("cine.faster", lambda: w.change_fps(+2), text="Cine faster"))
    menu.addAction(act("cine.slower", lambda: w.change_fps(-2), text="Cine slower"))
    w.view_menu = menu

    menu = w.menuBar().addMenu("&Tools")
    group = QtGui.QActionGroup(w)
    group.setExclusionPolicy(QtGui.QActionGroup.ExclusionPolicy.ExclusiveOptional)
    for action_id, tool, text in (
        ("measure.ruler", "ruler", "&Ruler"),
        ("measure.angle", "angle", "&Angle"),
        ("measure.rect_roi", "rect", "Rectangle &ROI"),
        ("measure.ellipse_roi", "ellipse", "&Ellipse ROI"),
        ("measure.probe", "probe", "&Probe"),
    ):
        action = act(action_id, text=text, checkable=True)
        action.toggled.connect(lambda on, tool=tool: w.set_tool(tool if on else None))
        group.addAction(action)
        menu.addAction(action)
    w.tool_group = group
    menu.addAction(act("measure.delete", w.delete_measurement, text="&Delete measurement"))
    menu.addSeparator()
    menu.addAction(act("tools.tag_browser", w.show_tags, text="DICOM &tags…"))

    menu = w.menuBar().addMenu("&Help")
    menu.addAction(act("help.shortcuts", w.show_help, text="&Keyboard and mouse…"))
    about = QtGui.QAction("&About medviewer", w)
    about.triggered.connect(w.show_about)
    menu.addAction(about)

    bar = w.addToolBar("Main")
    bar.setObjectName("main-toolbar")
    bar.setMovable(False)
    for action_id in ("file.open_folder", "view.layout"):
        bar.addAction(a[action_id])
    bar.addSeparator()
    bar.addWidget(QtWidgets.QLabel(" Window "))
    bar.addWidget(w.window_box)
    bar.addAction(a["view.invert"])
    bar.addSeparator()
    for action_id in (
        "measure.ruler",
        "measure.angle",
        "measure.rect_roi",
        "measure.ellipse_roi",
        "measure.probe",
    ):
        bar.addAction(a[action_id])
    bar.addSeparator()
    bar.addAction(a["cine.play"])
    bar.addWidget(w.fps_box)
    bar.addSeparator()
    bar.addAction(a["view.overlays"])
    bar.addAction(a["tools.tag_browser"])
    reading_menus.build(w, a)  # grid, links, slab, prior, hanging protocol (+ a toolbar row)
    return a
