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


def test_a_shared_pool_decodes_every_compressed_series_and_is_kept(rle_series):
    truth, series = rle_series
    assert volume_module._pool_size(series) == 0  # on its own it would decode in-process
    with volume_module.DecoderPool(workers=2) as pool:
        volume = volume_module.run_job(load_volume_iter(series, decoders=pool))
        executor = pool.executor()
        assert executor._processes  # the slices went to its processes
        again = volume_module.run_job(load_volume_iter(series, decoders=pool))
        assert pool.executor() is executor  # one warm pool for many series
    assert np.array_equal(volume.array, truth.values)
    assert np.array_equal(again.array, truth.values)
    assert pool._pool is None  # closed


def test_a_decoder_crash_loses_nothing_and_the_pool_is_replaced(rle_series):
    import os
    import signal

    truth, series = rle_series
    with volume_module.DecoderPool(workers=1) as pool:
        volume_module.run_job(load_volume_iter(series, decoders=pool))
        broken = pool.executor()
        for pid in list(broken._processes):
            os.kill(pid, signal.SIGKILL)  # what a decoder segfault does
        volume = volume_module.run_job(load_volume_iter(series, decoders=pool))
        assert np.array_equal(volume.array, truth.values)  # finished in this process
        fresh = pool.executor()
        assert fresh is not broken
        volume = volume_module.run_job(load_volume_iter(series, decoders=pool))
        assert np.array_equal(volume.array, truth.values) and fresh._processes


def test_native_series_never_go_to_the_pool(tmp_path):
    truth = write_series(tmp_path, n_slices=6, rows=16, cols=16)
    (native,) = scan([tmp_path]).all_series()
    with volume_module.DecoderPool(workers=1) as pool:
        volume = volume_module.run_job(load_volume_iter(native, decoders=pool))
        assert pool._pool is None  # never started
    assert np.array_equal(volume.array, truth.values)


def test_decoder_processes_take_gdcm_first_for_jpeg_2000_with_the_same_voxels(
    tmp_path, monkeypatch
):
    from pydicom.uid import JPEG2000Lossless

    from medviewer.dicom import decoders

    truth = write_series(tmp_path, n_slices=3, rows=32, cols=32, transfer_syntax=JPEG2000Lossless)
    (series,) = scan([tmp_path]).all_series()
    used = []
    import pydicom.pixels

    original = pydicom.pixels.pixel_array

    def spy(ds, **kw):
        used.append(kw.get("decoding_plugin"))
        return original(ds, **kw)

    monkeypatch.setattr(pydicom.pixels, "pixel_array", spy)
    ds = decoders.read_dataset(series.slices[0].path)
    main_process = decoders.pixel_array(ds, series.slices[0].path)
    assert used[0] != "gdcm"  # here GDCM only ever runs isolated, after the others
    monkeypatch.setattr(decoders, "_in_child", True)
    used.clear()
    child = decoders.pixel_array(ds, series.slices[0].path)
    assert used == ["gdcm"]
    assert np.array_equal(main_process, child)
    # and through a shared pool the whole series is voxel-exact
    with volume_module.DecoderPool(workers=1) as pool:
        volume = volume_module.run_job(load_volume_iter(series, decoders=pool))
    assert np.array_equal(volume.array, truth.values)


def _shape(result):
    series = [(s.key, [r.path for r in s.slices]) for s in result.all_series()]
    return sorted(series), sorted((k.path, k.code) for k in result.skipped)


def test_headers_read_by_a_pool_give_the_same_scan(tmp_path, testdata):
    """Many files (a pool reads them in chunks), a DICOMDIR (its files come after), junk."""
    from medviewer.dicom import scan_iter
    from medviewer.jobs import run_job

    for k in range(3):
        write_series(tmp_path / f"s{k}", n_slices=60, rows=8, cols=8, seed=k)
    (tmp_path / "junk.txt").write_text("not DICOM")
    (tmp_path / "empty.dcm").write_bytes(b"")
    dicomdir = testdata("dicomdirtests/DICOMDIR")
    paths = [tmp_path, dicomdir]
    plain = scan(paths)
    with volume_module.DecoderPool(workers=2) as pool:
        pooled = run_job(scan_iter(paths, pool=pool.executor()))
        assert pool.executor()._processes  # it did the reading
    assert _shape(pooled) == _shape(plain)
    assert len(plain.all_series()) > 3

    class Broken(concurrent.futures.ProcessPoolExecutor):
        def map(self, *args, **kwargs):
            raise concurrent.futures.process.BrokenProcessPool("worker died")

    broken = Broken(max_workers=1)
    try:
        assert _shape(run_job(scan_iter(paths, pool=broken))) == _shape(plain)
    finally:
        broken.shutdown()
