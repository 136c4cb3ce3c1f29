"""The tag browser: reads a file (small ones at once, big ones on a worker), filters live,
opens sequences around matches, copies rows as text."""

import pytest
from pydicom.data import get_testdata_file
from PySide6 import QtCore, QtWidgets

from medviewer.qt import tag_browser
from medviewer.qt.tag_browser import TagBrowser


def data_file(name: str) -> str:
    path = get_testdata_file(name, download=False)  # never the network
    assert path is not None
    return path


@pytest.fixture
def browser(qtbot):
    dialog = TagBrowser()
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def show(browser, qtbot, name: str) -> str:
    """Open a test file and wait until its tags are shown (big files come from a worker)."""
    path = data_file(name)
    with qtbot.waitSignal(browser.loaded, timeout=10_000):
        browser.show_file(path)
    return path


def test_shows_every_element_with_the_path_in_the_title(browser, qtbot):
    path = show(browser, qtbot, "CT_small.dcm")
    assert not browser.isModal()
    assert path in browser.windowTitle()
    tree = browser.tree
    assert [tree.headerItem().text(i) for i in range(4)] == ["Tag", "Keyword", "VR", "Value"]
    first = tree.topLevelItem(0)
    assert first.text(0).startswith("(0002,")
    modality = tree.findItems("Modality", QtCore.Qt.MatchFlag.MatchExactly, 1)[0]
    assert [modality.text(i) for i in range(4)] == ["(0008,0060)", "Modality", "CS", "CT"]
    pixels = tree.findItems("PixelData", QtCore.Qt.MatchFlag.MatchExactly, 1)[0]
    assert pixels.text(3) == "<32768 bytes>"
    assert browser.visible_rows() == tree.topLevelItemCount() > 200


def test_search_reduces_rows(browser, qtbot):
    show(browser, qtbot, "CT_small.dcm")
    everything = browser.visible_rows()
    browser.set_query("(0008,0060)")
    assert browser.visible_rows() == 1
    browser.set_query("00280010")
    assert browser.tree.topLevelItem(0).text(1) == "Rows" and browser.visible_rows() == 1
    browser.set_query("compressedsamples")  # value text
    assert 0 < browser.visible_rows() < everything
    browser.set_query("")
    assert browser.visible_rows() == everything


def test_typing_filters_after_a_short_pause(browser, qtbot):
    show(browser, qtbot, "CT_small.dcm")
    everything = browser.visible_rows()
    qtbot.keyClicks(browser.search, "modality")
    qtbot.waitUntil(lambda: browser.visible_rows() < everything, timeout=2_000)
    assert browser.tree.topLevelItem(0).text(1) == "Modality"


def test_matches_inside_sequences_are_opened(browser, qtbot):
    show(browser, qtbot, "rtplan.dcm")
    collapsed = browser.visible_rows()
    beams = browser.tree.findItems("BeamSequence", QtCore.Qt.MatchFlag.MatchExactly, 1)[0]
    assert not beams.isExpanded() and beams.childIndicatorPolicy() == (
        beams.ChildIndicatorPolicy.ShowIndicator
    )
    browser.set_query("BeamName")
    tree = browser.tree
    assert tree.topLevelItemCount() == 1
    beams = tree.topLevelItem(0)
    assert beams.text(1) == "BeamSequence" and beams.isExpanded()
    item = beams.child(0)
    assert item.text(1) == "Item 1" and item.isExpanded()
    assert [item.child(i).text(1) for i in range(item.childCount())] == ["BeamName"]
    assert item.child(0).text(3) == "Field 1"
    assert browser.visible_rows() == 3 < collapsed


def test_expanding_a_sequence_by_hand_fills_it(browser, qtbot):
    show(browser, qtbot, "rtplan.dcm")
    doses = browser.tree.findItems("DoseReferenceSequence", QtCore.Qt.MatchFlag.MatchExactly, 1)
    before = browser.visible_rows()
    doses[0].setExpanded(True)
    assert doses[0].childCount() == 2
    assert browser.visible_rows() == before + 2


def test_ctrl_c_copies_selected_rows_as_text(browser, qtbot):
    show(browser, qtbot, "CT_small.dcm")
    clipboard = QtWidgets.QApplication.clipboard()
    clipboard.clear()
    browser.set_query("modality")
    browser.tree.topLevelItem(0).setSelected(True)
    browser.tree.setFocus()
    qtbot.keyClick(browser.tree, QtCore.Qt.Key.Key_C, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == "(0008,0060)\tModality\tCS\tCT"


def test_copy_without_selection_copies_every_shown_row(browser, qtbot):
    show(browser, qtbot, "rtplan.dcm")
    browser.set_query("BeamName")
    browser.copy_button.click()
    lines = QtWidgets.QApplication.clipboard().text().splitlines()
    assert lines[0] == "(300A,00B0)\tBeamSequence\tSQ\t1 item"
    assert lines[1].startswith("  (FFFE,E000)\tItem 1")
    assert lines[2] == "    (300A,00C2)\tBeamName\tLO\tField 1"
    assert len(lines) == 3


def test_copying_a_sequence_row_includes_its_contents_once(browser, qtbot):
    show(browser, qtbot, "rtplan.dcm")
    browser.set_query("BeamName")
    beams = browser.tree.topLevelItem(0)
    beams.setSelected(True)
    beams.child(0).child(0).setSelected(True)  # inside the selected sequence: not twice
    text = browser.copy()
    assert text.count("BeamName") == 1 and text.startswith("(300A,00B0)")


def test_not_dicom_reports_instead_of_raising(browser, qtbot, tmp_path):
    path = tmp_path / "report.txt"
    path.write_text("hello\n" * 100)
    with qtbot.waitSignal(browser.failed, timeout=2_000) as signal:
        browser.show_file(path)
    assert "not a DICOM file" in signal.args[0]
    assert browser.visible_rows() == 0
    assert "not a DICOM file" in browser.status.text()


def test_big_file_is_read_on_a_worker(browser, qtbot, monkeypatch):
    monkeypatch.setattr(tag_browser, "SYNC_READ_LIMIT", 0)  # every file counts as big
    monkeypatch.setattr(
        tag_browser, "read_tags", lambda path: pytest.fail("read on the GUI thread")
    )
    path = data_file("eCT_Supplemental.dcm")
    with qtbot.waitSignal(browser.loaded, timeout=10_000) as signal:
        browser.show_file(path)
        assert browser.visible_rows() == 0  # nothing yet: the GUI thread did not wait
    assert signal.args == [path]
    assert browser.tree.findItems(
        "PerFrameFunctionalGroupsSequence", QtCore.Qt.MatchFlag.MatchExactly, 1
    )


def test_a_tiny_file_is_shown_at_once(browser):
    path = data_file("rtplan.dcm")  # 2.6 KB: below the worker threshold
    assert tag_browser.SYNC_READ_LIMIT > 2672
    browser.show_file(path)
    assert browser.tree.findItems("BeamSequence", QtCore.Qt.MatchFlag.MatchExactly, 1)


def test_a_late_answer_for_an_older_file_is_ignored(browser, qtbot):
    big = data_file("eCT_Supplemental.dcm")  # ~1 MB: worker
    small = data_file("rtplan.dcm")  # shown at once
    browser.show_file(big)
    browser.show_file(small)
    qtbot.wait(300)
    assert small in browser.windowTitle()
    assert browser.tree.findItems("BeamSequence", QtCore.Qt.MatchFlag.MatchExactly, 1)
    assert not browser.tree.findItems(
        "PerFrameFunctionalGroupsSequence", QtCore.Qt.MatchFlag.MatchExactly, 1
    )
