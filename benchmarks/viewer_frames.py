"""Benchmark: scrolling a 300-slice CT in the slice view, and launch to the first painted slice.

Frames
    300 slices of 512 x 512 int16 (``head_phantom``, HU) are shown one after another with a
    different window/level on every frame, and every frame is really painted:
    ``viewport().repaint()`` runs the QGraphicsView's paintEvent synchronously, which renders
    the scene (the ImageItem converts the slice to a QImage through its levels, then Qt draws
    it scaled into the viewport's backing store; with ``QT_QPA_PLATFORM=offscreen`` that
    backing store is a QImage in memory). The script counts ``ImageItem.paint`` calls and
    refuses to report a scenario unless every frame painted the slice exactly once. Frame time
    = update call(s) + the forced paint, per frame, ``time.perf_counter``.

    * ``baseline``       - a bare ``pg.ImageItem`` in a ``pg.GraphicsLayoutWidget`` ViewBox
                           (aspect locked, y inverted): ``setImage(slice, levels=...)``.
    * ``slice_view``     - ``SliceView.set_slice(slice, Window, spacing=...)`` plus what a
                           reading-room frame also changes: the corner text (slice number and
                           W/L, new every frame), with orientation labels and the scale bar
                           shown.
    * ``slice_view_overlay`` - the same plus ``set_overlay_rgba(map)`` every frame: a new
                           512 x 512 RGBA heat map per slice (16 precomputed, cycled: each is
                           a different array, so each frame uploads a map), opacity 0.4.
    * ``slice_view_overlay_static`` - one cached RGBA map shown while scrolling.

    Scenarios run round-robin (``--rounds`` passes of all of them) after a discarded warm-up,
    so that the machine's drifts hit all of them alike; medians and p95 pool all rounds.

Launch
    ``launch_to_first_paint_s``: from the parent's ``subprocess.Popen`` of a child Python
    running ``medviewer gui resources/sample/cranium-ct`` (the very ``cli.main(["gui", ...])``
    that ``python -m medviewer gui`` runs), offscreen, until the first slice is painted. The
    child creates the QApplication itself first (``app.main`` reuses an existing one) and
    installs an application-wide event filter; the first Paint event of a SliceView viewport
    whose image holds a slice schedules a zero-delay timer, which fires once that paint has
    been processed, records ``time.perf_counter()``, checks the ImageItem has rendered a
    QImage and whether ``torch`` is in ``sys.modules``, prints one JSON line and exits at once
    (``os._exit``: the rest of the volume is still loading). Both processes read
    ``perf_counter`` from CLOCK_MONOTONIC (Linux: one clock for all processes), so the
    difference includes everything the user waits for: interpreter start-up, imports,
    QApplication and window creation, scan, first-slice decode, first paint. As a
    cross-check, ``python -c pass`` wall time is measured too (``interpreter_startup_s``) and
    ``in_process_s`` = first paint - the child's first statement.

Usage::

    .venv/bin/python benchmarks/viewer_frames.py             # 3 rounds of 300 frames, 5 launches
    .venv/bin/python benchmarks/viewer_frames.py --quick     # 1 round of 100, 2 launches
    .venv/bin/python benchmarks/viewer_frames.py --profile   # cProfile of the overlay scenario

A full run writes ``benchmarks/results/viewer_frames.json``; ``--quick`` writes
``viewer_frames.quick.json``. The Markdown table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from frame_paints import PaintCounter  # noqa: E402 (after the platform is chosen)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
DEFAULT_OUTPUT = os.path.join(RESULTS, "viewer_frames.json")
QUICK_OUTPUT = os.path.join(RESULTS, "viewer_frames.quick.json")
SAMPLE = os.path.join(REPO, "resources", "sample", "cranium-ct")

if REPO not in sys.path:  # run as a script from anywhere, without installing
    sys.path.insert(0, REPO)

N_SLICES, ROWS, COLS = 300, 512, 512
SPACING = (0.45, 0.45)
VIEW_SIZE = (1024, 1024)
N_MAPS = 16
TARGETS = {
    "frame_median_ms": 8.0,
    "frame_p95_ms": 16.0,
    "launch_to_first_paint_s": 2.0,
}

CHILD = r"""
import time
t0 = time.perf_counter()
import json, os, sys
from PySide6 import QtCore, QtWidgets

