"""The "AI" dock: model choice, run / cancel, per-slice probability plot, explanations.

- ``dock.py``: :class:`AIDock`, the dock, menu, heat-map overlay and warm-up in the window;
- ``panel.py``: :class:`AIPanel`, the dock's widget (layout, wiring, public API);
- ``run_boxes.py``, ``plot.py``, ``explain_box.py``: its boxes (widgets and setters);
- ``model_choice.py``, ``run_controller.py``, ``explain_controller.py``, ``model_views.py``:
  model choice, classification runs, heat maps, model card / model-input windows;
- ``jobs.py``: worker jobs and the shared model loader.

What the dock shows is computed without Qt in :mod:`medviewer.session.ai_results`,
:mod:`medviewer.session.ai_status`, :mod:`medviewer.session.ai_model_view` and
:mod:`medviewer.session.explain_view`.
"""

from medviewer.qt.ai.dock import AIDock
from medviewer.qt.ai.model_views import ModelInputWindow
from medviewer.qt.ai.panel import RESEARCH_NOTICE, AIPanel

__all__ = ["AIDock", "AIPanel", "ModelInputWindow", "RESEARCH_NOTICE"]
