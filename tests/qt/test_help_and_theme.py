"""Shortcuts are defined once and listed in the help; the dark theme is dark."""

import pytest
from PySide6 import QtGui, QtWidgets

from medviewer.qt import shortcuts as sc
from medviewer.qt.help_dialog import HelpDialog
from medviewer.qt.theme import apply_dark_theme, dark_palette, style_sheet_path

REQUIRED = {
    "file.open_folder": "Ctrl+O",
    "file.open_files": "Ctrl+Shift+O",
    "file.export_png": "Ctrl+E",
    "file.export_nifti": "Ctrl+Shift+E",
    "file.quit": "Ctrl+Q",
    "slice.next": "Down",
    "slice.previous": "Up",
    "slice.next_10": "PgDown",
    "slice.previous_10": "PgUp",
    "slice.first": "Home",
    "slice.last": "End",
    "window.auto": "A",
    "view.invert": "I",
    "view.overlays": "O",
    "view.deidentify": "D",
    "view.fit": "F",
    "view.layout": "L",
    "cine.play": "P",
    "cine.faster": "]",
    "cine.slower": "[",
    "measure.ruler": "R",
    "measure.rect_roi": "Shift+R",
    "measure.ellipse_roi": "E",
    "measure.probe": "V",
    "measure.delete": "Del",
    "tools.tag_browser": "Ctrl+T",
    "help.shortcuts": "F1",
    **{f"window.preset_{i}": str(i) for i in range(1, 10)},
}


def portable(seq: QtGui.QKeySequence) -> str:
    return seq.toString(QtGui.QKeySequence.SequenceFormat.PortableText)


@pytest.mark.parametrize(("action_id", "keys"), sorted(REQUIRED.items()))
def test_required_keys(action_id, keys):
    assert portable(sc.key_sequence(action_id)) == keys


def test_mouse_gestures_are_documented():
    assert sc.by_id("slice.next").mouse == "Wheel down"
    assert "Ctrl+wheel" in sc.by_id("view.zoom").mouse
    assert "right-drag" in sc.by_id("view.zoom").mouse
    assert "Middle-drag" in sc.by_id("view.pan").mouse
    assert "Space" in sc.by_id("view.pan").mouse
    assert sc.by_id("window.drag").mouse == "Left-drag"
    assert sc.by_id("view.fit").mouse == "Double-click"
    assert sc.key_sequence("view.zoom").isEmpty()
    assert sc.by_id("file.open_dicomdir").keys


def test_every_entry_is_well_formed_and_unique():
    ids = [s.action_id for s in sc.SHORTCUTS]
    assert len(ids) == len(set(ids))
    for entry in sc.SHORTCUTS:
        assert entry.keys or entry.mouse, entry
        assert entry.group in sc.GROUPS
        if entry.keys:
            seq = entry.key_sequence()
            assert seq.count() == 1 and portable(seq) == entry.keys, entry


def test_no_two_shortcuts_share_a_key():
    seen: dict[int, str] = {}
    for entry in sc.SHORTCUTS:
        for seq in entry.key_sequences():
            combined = seq[0].toCombined()
            assert combined not in seen, f"{entry.action_id} and {seen[combined]} share {seq}"
            seen[combined] = entry.action_id


def test_by_id_names_the_known_ids():
    with pytest.raises(KeyError, match="file.open_folder"):
        sc.by_id("no.such.action")


def test_make_action(qtbot):
    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    fired = []
    action = sc.make_action("tools.tag_browser", parent, lambda: fired.append(1))
    assert portable(action.shortcut()) == "Ctrl+T"
    assert action.text() == "DICOM tag browser"
    assert "Ctrl+T" in action.toolTip()
    action.trigger()
    assert fired == [1]


def test_help_lists_every_shortcut_grouped(qtbot):
    dialog = HelpDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.isModal()
    rows = dialog.rows()
    assert [r[0] for r in rows] == [s.action_id for g in sc.grouped() for s in g[1]]
    assert {r[0] for r in rows} == {s.action_id for s in sc.SHORTCUTS}
    for action_id, keys, description in rows:
        entry = sc.by_id(action_id)
        assert description == entry.description
        assert keys == entry.display_keys() and keys
    assert dialog.groups() == [g for g in sc.GROUPS if any(s.group == g for s in sc.SHORTCUTS)]
    table = dialog.table
    assert table.editTriggers() == QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers
    assert "Ctrl+wheel / right-drag" in [r[1] for r in rows]


@pytest.fixture
def restore_app_look(qapp):
    style, palette, sheet = qapp.style().name(), QtGui.QPalette(qapp.palette()), qapp.styleSheet()
    yield qapp
    qapp.setStyleSheet(sheet)
    if style:
        qapp.setStyle(style)
    qapp.setPalette(palette)


def test_dark_theme(restore_app_look):
    app = restore_app_look
    assert style_sheet_path().is_file()
    assert apply_dark_theme(app) is True
    palette = app.palette()
    assert palette.color(QtGui.QPalette.ColorRole.Window).lightness() < 80
    assert palette.color(QtGui.QPalette.ColorRole.Base).lightness() < 80
    text = palette.color(QtGui.QPalette.ColorRole.WindowText)
    assert 120 < text.lightness() < 240  # grey, not white
    assert "QToolTip" in app.styleSheet()
    for role in QtGui.QPalette.ColorRole:
        if role in (QtGui.QPalette.ColorRole.NColorRoles, QtGui.QPalette.ColorRole.NoRole):
            continue
        assert palette.color(role).name() != "#ffffff", role


def test_missing_style_sheet_falls_back_to_the_palette(restore_app_look, tmp_path, monkeypatch):
    app = restore_app_look
    app.setStyleSheet("")
    monkeypatch.setenv("MEDVIEWER_RESOURCES", str(tmp_path))  # no style/dark.qss here
    assert apply_dark_theme(app) is False
    assert app.styleSheet() == ""
    assert app.style().name().lower() == "fusion"
    assert app.palette().color(QtGui.QPalette.ColorRole.Window).lightness() < 80
    assert dark_palette().color(QtGui.QPalette.ColorRole.Window) == app.palette().color(
        QtGui.QPalette.ColorRole.Window
    )


def test_every_help_line_is_readable_whole(qtbot):
    """No description ends in "…": one wider than its column wraps onto a taller row."""
    from medviewer.qt.help_dialog import HelpDialog

    dialog = HelpDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    table, fm = dialog.table, dialog.table.fontMetrics()
    line = fm.height()
    for row in range(table.rowCount()):
        for col in (0, 1):
            item = table.item(row, col)
            if item is None or table.columnSpan(row, col) > 1:
                continue
            if fm.horizontalAdvance(item.text()) > table.columnWidth(col):
                assert table.rowHeight(row) > 1.5 * line, item.text()
    assert table.columnWidth(1) > 1.8 * table.columnWidth(0) - 40


def test_the_style_sheet_names_its_check_mark_by_an_existing_path():
    import re
    from pathlib import Path

    from medviewer.qt.theme import load_style_sheet

    sheet = load_style_sheet()
    assert sheet is not None and "@STYLE_DIR@" not in sheet
    urls = re.findall(r"url\(([^)]+)\)", sheet)
    assert urls and all(Path(u).is_file() for u in urls)
