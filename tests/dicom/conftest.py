"""Fixtures for the DICOM core tests (the helpers live in ``stacks.py``)."""

import pytest

from .stacks import find_testdata, write_stack


@pytest.fixture(scope="session")
def stack_writer():
    """``write_stack``: one file per slice, positions / numbers / names under test control."""
    return write_stack


@pytest.fixture(scope="session")
def testdata():
    """``find_testdata``: a pydicom test file by name, only among the files that exist."""
    return find_testdata
