"""Open the app on the sample study and save screenshots (run under Xvfb: `make screenshots`).

    python docs/screenshots/capture.py [OUT_DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6 import QtWidgets

from medviewer.qt.app import configure_pyqtgraph
from medviewer.resources import sample_study_dir


def wait(app, predicate, timeout=30.0):
    end = time.monotonic() + timeout
    while not predicate() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
    for _ in range(10):
        app.processEvents()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
    out.mkdir(parents=True, exist_ok=True)
    configure_pyqtgraph()
    app = QtWidgets.QApplication(sys.argv[:1])
    from medviewer.qt.main_window import MainWindow

    window = MainWindow()
    window.resize(1000, 760)
    window.show()
    done = []
    window.volume_ready.connect(lambda: done.append(True))
    window.open_paths([str(sample_study_dir())])
    wait(app, lambda: bool(done))
    window.grab().save(str(out / "viewer-sample-brain.png"))
    names = [window.window_box.itemText(i) for i in range(window.window_box.count())]
    window.window_box.setCurrentIndex(next(i for i, n in enumerate(names) if n.startswith("Bone")))
    window.show_slice(80)
    wait(app, lambda: True, 0.2)
    window.grab().save(str(out / "viewer-sample-bone.png"))
    print("saved to", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
