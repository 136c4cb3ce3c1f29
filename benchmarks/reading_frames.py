"""Reading-layout scenarios for ``viewer_frames.py``: 2x2 linked scrolling and a MIP slab.

Four synthetic 512 x 512 CT series of one frame of reference (spacings 1.0, 1.25, 2.0 and
2.5 mm, so every step of the active viewport moves the others to a computed nearest slice)
are written once under ``benchmarks/data/reading`` and opened the way the app opens them:
scan, the primary series loaded into the main session, the other three assigned to viewports
of a real :class:`~medviewer.qt.reading.area.ReadingArea` (2x2, 1024 x 1024) and loaded on
workers. Per frame:

* ``reading_2x2_linked`` - the active viewport's ``PlaneView.set_index`` (the same call a key
  press or wheel step makes): the link controller moves the three others to their linked
  slices, the reference lines are recomputed, then all four viewports are repainted
  synchronously; the frame counts only if each of the four images painted exactly once.
* ``reading_mip_10mm`` - one viewport (1x1, 1024 x 1024) scrolling with a 10 mm MIP slab:
  each step reduces the slab's slices with numpy and paints it.

The anchor is ``app_plane_view`` of the same run (one plain PlaneView, 1024 x 1024).
"""

from __future__ import annotations

import os
import time

from frame_paints import PaintCounter

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "reading")
SPACINGS = (1.0, 1.25, 2.0, 2.5)
EXTENT_MM = 150.0  # every series covers the same 150 mm of the head
ROWS = COLS = 512
FRAME_UID = "1.2.826.0.1.3680043.8.498.1"
GRID_SIZE = (1024, 1024)


def series_folders(log=print) -> list[str]:
    """The four series' folders, written once (a marker file says a folder is complete)."""
    import numpy as np

    from medviewer.testing.synthetic import head_phantom, write_series

    folders = []
    for n, z in enumerate(SPACINGS):
        folder = os.path.join(DATA, f"s{n}-{z:g}mm")
        done = os.path.join(folder, ".complete")
        folders.append(folder)
        if os.path.exists(done):
            continue
        count = int(round(EXTENT_MM / z))
        log(f"writing reading series {n + 1}/4: {count} slices of {ROWS} x {COLS}, {z} mm")
        hu = head_phantom(count, ROWS, COLS, seed=n).astype(np.float64)
        write_series(
            folder,
            n_slices=count,
            rows=ROWS,
            cols=COLS,
            hu=hu,
            spacing=(z, 0.45, 0.45),
            origin=(-115.0, -115.0, -60.0 + n * 0.3),
            frame_of_reference_uid=FRAME_UID,
            study_uid="1.2.826.0.1.3680043.8.498.2",
            series_description=f"Head {z:g} mm",
            series_number=n + 1,
        )
        open(done, "w").close()
    return folders


class _AllPainted:
    """``count`` goes up by one per frame in which every watched image painted exactly once."""

    def __init__(self, views) -> None:
        self.views = views
        self.each = [PaintCounter(v.view.image) for v in views]
        self.count = 0


class _ReadingScenario:
    name = ""
    grid = "1x1"

    def __init__(self, app, folders) -> None:
        from medviewer.jobs import run_job
        from medviewer.qt.reading.area import ReadingArea
        from medviewer.qt.viewer_area import ViewerArea
        from medviewer.session import StudySession
        from medviewer.session.layout import ReadingLayout

        self.app = app
        session = StudySession()
        run_job(session.open_iter(folders))
        series = sorted(session.scan_result.all_series(), key=lambda s: s.series_number or 0)
        run_job(session.load_iter(series[0]))
        self.viewer = ViewerArea(session)
        self.area = ReadingArea(self.viewer, ReadingLayout(grid=self.grid))
        self.area.resize(*GRID_SIZE)
        self.area.show()
        self.viewer.volume_started()
        self.area.primary_changed()
        for n in range(1, self.area.count()):
            self.area.assign(n, series[n].key)
        end = time.perf_counter() + 120
        while len(self.area.loaded()) < self.area.count():
            app.processEvents()
            time.sleep(0.005)
            if time.perf_counter() > end:
                raise RuntimeError(f"{self.name}: the viewports did not load")
        for _ in range(20):
            app.processEvents()
        self.area.set_active(0)
        self.views = [self.area.main_view(n) for n in range(self.area.count())]
        self.lead = self.views[0]
        self.counter = _AllPainted(self.views)
        self.widget = self.lead.view
        self.n = self.lead.count()

    def frame(self, i: int) -> None:
        self.lead.set_index(i % self.n)

    def paint(self) -> None:
        before = [p.count for p in self.counter.each]
        for view in self.views:
            view.view.viewport().repaint()
        if all(p.count - b == 1 for p, b in zip(self.counter.each, before)):
            self.counter.count += 1

    def check(self) -> dict:
        """What the last frame showed: each viewport's index (and linked position error)."""
        from medviewer.session import linking

        lead_vol, lead = self.area.volume(0), self.views[0]
        out = {"indices": [v.index for v in self.views], "position_error_mm": []}
        centre = linking.plane_center_mm(lead_vol, lead.plane, lead.index)
        for n, view in enumerate(self.views[1:], start=1):
            vol = self.area.volume(n)
            normal = linking.plane_normal(vol, view.plane)
            there = linking.plane_center_mm(vol, view.plane, view.index)
            out["position_error_mm"].append(abs(float((there - centre) @ normal)))
        return out

    def close(self) -> None:
        self.area.close_viewports()
        self.area.close()


class ReadingGridScenario(_ReadingScenario):
    name = "reading_2x2_linked"
    grid = "2x2"


class MipScenario(_ReadingScenario):
    name = "reading_mip_10mm"
    grid = "1x1"

    def __init__(self, app, folders) -> None:
        super().__init__(app, folders)
        from medviewer.session.slab import Slab

        self.area.set_slab(0, Slab("mip", 10.0))


SCENARIOS = (ReadingGridScenario, MipScenario)
