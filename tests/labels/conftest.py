import pytest

from medviewer.labels.store import LabelStore
from medviewer.testing.label_store import synthetic_keys


@pytest.fixture
def store(tmp_path):
    with LabelStore(tmp_path / "labels.sqlite") as s:
        yield s


@pytest.fixture
def keys():
    """Two series of 6 slices."""
    return synthetic_keys(2, 6)
