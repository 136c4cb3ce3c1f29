import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from medviewer.qt.app import configure_pyqtgraph  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _pyqtgraph_config():
    configure_pyqtgraph()
