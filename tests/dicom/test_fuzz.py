"""Seeded fuzzing: damaged copies of valid files never break a scan or a load."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from medviewer.cli import main
from medviewer.dicom import load_volume, scan
from medviewer.errors import MedviewerError

from .stacks import find_testdata, write_stack

N_MUTANTS = 400


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    templates = []
    for i, ts in enumerate([ExplicitVRLittleEndian, RLELossless, JPEG2000Lossless]):
        stack = write_stack(root / f"template{i}", n=2, transfer_syntax=ts, seed=10 + i)
        templates += [Path(p).read_bytes() for p in stack.paths]
    for name in ["emri_small.dcm", "emri_small_RLE.dcm", "emri_small_jpeg_2k_lossless.dcm"]:
        templates.append(Path(find_testdata(name)).read_bytes())

    folder = root / "incoming"
    good = [
        write_stack(folder / "good_native", n=4, seed=1, names=[f"a{k}.dcm" for k in range(4)]),
        write_stack(
            folder / "good_rle",
            n=3,
            seed=2,
            transfer_syntax=RLELossless,
            names=[f"b{k}.dcm" for k in range(3)],
        ),
        write_stack(
            folder / "good_j2k",
            n=3,
            seed=3,
            transfer_syntax=JPEG2000Lossless,
            names=[f"c{k}.dcm" for k in range(3)],
        ),
    ]
    rng = np.random.default_rng(1234)
    kinds = []
    for k in range(N_MUTANTS):
        data = bytearray(templates[rng.integers(len(templates))])
        kind = int(rng.integers(3))
        if kind == 0:  # random byte flips
            for _ in range(int(rng.integers(1, 9))):
                data[rng.integers(len(data))] = rng.integers(256)
        elif kind == 1:  # truncated at a random point
            data = data[: rng.integers(0, len(data))]
        else:  # a zeroed range
            start, length = int(rng.integers(len(data))), int(rng.integers(1, 64))
            data[start : start + length] = bytes(len(data[start : start + length]))
        (folder / f"mutant{k:04d}.dcm").write_bytes(bytes(data))
        kinds.append(kind)
    assert set(kinds) == {0, 1, 2}
    return folder, good


def test_scan_and_load_survive_damaged_files(fuzz_folder):
    folder, good = fuzz_folder
    result = scan([folder])  # must not raise

    n_files = len(os.listdir(folder)) - 3 + sum(len(g.paths) for g in good)
    assert len(result.skipped) + sum(s.n_files for s in result.all_series()) == n_files
    assert len(result.skipped) > N_MUTANTS // 10  # the damage is real
    assert all(s.reason.strip() for s in result.skipped)

    loaded = failed = 0
    for series in result.all_series():
        try:
            volume = load_volume(series)
        except MedviewerError:
            failed += 1
            continue
        loaded += 1
        assert volume.array.shape[0] == len(volume.source_files) > 0

    assert loaded >= len(good)
    for truth in good:
        series = result.find_series(truth.series_uid)
        assert series.warnings == []
        assert np.array_equal(load_volume(series).array, truth.values)


def test_inspect_json_survives_damaged_files(fuzz_folder, capsys):
    folder, _ = fuzz_folder
    assert main(["inspect", "--json", str(folder)]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert len(report["skipped"]) > 0
    assert "Traceback" not in err
