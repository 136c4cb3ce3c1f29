import pytest


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's real medviewer settings."""
    monkeypatch.setenv("MEDVIEWER_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