app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
state = {"seen": False}


def done(view):
    t = time.perf_counter()
    print(json.dumps({
        "t0": t0,
        "t_paint": t,
        "torch_imported": "torch" in sys.modules,
        "rendered": view.image.qimage is not None,
        "shape": list(view.image.image.shape),
    }), flush=True)
    os._exit(0)


class FirstPaint(QtCore.QObject):
    def eventFilter(self, obj, event):
        if state["seen"] or event.type() != QtCore.QEvent.Type.Paint:
            return False
        module = sys.modules.get("medviewer.qt.slice_view")
        if module is None:
            return False
        view = obj.parent()
        if (
            isinstance(view, module.SliceView)
            and obj is view.viewport()
            and view.image.image is not None
        ):
            state["seen"] = True
            # runs after this paint event has been processed
            QtCore.QTimer.singleShot(0, lambda: done(view))
        return False


watch = FirstPaint()
app.installEventFilter(watch)
QtCore.QTimer.singleShot(60_000, lambda: os._exit(3))  # never hang the benchmark
from medviewer.cli import main

sys.exit(main(["gui", sys.argv[1]]))
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- frames ----------------------------------------------------------------------------------
def make_volume(n: int):
    from medviewer.testing.synthetic import head_phantom

    return head_phantom(n, ROWS, COLS)


def make_maps(n: int):
    """Already coloured Grad-CAM-like heat maps: a moving blob through a jet-like LUT."""
    import numpy as np

    y, x = np.mgrid[0:ROWS, 0:COLS].astype(np.float32)
    lut = np.zeros((256, 4), np.uint8)
    t = np.linspace(0.0, 1.0, 256)
    lut[:, 0] = np.clip(1.5 - abs(4 * t - 3), 0, 1) * 255
    lut[:, 1] = np.clip(1.5 - abs(4 * t - 2), 0, 1) * 255
    lut[:, 2] = np.clip(1.5 - abs(4 * t - 1), 0, 1) * 255
    lut[:, 3] = (t * 255).astype(np.uint8)
    maps = []
    for i in range(n):
        cx, cy = COLS * (0.3 + 0.4 * i / n), ROWS * (0.6 - 0.2 * i / n)
        heat = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (COLS / 8) ** 2))
        maps.append(np.ascontiguousarray(lut[(heat * 255).astype(np.uint8)]))
    return maps


def windows(n: int):
    """A different window every frame, around brain/subdural/bone settings."""
    import math

    from medviewer.dicom import Window

    out = []
    for i in range(n):
        center = 40.0 + 30.0 * math.sin(i / 7.0)
        width = 80.0 + 70.0 * (1.0 + math.sin(i / 11.0))
        out.append(Window(center, width, "drag"))
    return out


class Scenario:
    name = ""

    def __init__(self, app, volume, wins, maps) -> None:
        self.app, self.volume, self.wins, self.maps = app, volume, wins, maps

    def frame(self, i: int) -> None:
        raise NotImplementedError

    def paint(self) -> None:
        self.widget.viewport().repaint()


class Baseline(Scenario):
    name = "baseline"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        import pyqtgraph as pg
        from PySide6 import QtGui

        self.widget = pg.GraphicsLayoutWidget()
        self.widget.resize(*VIEW_SIZE)
        self.widget.show()
        vb = self.widget.addViewBox(lockAspect=True, invertY=True)
        self.item = pg.ImageItem(axisOrder="row-major")
        vb.addItem(self.item)
        self.item.setImage(self.volume[0], levels=self.wins[0].levels)
        self.item.setTransform(QtGui.QTransform.fromScale(SPACING[1], SPACING[0]))
        vb.autoRange(padding=0)
        self.counter = PaintCounter(self.item)

    def frame(self, i: int) -> None:
        self.item.setImage(self.volume[i % len(self.volume)], levels=self.wins[i].levels)


