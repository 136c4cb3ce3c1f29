"""Export view as PNG: the overlay text is de-identified unless the user chooses otherwise.

The text is burnt into pixels, so the test records the corner texts at the moment the view is
grabbed, compares the images, and searches the PNG's bytes (text chunks) for the values.
"""

import pytest
from PySide6 import QtGui, QtWidgets

from medviewer.qt import commands
from medviewer.qt.main_window import MainWindow
from medviewer.testing.phi import PHI, phi_needles, write_identified_series

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


@pytest.fixture
def window(qtbot, tmp_path):
    write_identified_series(tmp_path / "study", n_slices=4, rows=64, cols=64)
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(900, 700)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(w.volume_ready, timeout=30_000):
        w.open_paths([str(tmp_path / "study")])
    return w


def _text(w) -> str:
    view = w.viewer.primary.view
    return "\n".join(line for c in CORNERS for line in view.corner_lines(c))


@pytest.fixture
def grabbed(window, monkeypatch):
    """The corner texts shown when each export grabbed the view."""
    seen: list[str] = []
    real = window.viewer.primary.grab

    def grab(*args):
        seen.append(_text(window))
        return real(*args)

    monkeypatch.setattr(window.viewer.primary, "grab", grab)
    return seen


def _leaks(text: str) -> list[str]:
    return [n.decode() for n in phi_needles() if n.decode() in text]


def test_default_png_has_deidentified_overlays_identity_only_when_chosen(window, grabbed, tmp_path):
    assert PHI["PatientID"] in _text(window)  # the display itself shows the patient
    default = window.export_png(str(tmp_path / "default.png"), overlays=True)
    shown = window.export_png(str(tmp_path / "shown.png"), overlays=True, identity=True)
    bare = window.export_png(str(tmp_path / "bare.png"), overlays=False)
    assert default and shown and bare
    assert not _leaks(grabbed[0]) and "De-identified" in grabbed[0]
    assert PHI["PatientID"] in grabbed[1]  # asked for: as shown
    assert grabbed[2].strip() == "" or not _leaks(grabbed[2])
    assert PHI["PatientID"] in _text(window) and not window.session.deidentified  # restored
    a, b, c = (QtGui.QImage(p) for p in (default, shown, bare))
    assert a.size() == b.size() == c.size() and a != b and a != c
    for path in (default, bare):
        data = open(path, "rb").read()
        assert not [n for n in phi_needles() if n in data]


def test_default_png_equals_the_deidentified_display(window, tmp_path):
    default = QtGui.QImage(window.export_png(str(tmp_path / "a.png"), overlays=True))
    window.actions["view.deidentify"].trigger()
    assert not _leaks(_text(window))
    in_mode = QtGui.QImage(window.export_png(str(tmp_path / "b.png"), overlays=True, identity=True))
    assert default == in_mode  # the same picture: identity asked for, but the display hides it
    assert window.session.deidentified  # the user's display mode is left as it was


def test_the_dialog_offers_the_choice_with_deidentified_first(
    window, grabbed, tmp_path, monkeypatch
):
    asked = {}

    def dialog(parent, title, start, filters, selected=""):
        asked.update(filters=filters.split(";;"), selected=selected)
        return str(tmp_path / "chosen.png"), selected  # the user just presses Save

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", staticmethod(dialog))
    assert window.export_png() == str(tmp_path / "chosen.png")
    assert asked["filters"] == list(commands.PNG_EXPORT_CHOICES)
    assert (
        asked["selected"] == commands.PNG_EXPORT_CHOICES[0]
        and "de-identified" in (asked["selected"])
    )
    assert not _leaks(grabbed[-1]) and "De-identified" in grabbed[-1]

    def choose_identity(parent, title, start, filters, selected=""):
        return str(tmp_path / "named.png"), commands.PNG_EXPORT_CHOICES[1]

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", staticmethod(choose_identity))
    window.export_png()
    assert PHI["PatientID"] in grabbed[-1]
