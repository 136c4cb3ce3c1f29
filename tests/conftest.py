import pytest


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's real medviewer settings, models or choices.

    The bundled ``models/`` stay visible (tests of the bundled model read them); folders of
    tests may point MEDVIEWER_MODELS elsewhere themselves.
    """
    monkeypatch.setenv("MEDVIEWER_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
    monkeypatch.setenv("MEDVIEWER_DATA_DIR", str(tmp_path_factory.mktemp("data")))
