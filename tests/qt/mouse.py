"""Real mouse input for pyqtgraph views: QMouseEvents sent to the viewport.

pyqtgraph drops mouse moves closer than 10 ms apart (``mouseRateLimit``), so the helpers wait
between moves.
"""

from PySide6 import QtCore, QtGui, QtWidgets

Qt = QtCore.Qt
E = QtCore.QEvent.Type
NB = Qt.MouseButton.NoButton
NOMOD = Qt.KeyboardModifier.NoModifier


def send(view, kind, pos, button=NB, buttons=NB, modifiers=NOMOD):
    vp = view.viewport()
    p = QtCore.QPointF(*pos)
    event = QtGui.QMouseEvent(kind, p, vp.mapToGlobal(p), button, buttons, modifiers)
    QtWidgets.QApplication.sendEvent(vp, event)


def hover(qtbot, view, pos):
    qtbot.wait(12)
    send(view, E.MouseMove, pos)


def drag(qtbot, view, button, start, end, steps=4, modifiers=NOMOD):
    hover(qtbot, view, start)
    send(view, E.MouseButtonPress, start, button, button, modifiers)
    for i in range(1, steps + 1):
        t = i / steps
        pos = (start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
        qtbot.wait(12)
        send(view, E.MouseMove, pos, NB, button, modifiers)
    send(view, E.MouseButtonRelease, end, button, NB, modifiers)


def wheel(view, pos, dy, modifiers=NOMOD):
    vp = view.viewport()
    p = QtCore.QPointF(*pos)
    event = QtGui.QWheelEvent(
        p,
        vp.mapToGlobal(p),
        QtCore.QPoint(0, 0),
        QtCore.QPoint(0, dy),
        NB,
        modifiers,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QtWidgets.QApplication.sendEvent(vp, event)
