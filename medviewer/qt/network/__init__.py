"""The DICOM network in the window (the core is :mod:`medviewer.net`, the texts
:mod:`medviewer.session.network`):

- ``controller.py``: :class:`NetworkMenu`, the "Network" menu, the receiver switch, wiring;
- ``nodes_dialog.py``, ``node_editor.py``: DICOM nodes… (this station, remote nodes, Verify);
- ``query_dock.py``, ``query_panel.py``, ``retrievals.py``: the Query / Retrieve dock, its
  searches and retrieves on workers;
- ``live.py``: studies filling the study folder, followed in the series browser;
- ``receiving.py``: the receiver started and stopped, its events on the GUI thread;
- ``study_folder.py``: Study folder… (open, delete);
- ``widgets.py``: shared small widgets.
"""

from medviewer.qt.network.controller import NetworkMenu

__all__ = ["NetworkMenu"]
