"""Guard against PySide6 6.12.0's leaked reference to True on every Signal.emit().

With that release the process aborts (``Fatal Python error: bool_dealloc``) after ~1,400
slice changes, because pyqtgraph emits on every setImage and paint. Run in a child process so
an abort shows up as a failed test, not a dead test run.
"""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import numpy as np
    from PySide6 import QtCore, QtWidgets
    from medviewer.qt.app import configure_pyqtgraph
    configure_pyqtgraph()
    app = QtWidgets.QApplication([])

    class Emitter(QtCore.QObject):
        fired = QtCore.Signal(bool)

    count = [0]
    e = Emitter()
    e.fired.connect(lambda flag: count.__setitem__(0, count[0] + flag))
    for _ in range(5000):
        e.fired.emit(True)
    assert count[0] == 5000, count[0]

    from medviewer.dicom import Window
    from medviewer.qt.slice_view import SliceView
    view = SliceView()
    view.resize(400, 400)
    view.show()
    rng = np.random.default_rng(0)
    slices = rng.integers(-1000, 2000, size=(64, 128, 128), dtype=np.int16)
    for i in range(3000):
        view.set_slice(slices[i % 64], Window(40, 400), spacing=(0.8, 0.8))
        if i % 50 == 0:
            app.processEvents()
    app.processEvents()
    print("survived", count[0], sys.getrefcount(True))
    """
)


def test_5000_signals_and_3000_slice_changes_survive():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "survived 5000" in proc.stdout
