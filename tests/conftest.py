import pytest


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's real medviewer settings, models or choices.

    The user folders (settings: MEDVIEWER_CONFIG_DIR; imported models and the active-model
    choices: MEDVIEWER_DATA_DIR) are fresh temporary folders. MEDVIEWER_MODELS is not a user
    folder but the override of the bundled ``models/``: it is unset, so tests see the repo's
    bundled models whatever the shell says; folders of tests may point it elsewhere themselves.
    The log file (MEDVIEWER_LOG_DIR) has a folder of its own, so a test that checks a command
    left the user's data untouched is not fooled by the log the command writes.
    """
    monkeypatch.setenv("MEDVIEWER_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("MEDVIEWER_LOG_DIR", str(tmp_path_factory.mktemp("logs")))
    monkeypatch.delenv("MEDVIEWER_MODELS", raising=False)


@pytest.fixture(autouse=True)
def _fresh_phi_registry():
    """Each test starts with no patient values registered for log redaction: the registry is
    process-wide, and a name part an earlier test's study registered ("Test", "Last") would
    otherwise be redacted in this test's log and tracebacks."""
    from medviewer import phi

    phi.REGISTRY.clear()
    yield
    phi.REGISTRY.clear()


@pytest.fixture(autouse=True)
def _no_frozen_heap_after_a_test():
    """The app freezes its start-up objects out of the garbage collector (medviewer.qt.heap);
    a test that starts the app must not leave that on for the tests after it."""
    yield
    import sys

    heap = sys.modules.get("medviewer.qt.heap")
    if heap is not None and heap.enabled():
        heap.disable()


@pytest.fixture(autouse=True)
def _cycles_collected_on_the_gui_thread(request):
    """As in the app (medviewer.qt.heap.collect_on_gui_thread): once a test has a QApplication,
    cycles are collected on the GUI thread only, never on a worker that happens to allocate,
    which would destroy the Qt objects of earlier tests there (a crash in CI). After each test
    the collector runs here on the main thread too, for the tests that run no event loop."""
    import sys

    if "qapp" in request.fixturenames:  # qtbot's tests: qapp is in their fixture closure
        request.getfixturevalue("qapp")
        from medviewer.qt import heap

        heap.collect_on_gui_thread()
    yield
    heap = sys.modules.get("medviewer.qt.heap")
    if heap is not None:
        heap.collect_due()
