"""Decode compressed pixel data with pydicom's plug-ins, keeping the process alive.

pydicom tries its plug-ins in its own order (GDCM first for JPEG, JPEG-LS and JPEG 2000) and
returns the first success. GDCM's SWIG wrapper lets some C++ exceptions escape on damaged
streams, and the process then ends in ``std::terminate`` (SIGABRT): one bad file would close
the viewer with everything in it (found by ``tests/fuzz/fuzz_dicom.py``; regression inputs in
``tests/dicom/fuzz_regressions/``). So the plug-ins that raise Python exceptions run here,
in :data:`PREFERRED_PLUGINS` order (Pillow, pylibjpeg, pydicom's own RLE), and those in
:data:`ISOLATED_PLUGINS` run only when all of those failed, in a child process: if it dies or
hangs, that file's pixels are unreadable, with a reason, and the load goes on. In the load's
own decoder processes (:func:`mark_child_process`) JPEG 2000 tries GDCM first: it is the
fastest there, and a crash there ends only that process.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import signal
import threading
import warnings

import numpy as np

from medviewer.errors import DicomError

log = logging.getLogger(__name__)

# The order plug-ins are tried in (any other installed plug-in after these, then the isolated).
# Pillow first: on lossy JPEG its IDCT gives the same pixels as GDCM (pydicom's own first
# choice), where libjpeg's differ by 1-2 levels; lossless syntaxes decode alike everywhere.
PREFERRED_PLUGINS = ("pillow", "pylibjpeg", "pydicom")
# Plug-ins that can take the whole process down on damaged data: only ever run in a child.
ISOLATED_PLUGINS = ("gdcm",)
# How long the child may take for one file before it counts as hung and is killed.
ISOLATED_TIMEOUT_S = 60.0

_in_child = False  # True in the isolated child and in the load's decoder processes


def pixel_array(ds, path: str) -> np.ndarray:
    """The decoded pixels of ``ds`` (read from ``path``), as ``ds.pixel_array`` gives them.

    Raises :class:`DicomError` (what failed, in which file) when no plug-in can decode them.
    """
    from pydicom.pixels import get_decoder
    from pydicom.pixels import pixel_array as decode
    from pydicom.uid import UID, JPEG2000TransferSyntaxes

    ts = UID(str(ds.file_meta.get("TransferSyntaxUID", "")))
    if not ts.is_encapsulated:
        return ds.pixel_array
    try:
        available = set(get_decoder(ts).available_plugins)
    except NotImplementedError:
        raise DicomError(
            f"no decoder for its transfer syntax {ts.name} ({ts}, (0002,0010)); ask the "
            "sender to export uncompressed or JPEG 2000"
        ) from None
    plugins = [p for p in PREFERRED_PLUGINS if p in available]
    plugins += sorted(available - set(plugins) - set(ISOLATED_PLUGINS))
    isolated = [p for p in ISOLATED_PLUGINS if p in available]
    if ts in JPEG2000TransferSyntaxes:
        _refuse_endless_jp2_boxes(ds)
        if _in_child and "gdcm" in isolated:
            # a decoder process, where a crash ends only that process (the load then finishes
            # the series in the main process, in the order above): JPEG 2000 goes to GDCM
            # first, the same pixels ~35 % faster (16 against 24 ms per 512 x 512 slice)
            plugins, isolated = ["gdcm", *plugins], []
    failures = []
    for name in plugins:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return decode(ds, decoding_plugin=name)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # incl. pyo3's PanicException from the Rust decoders
            log.debug("%s could not decode %s: %s", name, path, exc)
            failures.append(f"{name}: {_first_line(exc)}")
    for name in isolated:
        try:
            if _in_child:  # already a process of its own: a crash ends only this process
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return decode(ds, decoding_plugin=name)
            return _ISOLATED.decode(path, str(ts), name)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            log.debug("%s could not decode %s: %s", name, path, exc)
            failures.append(f"{name}: {_first_line(exc)}")
    raise DicomError(
        f"no decoder could read its {ts.name} pixel data (7FE0,0010), the file may be "
        f"damaged ({'; '.join(failures) or 'no decoder installed'})"
    )


JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "


def _refuse_endless_jp2_boxes(ds) -> None:
    """Raise for a JPEG 2000 frame that would make pydicom loop forever.

    pydicom 3.0's ``get_j2k_parameters``, which every plug-in's decode runs first, walks a
    frame's JP2 boxes by their lengths until the codestream box; a box of length 0 before it
    never advances (found by ``tests/fuzz/fuzz_dicom.py``), and the load would hang for good.
    This walks the boxes the same way and refuses such a frame.
    """
    from pydicom.encaps import generate_frames

    try:
        n_frames = max(1, int(ds.get("NumberOfFrames") or 1))
        frames = list(generate_frames(ds.PixelData, number_of_frames=n_frames))
    except Exception:  # damaged encapsulation: the decoders report it themselves
        return
    for k, frame in enumerate(frames):
        if not frame.startswith(JP2_SIGNATURE):
            continue
        offset = len(JP2_SIGNATURE) + 4
        while offset < len(frame):
            if frame[offset + 4 : offset + 8] == b"jp2c":
                break
            length = int.from_bytes(frame[offset : offset + 4], "big")
            if length == 0:
                raise DicomError(
                    f"its JPEG 2000 data (7FE0,0010), frame {k + 1}, has a JP2 box of length 0 "
                    f"at byte {offset}, before the codestream: the file is damaged"
                )
            offset += length


def _first_line(exc: BaseException | str) -> str:
    """The telling line of a decoder's message (pydicom puts the plug-in's reason last)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = re.sub(r" ?<[^<>]* object at 0x[0-9a-f]+>", "", lines[-1])
    if ": " in text and text.split(": ", 1)[0] in ("pylibjpeg", "pillow", "pydicom", "gdcm"):
        text = text.split(": ", 1)[1]
    return text[:100]


