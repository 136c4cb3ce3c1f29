"""Selftest checks that decode real pixels: the sample slice and small made-up images through
every in-process decoder plug-in, a spawned decoder process, and the whole sample study.

The decoder-process check starts a child exactly as the viewer does when it decodes; every
other check runs in-process, so they work the same in a PyInstaller build.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from pathlib import Path

from medviewer.selftest.runner import CHECK_TIMEOUT_S, REINSTALL, CheckFailed, Context, error_text


def _sample_file() -> Path:
    from medviewer.resources import sample_study_dir

    folder = sample_study_dir()
    files = sorted(folder.glob("*.dcm")) if folder.is_dir() else []
    if not files:
        raise CheckFailed(
            f"the bundled sample study is missing: no DICOM files in {folder}",
            f"{REINSTALL}; the sample ships in resources/sample/cranium-ct",
        )
    return files[0]


def _tiny_dataset(arr, transfer_syntax: str):
    """An in-memory image data set holding ``arr`` (uint8 or int16, one frame)."""
    from pydicom import Dataset
    from pydicom.dataset import FileMetaDataset

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    bits = arr.dtype.itemsize * 8
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    return ds


def _decode_each(ds, label: str, expected, tolerance: float = 0.0) -> list[str]:
    """Decode ``ds`` with the viewer's decoder and each in-process plug-in; plug-ins used."""
    import numpy as np
    from pydicom.pixels import get_decoder
    from pydicom.pixels import pixel_array as decode

    from medviewer.dicom import decoders

    ts = ds.file_meta.TransferSyntaxUID
    results = {"viewer": decoders.pixel_array(ds, f"<{label}>")}
    names = [p for p in get_decoder(ts).available_plugins if p not in decoders.ISOLATED_PLUGINS]
    problems = []
    for name in names:
        try:
            results[name] = decode(ds, decoding_plugin=name)
        except Exception as exc:
            problems.append(f"{name} could not decode the {label} ({error_text(exc)})")
    for name, arr in results.items():
        if arr.shape != expected.shape:
            problems.append(f"{name} decoded the {label} as {arr.shape}, not {expected.shape}")
        elif float(np.abs(arr.astype(np.float64) - expected).mean()) > tolerance:
            problems.append(f"{name} decoded the {label} to different pixels")
    if problems:
        raise CheckFailed(
            "; ".join(problems),
            f"a decoder plug-in is broken: {REINSTALL} (or remove the broken plug-in)",
        )
    return names


def check_decoding(ctx: Context) -> str:
    import numpy as np
    from pydicom import uid

    from medviewer.dicom import decoders

    path = _sample_file()
    ds = decoders.read_dataset(str(path))
    reference = decoders.pixel_array(ds, str(path))
    j2k = _decode_each(ds, "sample slice", reference)
    parts = [
        f"{uid.UID(ds.file_meta.TransferSyntaxUID).name} sample slice "
        f"{reference.shape[0]}x{reference.shape[1]} ({', '.join(j2k)} agree)"
    ]
    ramp = ((np.arange(32 * 40).reshape(32, 40) * 37) % 4000 - 1000).astype(np.int16)
    rle = _tiny_dataset(ramp, uid.ExplicitVRLittleEndian)
    rle.PixelData = ramp.tobytes()
    rle.compress(uid.RLELossless, ramp, encoding_plugin="pydicom", generate_instance_uid=False)
    parts.append(f"RLE round trip ({', '.join(_decode_each(rle, 'RLE image', ramp))})")
    try:
        from PIL import Image
    except ImportError:
        parts.append("JPEG baseline not tried (no Pillow to make a sample)")
    else:
        import io

        from pydicom.encaps import encapsulate

        y, x = np.mgrid[0:32, 0:48]
        gray = (x * 4 + y * 2).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(gray).save(buffer, format="JPEG", quality=95)
        jpeg = _tiny_dataset(gray, uid.JPEGBaseline8Bit)
        jpeg.PixelData = encapsulate([buffer.getvalue()])
        names = _decode_each(jpeg, "JPEG image", gray, tolerance=2.0)
        parts.append(f"JPEG baseline ({', '.join(names)})")
    return "decoded " + "; ".join(parts)


def decode_in_child(path: str, plugin: str) -> tuple[int, str, tuple, str]:
    """Child-process entry of :func:`check_decoder_processes`: (pid, plug-in, shape, sha256)."""
    from pydicom.pixels import pixel_array as decode

    from medviewer.dicom import decoders

    ds = decoders.read_dataset(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = decode(ds, decoding_plugin=plugin) if plugin else decoders.pixel_array(ds, path)
    digest = hashlib.sha256(arr.tobytes()).hexdigest()
    return os.getpid(), plugin or "default", tuple(arr.shape), digest


def check_decoder_processes(ctx: Context) -> str:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from pydicom.pixels import get_decoder

    from medviewer.dicom import decoders

    path = _sample_file()
    ds = decoders.read_dataset(str(path))
    expected = hashlib.sha256(decoders.pixel_array(ds, str(path)).tobytes()).hexdigest()
    available = get_decoder(ds.file_meta.TransferSyntaxUID).available_plugins
    isolated = [p for p in decoders.ISOLATED_PLUGINS if p in available]
    plugin = isolated[0] if isolated else ""
    start = time.perf_counter()
    try:
        context = multiprocessing.get_context("spawn")  # what the viewer's decoding uses
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            pid, used, shape, digest = pool.submit(decode_in_child, str(path), plugin).result(
                timeout=CHECK_TIMEOUT_S / 2
            )
    except BrokenProcessPool as exc:
        raise CheckFailed(
            f"the decoder process ended before it answered ({error_text(exc)})",
            "a frozen build must call multiprocessing.freeze_support() first thing in its entry "
            "script; check that security software lets medviewer start itself",
        ) from None
    if digest != expected:
        raise CheckFailed(
            f"the decoder process ({used}) decoded the sample slice to different pixels",
            f"a decoder plug-in is broken: {REINSTALL}",
        )
    return (
        f"a spawned decoder process (pid {pid}) decoded the sample slice with {used} "
        f"({shape[0]}x{shape[1]}, same pixels) in {time.perf_counter() - start:.1f} s"
    )


def check_sample(ctx: Context) -> tuple[str, dict]:
    from medviewer.dicom import load_volume, scan
    from medviewer.resources import sample_study_dir

    folder = sample_study_dir()
    _sample_file()
    result = scan([folder])
    series = result.largest_series()
    if series is None:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in result.skipped[:2])
        raise CheckFailed(
            f"no image series in the sample study {folder} ({reasons or 'nothing found'})",
            f"{REINSTALL}; the sample files are damaged",
        )
    start = time.perf_counter()
    volume = load_volume(series)
    seconds = time.perf_counter() - start
    unreadable = [w.message for w in volume.warnings if w.code == "slice_unreadable"]
    if unreadable:
        raise CheckFailed(
            f"the sample study did not load cleanly: {'; '.join(unreadable)}",
            f"{REINSTALL}; see the decoder checks above",
        )
    ctx.volume = volume
    n, rows, cols = volume.array.shape[:3]
    syntax = ", ".join(series.transfer_syntaxes)
    return (
        f"{folder.name}: {n} slices of {rows}x{cols} {volume.array.dtype} ({series.modality}, "
        f"{syntax}) loaded in {seconds:.1f} s",
        {"shape": list(volume.array.shape), "transfer_syntaxes": list(series.transfer_syntaxes)},
    )
