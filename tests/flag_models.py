"""A tiny real classifier that flags known slices of a known synthetic head CT: shared by the
DICOM-results tests (tests/reports), the AI dock's finding-list tests (tests/qt) and the
network send tests (tests/net)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.ai.conftest import known_answer_state

FLAG_MODEL = "tiny-flag:1.0.0"
"""Flags slices :data:`FLAGGED` of :func:`lesion_values` (most suspicious first)."""
NONE_MODEL = "tiny-none:1.0.0"
"""Flags no slice: every slice's top class is "normal"."""
FLAGGED = [4, 3, 5, 2]
N, SIZE = 8, 48
_BIAS = {FLAG_MODEL: (2.0, -1.0), NONE_MODEL: (10.0, -1.0)}


def lesion_values() -> np.ndarray:
    """8 slices of 48 x 48 (HU): a head phantom with a very dense disc in slices 3..5."""
    from medviewer.testing.synthetic import head_phantom

    hu = head_phantom(N, SIZE, SIZE, seed=3).astype(np.float64)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    blob = (yy - SIZE * 0.45) ** 2 + (xx - SIZE * 0.5) ** 2 < (SIZE * 0.3) ** 2
    for k in (3, 4, 5):
        hu[k][blob] = 3000.0
    return hu


def make_models(root: Path, refs=(FLAG_MODEL,)) -> Path:
    """The packages ``root/NAME/VERSION`` of ``refs`` (:data:`FLAG_MODEL`, :data:`NONE_MODEL`)."""
    from medviewer.testing.tiny_model import make_package

    for ref in refs:
        name, version = ref.split(":")
        make_package(
            root / name / version,
            name=name,
            version=version,
            classes=("normal", "lesion"),
            state_dict=known_answer_state(4.0, _BIAS[ref]),
        )
    return root
