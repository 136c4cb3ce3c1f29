"""Closing the window while it still opens a study: the app waits for the workers it asked
to stop, so none signals into Qt objects being torn down at exit (it printed "RuntimeError in
aborted thread: Signal source has been deleted" about every second time before)."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["MEDVIEWER_CONFIG_DIR"] = sys.argv[1]
    from PySide6 import QtCore
    from medviewer.qt import app as qt_app

    real_start = qt_app.start

    def start(paths):
        app, window = real_start(paths)
        import gc
        from medviewer.qt import heap
        print("cycles collected on the GUI thread only:",
              heap.collecting_on_gui_thread() and not gc.isenabled(), flush=True)
        # the sample studies are still being scanned and loaded 0.2 s in
        QtCore.QTimer.singleShot(200, window.close)
        QtCore.QTimer.singleShot(250, app.quit)
        return app, window

    qt_app.start = start
    sys.exit(qt_app.main(None))
    """
)


def test_closing_while_opening_leaves_no_worker_signalling_at_exit(tmp_path):
    for attempt in range(3):  # the race showed about every second time without the wait
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(tmp_path / f"config{attempt}")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "cycles collected on the GUI thread only: True" in proc.stdout  # heap.py
        assert "Signal source has been deleted" not in proc.stderr, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
