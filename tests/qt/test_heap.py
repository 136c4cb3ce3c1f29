"""The app keeps its start-up objects out of full garbage collections (medviewer.qt.heap)."""

import gc
import subprocess
import sys
import textwrap

from medviewer.qt import heap


def test_freezing_is_off_until_the_app_enables_it_and_counts_what_is_alive():
    assert not heap.enabled()
    heap.freeze_long_lived()
    assert gc.get_freeze_count() == 0  # tests and embedders: nothing frozen
    kept = [{"a": [1, 2]} for _ in range(1000)]  # containers the collector tracks
    heap.enable()
    try:
        assert gc.get_freeze_count() >= 1000
        watched = {id(k) for k in kept[:3]}
        assert not [o for o in gc.get_objects(generation=2) if id(o) in watched]  # frozen
    finally:
        heap.disable()
    assert gc.get_freeze_count() == 0 and not heap.enabled()


# Closed widgets held in reference cycles (as a widget whose slots refer back to it is), then a
# worker thread allocating like a model load does. Without collect_on_gui_thread the worker's
# allocation sets off the collector there and the widgets are destroyed on the worker, which
# crashed CI once. A child process, so a crash is a failed test and the gc state is fresh.
GC_SCRIPT = textwrap.dedent(
    """
    import gc, os, sys, threading, time, weakref
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6 import QtWidgets
    import pyqtgraph as pg
    from medviewer.qt import heap

    app = QtWidgets.QApplication([])
    heap.collect_on_gui_thread(interval_s=0.05)
    heap.collect_on_gui_thread()  # a second call changes nothing
    print("automatic:", gc.isenabled())
    freed_on = []

    class Panel(QtWidgets.QWidget):
        def __init__(self):
            super().__init__()
            self.me = self
            self.plot = pg.PlotWidget(self)
            self.show()

    refs = []
    for _ in range(20):
        p = Panel()
        refs.append(weakref.ref(p, lambda _r: freed_on.append(threading.current_thread().name)))
        p.close()
    del p
    print("freed before the worker:", len(freed_on))

    def work():
        junk = [[i] for i in range(200_000)]
        print("freed while the worker ran:", len(freed_on))

    worker = threading.Thread(target=work, name="worker")
    worker.start()
    worker.join()
    deadline = time.monotonic() + 20
    while len(freed_on) < 20 and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    print("freed on:", ",".join(sorted(set(freed_on))), len(freed_on))
    """
)


def test_cycles_holding_qt_objects_are_freed_on_the_gui_thread_not_on_a_worker():
    out = subprocess.run(
        [sys.executable, "-c", GC_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "automatic: False" in lines
    assert "freed before the worker: 0" in lines
    assert "freed while the worker ran: 0" in lines
    assert "freed on: MainThread 20" in lines  # by the GUI thread's timer, all of them