class SliceViewScenario(Scenario):
    name = "slice_view"
    overlay = None  # None, "per_frame" or "static"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        from medviewer.qt.slice_view import SliceView

        self.widget = view = SliceView()
        view.resize(*VIEW_SIZE)
        view.show()
        view.set_slice(self.volume[0], self.wins[0], spacing=SPACING)
        view.set_orientation_labels({"left": "R", "right": "L", "top": "A", "bottom": "P"})
        view.set_scale_bar(None)
        if self.overlay == "static":
            view.set_overlay_rgba(self.maps[0], opacity=0.4)
        self.counter = PaintCounter(view.image)

    def frame(self, i: int) -> None:
        n = len(self.volume)
        w = self.wins[i]
        view = self.widget
        view.set_slice(self.volume[i % n], w, spacing=SPACING)
        if self.overlay == "per_frame":
            view.set_overlay_rgba(self.maps[i % len(self.maps)], opacity=0.4)
        view.set_corner_text(
            {
                "top_left": ["PHANTOM^HEAD", "ID 000123", "CT HEAD 2026-01-01"],
                "top_right": ["Synthetic head", "Se 1", f"Im {i % n + 1}/{n}"],
                "bottom_left": [f"W {w.width:.0f} L {w.center:.0f}", "Zoom 100%"],
                "bottom_right": ["512 x 512", "0.45 x 0.45 mm"],
            }
        )


class OverlayScenario(SliceViewScenario):
    name = "slice_view_overlay"
    overlay = "per_frame"


class StaticOverlayScenario(SliceViewScenario):
    name = "slice_view_overlay_static"
    overlay = "static"


class AppPlaneViewScenario(Scenario):
    """What the app does per scroll step: PlaneView.set_index -> reformat, set_slice, corner
    text from the session, orientation labels, crosshair, measurements of the new slice."""

    name = "app_plane_view"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        from medviewer.dicom.model import Geometry, PixelFormat, SeriesInfo, SliceRef
        from medviewer.dicom.volume import Volume
        from medviewer.qt.plane_view import PlaneView
        from medviewer.qt.tools import MeasurementTools
        from medviewer.session import StudySession

        n, rows, cols = self.volume.shape
        z_sp = 1.0
        series = SeriesInfo(
            series_uid="1.2.3",
            study_uid="1.2",
            modality="CT",
            description="Synthetic head",
            series_number=1,
            pixel_format=PixelFormat(rows, cols, 1, 16, 16, True, "MONOCHROME2"),
            slices=[SliceRef(path="", position=(0.0, 0.0, k * z_sp)) for k in range(n)],
            geometry=Geometry(
                (z_sp, *SPACING), (0.0, 0.0, 0.0), ((1, 0, 0), (0, 1, 0), (0, 0, 1)), "axial"
            ),
            transfer_syntaxes=[],
            n_files=n,
        )
        self.session = StudySession()
        self.session.volume = Volume(array=self.volume, geometry=series.geometry, series=series)
        self.session.series = series
        self.session.window = self.wins[0]
        self.plane = PlaneView("axial", self.session)
        self.tools = MeasurementTools(self.plane, self.session)
        self.widget = self.plane.view
        self.plane.resize(*VIEW_SIZE)
        self.plane.show()
        self.plane.set_index(0)
        self.counter = PaintCounter(self.widget.image)

    def frame(self, i: int) -> None:
        self.session.window = self.wins[i]
        self.plane.set_index((i + 1) % len(self.volume))
        self.tools.sync()


SCENARIOS = (
    Baseline,
    SliceViewScenario,
    OverlayScenario,
    StaticOverlayScenario,
    AppPlaneViewScenario,
)


def run_frames(scenario: Scenario, frames: int, times: list, update_times: list) -> None:
    app = scenario.app
    counter = scenario.counter
    unpainted = 0
    for i in range(frames):
        t0 = time.perf_counter()
        scenario.frame(i)
        t1 = time.perf_counter()
        before = counter.count
        scenario.paint()
        t2 = time.perf_counter()
        unpainted += counter.count - before != 1
        times.append(t2 - t0)
        update_times.append(t1 - t0)
        if i % 20 == 0:
            app.processEvents()  # let queued events (none expected) through, off the clock
    if unpainted:
        raise RuntimeError(f"{scenario.name}: {unpainted} of {frames} repaints did not paint once")


