"""Compressed series may be decoded in worker processes; results must be identical."""

import concurrent.futures

import numpy as np
import pytest
from pydicom.uid import RLELossless

from medviewer.dicom import load_volume, load_volume_iter, scan
from medviewer.dicom import volume as volume_module
from medviewer.testing.synthetic import write_series


@pytest.fixture(scope="module")
def rle_series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rle")
    truth = write_series(folder, n_slices=24, rows=32, cols=32, transfer_syntax=RLELossless)
    (series,) = scan([folder]).all_series()
    return truth, series


def test_worker_processes_give_the_same_voxels(rle_series, monkeypatch):
    truth, series = rle_series
    monkeypatch.setattr(volume_module, "POOL_MIN_PIXELS", 1)
    monkeypatch.setattr(volume_module.os, "cpu_count", lambda: 2)
    assert volume_module._pool_size(series) == 2
    volume = load_volume(series)
    assert np.array_equal(volume.array, truth.values)
    assert volume.warnings == []


def test_broken_pool_falls_back_to_this_process(rle_series, monkeypatch):
    truth, series = rle_series

    class Broken(concurrent.futures.ProcessPoolExecutor):
        def map(self, *args, **kwargs):
            raise concurrent.futures.process.BrokenProcessPool("worker died")

    monkeypatch.setattr(volume_module, "POOL_MIN_PIXELS", 1)
    monkeypatch.setattr(volume_module.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Broken)
    volume = load_volume(series)
    assert np.array_equal(volume.array, truth.values)


def test_small_or_native_series_stay_in_process(rle_series, tmp_path):
    _, series = rle_series
    assert volume_module._pool_size(series) == 0  # 24 x 32 x 32 pixels: not worth processes
    write_series(tmp_path, n_slices=4, rows=16, cols=16)
    (native,) = scan([tmp_path]).all_series()
    assert volume_module._pool_size(native) == 0


def test_first_progress_comes_before_the_pool_starts(rle_series, monkeypatch):
    truth, series = rle_series
    monkeypatch.setattr(volume_module, "POOL_MIN_PIXELS", 1)
    job = load_volume_iter(series)
    first = next(job)
    mid = len(series.slices) // 2
    assert first.detail.loaded.sum() == 1 and first.detail.loaded[mid]
    assert np.array_equal(first.detail.array[mid], truth.values[mid])
    job.close()
