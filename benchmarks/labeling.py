"""Benchmark: a class key -> the label stored -> the next slice shown, with 100,000 labels in
the store, beside the anchor "plain slice step without labeling" in the same run.

The main window opens the bundled sample head CT (108 slices, 256 x 256) offscreen, with a
label store that already holds ``--labels`` labels (default 100,000, written in one
transaction by ``medviewer.testing.label_store.fill_store``) in other series. Per press:

* ``label``  - ``QTest.keyClick(view, "N")`` on the primary view: the window shortcut fires,
  the Labels dock writes the label (one SQLite transaction, WAL), re-reads it, colours the
  strip and advances; then ``viewport().repaint()`` paints the next slice synchronously.
* ``anchor`` - ``QTest.keyClick(view, Down)`` + the same repaint: a plain slice step.

Time = from before the key click to after the repaint (``time.perf_counter``). Each press is
checked (the slice advanced; for ``label`` the store holds the label). After every press the
pending events run (the list of labeled slices is refilled there), outside the timed span but
reported as ``idle_ms``. Scenarios alternate slice sweeps (``--rounds`` of each), after one
discarded warm-up sweep.

    .venv/bin/python benchmarks/labeling.py            # 3 rounds x 107 presses each
    .venv/bin/python benchmarks/labeling.py --quick    # 1 round, 10,000 labels

A full run writes ``benchmarks/results/labeling.json``; ``--quick`` writes
``labeling.quick.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
if REPO not in sys.path:
    sys.path.insert(0, REPO)

TARGET_MEDIAN_MS = 20.0


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=int, default=None, help="labels already in the store")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--output", default=None)
    args = ap.parse_args(argv)
    n_labels = args.labels if args.labels is not None else (10_000 if args.quick else 100_000)
    rounds = args.rounds or (1 if args.quick else 3)
    output = args.output or os.path.join(
        RESULTS, "labeling.quick.json" if args.quick else "labeling.json"
    )
    tmp = tempfile.mkdtemp(prefix="mv-bench-labeling-")
    os.environ["MEDVIEWER_CONFIG_DIR"] = os.path.join(tmp, "config")
    os.environ["MEDVIEWER_DATA_DIR"] = os.path.join(tmp, "data")
    os.environ["MEDVIEWER_NO_WARMUP"] = "1"  # no torch import in the background while timing

    from medviewer.labels.store import LabelStore
    from medviewer.testing.label_store import fill_store

    store_path = os.path.join(tmp, "labels.sqlite")
    t = time.perf_counter()
    with LabelStore(store_path) as store:
        fill_store(store, n_labels)
        assert store.stats()["total"] == n_labels
    fill_s = time.perf_counter() - t
    print(f"filled the store with {n_labels} labels in {fill_s:.1f} s", file=sys.stderr)

    from PySide6 import QtCore, QtWidgets
    from PySide6.QtTest import QTest

    from medviewer.qt.app import configure_pyqtgraph
    from medviewer.resources import sample_study_dir

    configure_pyqtgraph()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    from medviewer.qt.main_window import MainWindow

    w = MainWindow()
    w.settings.label_store = store_path
    w.settings.annotator = "bench"
    w.labeling.session.set_annotator("bench")
    w.resize(1400, 900)
    w.show()
    w.activateWindow()
    done = []
    w.volume_ready.connect(lambda: done.append(True))
    w.open_paths([str(sample_study_dir())])
    end = time.monotonic() + 60
    while not done and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)
    if not done:
        raise SystemExit("the sample study did not load")
    for _ in range(20):
        app.processEvents()
    view = w.viewer.primary.view
    view.setFocus()
    lab = w.labeling
    n = lab.session.n_slices
    Qt = QtCore.Qt

    def sweep(kind: str, out: list, idle: list) -> None:
        w.viewer.set_primary_index(0)
        app.processEvents()
        key = Qt.Key.Key_N if kind == "label" else Qt.Key.Key_Down
        for k in range(n - 1):
            t0 = time.perf_counter()
            QTest.keyClick(view, key)
            view.viewport().repaint()
            t1 = time.perf_counter()
            app.processEvents()
            t2 = time.perf_counter()
            if w.viewer.primary.index != k + 1:
                raise SystemExit(f"{kind}: press {k} did not advance")
            if kind == "label" and lab.session.label_at(k) is None:
                raise SystemExit(f"label: slice {k} has no label after the key")
            out.append((t1 - t0) * 1000)
            idle.append((t2 - t1) * 1000)

    sweep("label", [], [])  # warm-up
    sweep("anchor", [], [])
    times = {"label": [], "anchor": []}
    idles = {"label": [], "anchor": []}
    for _ in range(rounds):
        for kind in ("anchor", "label"):
            sweep(kind, times[kind], idles[kind])
    with LabelStore(store_path) as check:
        stored = len(check.series_labels(lab.session.series_uid, annotator="bench"))
        total = check.stats()["total"]
    w.close()

    med = statistics.median(times["label"])
    summary = {
        "median_ms": round(med, 3),
        "p95_ms": round(p95(times["label"]), 3),
        "anchor_median_ms": round(statistics.median(times["anchor"]), 3),
        "anchor_p95_ms": round(p95(times["anchor"]), 3),
        "idle_median_ms": round(statistics.median(idles["label"]), 3),
        "n_presses": len(times["label"]),
        "n_labels_in_store": n_labels,
        "n_labels_after": total,
        "labels_of_the_series": stored,
        "target_median_ms": TARGET_MEDIAN_MS,
        "met": med < TARGET_MEDIAN_MS,
    }
    result = {
        "benchmark": "labeling",
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "qt_platform": os.environ.get("QT_QPA_PLATFORM"),
        },
        "fill_store_s": round(fill_s, 2),
        "rounds": rounds,
        "summary": summary,
        "times_ms": {k: [round(v, 3) for v in vs] for k, vs in times.items()},
    }
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w", encoding="utf-8") as fp:
        json.dump(result, fp, indent=2)
        fp.write("\n")
    print("| scenario | median ms | p95 ms |\n|---|---:|---:|")
    print(
        f"| plain slice step (anchor) | {summary['anchor_median_ms']:.2f} | "
        f"{summary['anchor_p95_ms']:.2f} |"
    )
    print(
        f"| class key -> stored -> next slice shown | {summary['median_ms']:.2f} | "
        f"{summary['p95_ms']:.2f} |"
    )
    print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