def percentile(values, q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q))


def measure_frames(frames: int, rounds: int, profile: bool = False, reading: bool = True) -> dict:
    from PySide6 import QtWidgets

    from medviewer.qt.app import configure_pyqtgraph

    configure_pyqtgraph()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    log(f"making a {frames} x {ROWS} x {COLS} phantom and {N_MAPS} RGBA maps")
    volume = make_volume(frames)
    maps = make_maps(N_MAPS)
    wins = windows(frames)
    scenarios = [cls(app, volume, wins, maps) for cls in SCENARIOS]
    if reading:
        import reading_frames

        folders = reading_frames.series_folders(log)
        scenarios += [cls(app, folders) for cls in reading_frames.SCENARIOS]
    for _ in range(10):
        app.processEvents()
        time.sleep(0.01)
    if profile:
        import cProfile
        import pstats

        target = next(s for s in scenarios if s.name == "slice_view_overlay")
        run_frames(target, min(frames, 50), [], [])
        prof = cProfile.Profile()
        prof.enable()
        run_frames(target, frames, [], [])
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    for s in scenarios:  # warm-up, discarded
        run_frames(s, min(frames, 50), [], [])
    times = {s.name: [] for s in scenarios}
    updates = {s.name: [] for s in scenarios}
    for r in range(rounds):
        for s in scenarios:
            run_frames(s, frames, times[s.name], updates[s.name])
        log(f"round {r + 1}/{rounds} done")
    vp = scenarios[1].widget.viewport()
    out = {}
    for s in scenarios:
        if hasattr(s, "check"):
            out[f"_{s.name}_last_frame"] = s.check()
    for s in scenarios:
        t = [x * 1000 for x in times[s.name]]
        u = [x * 1000 for x in updates[s.name]]
        out[s.name] = {
            "frames": len(t),
            "median_ms": statistics.median(t),
            "p95_ms": percentile(t, 95),
            "mean_ms": statistics.fmean(t),
            "min_ms": min(t),
            "max_ms": max(t),
            "update_median_ms": statistics.median(u),
            "paint_median_ms": statistics.median([a - b for a, b in zip(t, u)]),
            "paints_per_frame": 1,
        }
    out["_viewport"] = {
        "width": vp.width(),
        "height": vp.height(),
        "device_pixel_ratio": vp.devicePixelRatioF(),
    }
    for s in scenarios:
        s.close() if hasattr(s, "close") else s.widget.close()
    return out


# -- launch ----------------------------------------------------------------------------------
def interpreter_startup_s(repeats: int) -> float:
    walls = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        walls.append(time.perf_counter() - t)
    return statistics.median(walls)


def measure_launch(repeats: int) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    runs = []
    for k in range(repeats):
        t_spawn = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, SAMPLE],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        t_end = time.perf_counter()
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("{")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"launch child failed ({proc.returncode}): {proc.stderr[-2000:]}")
        rec = json.loads(line)
        run = {
            "launch_to_first_paint_s": rec["t_paint"] - t_spawn,
            "spawn_to_first_statement_s": rec["t0"] - t_spawn,
            "in_process_s": rec["t_paint"] - rec["t0"],
            "child_wall_s": t_end - t_spawn,
            "torch_imported": rec["torch_imported"],
            "rendered": rec["rendered"],
            "shape": rec["shape"],
        }
        if not (0 < run["spawn_to_first_statement_s"] < 30):
            raise RuntimeError(f"perf_counter is not shared between processes here: {run}")
        runs.append(run)
        log(f"launch {k + 1}/{repeats}: {run['launch_to_first_paint_s']:.3f} s")
    startup = interpreter_startup_s(max(3, repeats))
    return {
        "runs": runs,
        "launch_to_first_paint_s": statistics.median(r["launch_to_first_paint_s"] for r in runs),
        "first_run_s": runs[0]["launch_to_first_paint_s"],
        "max_s": max(r["launch_to_first_paint_s"] for r in runs),
        "in_process_s": statistics.median(r["in_process_s"] for r in runs),
        "interpreter_startup_s": startup,
        "torch_imported_at_launch": any(r["torch_imported"] for r in runs),
        "all_rendered": all(r["rendered"] for r in runs),
    }


