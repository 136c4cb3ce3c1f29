"""The old import path of the AI dock, kept for the tests that import it: everything lives in
:mod:`medviewer.qt.ai` now."""

from medviewer.qt.ai import RESEARCH_NOTICE, AIDock, AIPanel, ModelInputWindow

__all__ = ["AIDock", "AIPanel", "ModelInputWindow", "RESEARCH_NOTICE"]