def read_dataset(path: str, transfer_syntax: str = ""):
    """The whole data set of ``path`` (``force``: files without preamble / file meta)."""
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
    if not ds.file_meta.get("TransferSyntaxUID") and transfer_syntax:
        ds.file_meta.TransferSyntaxUID = transfer_syntax
    return ds


def _child_main(conn) -> None:
    """The isolated child: decode (path, transfer syntax, plug-in) requests until EOF."""
    global _in_child
    _in_child = True
    from pydicom.pixels import pixel_array as decode

    while True:
        try:
            path, ts, plugin = conn.recv()
        except (EOFError, OSError):
            return
        try:
            ds = read_dataset(path, ts)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr = decode(ds, decoding_plugin=plugin)
            conn.send(("ok", np.ascontiguousarray(arr)))
        except Exception as exc:
            conn.send(("error", str(exc)))


class _IsolatedDecoder:
    """One child process, started when first needed and reused; replaced when it dies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc = None
        self._conn = None

    def decode(self, path: str, ts: str, plugin: str) -> np.ndarray:
        with self._lock:
            if self._proc is None or not self._proc.is_alive():
                self._start()
            try:
                self._conn.send((path, ts, plugin))
                if not self._conn.poll(ISOLATED_TIMEOUT_S):
                    self._stop()
                    raise DicomError(
                        f"the decoder did not finish within {ISOLATED_TIMEOUT_S:.0f} s"
                    )
                status, value = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                how = _exit_text(self._stop())
                raise DicomError(f"the decoder crashed on it ({how})") from None
        if status != "ok":
            raise DicomError(_first_line(value))
        return value

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # safe from any thread, including Qt's
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_child_main, args=(child,), daemon=True, name="mv-decoder")
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        log.debug("started the isolated decoder process (pid %s)", proc.pid)

    def _stop(self) -> int | None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            conn.close()
        if proc is None:
            return None
        proc.join(timeout=1.0)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5.0)
        return proc.exitcode

    def close(self) -> None:
        with self._lock:
            self._stop()


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


_ISOLATED = _IsolatedDecoder()


def mark_child_process() -> None:
    """Called in the load's decoder processes: isolated plug-ins may run there directly."""
    global _in_child
    _in_child = True
