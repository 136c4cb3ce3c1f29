"""The triage worklist dock: the results of a triage, most suspicious first, live while a
triage runs; opening a row shows its series at the most suspicious slice with Grad-CAM.

- ``dock.py``: :class:`WorklistDock`, the dock and "Worklist" menu in the window, results
  files read on workers, live rows, review status from the Labels dock;
- ``panel.py``, ``table.py``: its widgets (buttons, filters, table) and the table's model;
- ``runner.py``: a triage (``medviewer.triage.job.triage_iter``) on a worker, pause / cancel;
- ``start_dialog.py``: Start triage… (folders, model, device, results file);
- ``opener.py``: opening a row (load, go to the slice, the AI dock's heat map on).

What the dock shows is computed without Qt in :mod:`medviewer.session.worklist_view`.
"""

from medviewer.qt.worklist.dock import WorklistDock

__all__ = ["WorklistDock"]