# -- report ----------------------------------------------------------------------------------
def machine_info() -> dict:
    import numpy
    import pyqtgraph
    import PySide6
    from PySide6 import QtCore

    info = {
        "date": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pyqtgraph": pyqtgraph.__version__,
        "PySide6": PySide6.__version__,
        "Qt": QtCore.qVersion(),
        "qpa_platform": os.environ.get("QT_QPA_PLATFORM", ""),
        "numba": _has("numba"),
    }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip()
        info["medviewer_commit"] = commit or None
    except OSError:
        info["medviewer_commit"] = None
    return info


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as fp:
            for line in fp:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def summarise(frames: dict, launch: dict | None) -> dict:
    sv, ov, base = frames["slice_view"], frames["slice_view_overlay"], frames["baseline"]
    s = {
        "median_ms": sv["median_ms"],
        "p95_ms": sv["p95_ms"],
        "median_ms_overlay": ov["median_ms"],
        "p95_ms_overlay": ov["p95_ms"],
        "median_ms_overlay_static": frames["slice_view_overlay_static"]["median_ms"],
        "p95_ms_overlay_static": frames["slice_view_overlay_static"]["p95_ms"],
        "baseline_median_ms": base["median_ms"],
        "app_median_ms": frames["app_plane_view"]["median_ms"],
        "app_p95_ms": frames["app_plane_view"]["p95_ms"],
        "baseline_p95_ms": base["p95_ms"],
        "reading_2x2_median_ms": frames.get("reading_2x2_linked", {}).get("median_ms"),
        "reading_2x2_over_single_view": (
            frames["reading_2x2_linked"]["median_ms"] / frames["app_plane_view"]["median_ms"]
            if "reading_2x2_linked" in frames
            else None
        ),
        "reading_mip_median_ms": frames.get("reading_mip_10mm", {}).get("median_ms"),
        "launch_to_first_paint_s": launch["launch_to_first_paint_s"] if launch else None,
        "torch_imported_at_launch": launch["torch_imported_at_launch"] if launch else None,
        "targets": TARGETS,
    }
    med, p95 = TARGETS["frame_median_ms"], TARGETS["frame_p95_ms"]
    met = {
        "median_under_8ms": s["median_ms"] < med,
        "p95_under_16ms": s["p95_ms"] < p95,
        "overlay_median_under_8ms": s["median_ms_overlay"] < med,
        "overlay_p95_under_16ms": s["p95_ms_overlay"] < p95,
        "app_median_under_8ms": s["app_median_ms"] < med,
        "app_p95_under_16ms": s["app_p95_ms"] < p95,
    }
    if s["reading_2x2_median_ms"] is not None:
        met["reading_2x2_median_under_16ms"] = s["reading_2x2_median_ms"] <= p95
        met["reading_2x2_within_4x_single_view"] = s["reading_2x2_over_single_view"] <= 4.0
        met["reading_mip_median_under_16ms"] = s["reading_mip_median_ms"] <= p95
    if launch:
        met["launch_under_2s"] = (
            launch["launch_to_first_paint_s"] < TARGETS["launch_to_first_paint_s"]
        )
        met["no_torch_at_launch"] = not launch["torch_imported_at_launch"]
    s["targets_met"] = met
    s["all_targets_met"] = all(met.values())
    return s


