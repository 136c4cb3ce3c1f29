"""Qt-free state of an open study and the use-cases the UI calls."""

from medviewer.session.study import StudySession

__all__ = ["StudySession"]