def table(result: dict) -> str:
    f = result["frames"]
    m = result["machine"]
    vp = f["_viewport"]
    rows = [
        "| scenario | median ms | p95 ms | update ms (median) | paint ms (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    labels = {
        "baseline": "bare pyqtgraph ImageItem (baseline)",
        "slice_view": "SliceView + corner text",
        "slice_view_overlay": "SliceView + corner text + RGBA map per frame",
        "slice_view_overlay_static": "SliceView + corner text + one cached RGBA map",
        "app_plane_view": "the app's PlaneView per scroll step (reformat, overlays, tools)",
        "reading_2x2_linked": "2x2 reading grid, 4 series linked by position, all 4 repainted",
        "reading_mip_10mm": "one viewport with a 10 mm MIP slab",
    }
    for name, label in labels.items():
        if name not in f:
            continue
        r = f[name]
        rows.append(
            f"| {label} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | "
            f"{r['update_median_ms']:.2f} | {r['paint_median_ms']:.2f} |"
        )
    s = result["summary"]
    lines = [
        *rows,
        "",
        f"{f['slice_view']['frames']} frames per scenario ({result['config']['rounds']} rounds "
        f"of {result['config']['frames']} slices of {ROWS} x {COLS} int16, a new window every "
        f"frame, forced repaint), viewport {vp['width']} x {vp['height']}, "
        f"{m['qpa_platform']} platform.",
    ]
    launch = result.get("launch")
    if launch:
        lines += [
            "",
            "| launch (`medviewer gui` on the sample, offscreen) | seconds |",
            "|---|---:|",
            f"| spawn to first painted slice, median of {len(launch['runs'])} | "
            f"{launch['launch_to_first_paint_s']:.3f} |",
            f"| first run | {launch['first_run_s']:.3f} |",
            f"| of which in the process (first statement to paint) | "
            f"{launch['in_process_s']:.3f} |",
            f"| `python -c pass` (interpreter start-up) | {launch['interpreter_startup_s']:.3f} |",
            f"| torch imported at first paint | {launch['torch_imported_at_launch']} |",
        ]
    met = s["targets_met"]
    lines += [
        "",
        "Targets: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in met.items()) + ".",
        "",
        f"{m['cpu_count']} CPUs ({m['cpu_model']}), Python {m['python']}, PySide6 "
        f"{m['PySide6']}, pyqtgraph {m['pyqtgraph']}, numpy {m['numpy']}; {m['date'][:10]}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 100 frames, 2 launches")
    parser.add_argument("--frames", type=int, help=f"slices per round (default {N_SLICES})")
    parser.add_argument("--rounds", type=int, help="passes over all scenarios (default 3)")
    parser.add_argument("--launches", type=int, help="launch measurements (default 5)")
    parser.add_argument("--no-launch", action="store_true", help="skip the launch measurement")
    parser.add_argument(
        "--no-reading", action="store_true", help="skip the reading-layout scenarios"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the overlay scenario")
    parser.add_argument("--output", help="where to write the JSON")
    args = parser.parse_args(argv)
    frames = args.frames or (100 if args.quick else N_SLICES)
    rounds = args.rounds or (1 if args.quick else 3)
    launches = args.launches or (2 if args.quick else 5)
    output = args.output or (QUICK_OUTPUT if args.quick else DEFAULT_OUTPUT)

    started = time.perf_counter()
    # launch first: the child processes should not compete with our own 1.5 GB phantom
    launch = None if args.no_launch else measure_launch(launches)
    frame_results = measure_frames(
        frames, rounds, profile=args.profile, reading=not args.no_reading
    )
    result = {
        "benchmark": "viewer_frames",
        "description": __doc__.split("\n\n")[0],
        "machine": machine_info(),
        "config": {
            "frames": frames,
            "rounds": rounds,
            "slice_shape": [ROWS, COLS],
            "dtype": "int16",
            "spacing_mm": list(SPACING),
            "view_size": list(VIEW_SIZE),
            "overlay_maps": N_MAPS,
            "overlay_opacity": 0.4,
            "forced_paint": "viewport().repaint() (synchronous QGraphicsView paintEvent); "
            "ImageItem.paint counted, exactly one per frame",
        },
        "frames": frame_results,
        "launch": launch,
    }
    result["summary"] = summarise(frame_results, launch)
    result["wall_seconds"] = time.perf_counter() - started
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as fp:
        json.dump(result, fp, indent=1)
        fp.write("\n")
    log(f"wrote {output}")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
