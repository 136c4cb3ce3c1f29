"""Write a loaded volume to disk: NumPy ``.npy`` or, through SimpleITK, NIfTI / NRRD / MetaImage.

Files appear atomically: everything is written under a temporary name in the destination
folder and renamed into place, so a failed or interrupted export never leaves half a file
under the requested name.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from medviewer.dicom.volume import Volume
from medviewer.errors import MedviewerError

OUTPUT_SUFFIXES: tuple[str, ...] = (".npy", ".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
"""Output formats by file name ending (``.mhd`` also writes a ``.raw`` beside it)."""
_COMPRESSED = (".nii.gz", ".nrrd", ".mha")


def output_format(path: str | os.PathLike) -> str | None:
    """The suffix in :data:`OUTPUT_SUFFIXES` that ``path`` ends with (any case), else None."""
    lower = os.fspath(path).lower()
    return next((s for s in OUTPUT_SUFFIXES if lower.endswith(s)), None)


def write_volume(volume: Volume, path: str | os.PathLike) -> str:
    """Write ``volume`` to ``path``; returns the path written.

    The voxels are written after rescale (CT in HU), ordered by increasing position along
    the slice normal; NIfTI, NRRD and MetaImage files carry spacing, origin and direction.
    Raises MedviewerError with a one-line reason for an unknown suffix, a missing output
    folder or a failed write.
    """
    path = os.fspath(path)
    kind = output_format(path)
    if kind is None:
        raise MedviewerError(
            f"cannot tell the output format of {path!r}: end it with one of "
            + ", ".join(OUTPUT_SUFFIXES)
        )
    out_dir = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(out_dir):
        raise MedviewerError(f"output folder {out_dir} does not exist")
    name = os.path.basename(path)
    try:
        staging = tempfile.mkdtemp(prefix=".medviewer-export-", dir=out_dir)
    except OSError as exc:
        raise MedviewerError(
            f"cannot write into {out_dir} ({exc.strerror or exc}); choose another folder"
        ) from exc
    try:
        target = os.path.join(staging, name)
        try:
            _write(volume, target, kind)
        except (OSError, RuntimeError, ValueError) as exc:
            reason = str(exc).strip().splitlines()
            raise MedviewerError(
                f"could not write {path} ({reason[-1] if reason else type(exc).__name__})"
            ) from exc
        # Companion files (the .raw of a .mhd) first, the named file last.
        for extra in sorted(os.listdir(staging)):
            if extra != name:
                os.replace(os.path.join(staging, extra), os.path.join(out_dir, extra))
        os.replace(target, path)
    except OSError as exc:
        raise MedviewerError(f"could not write {path} ({exc.strerror or exc})") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _write(volume: Volume, target: str, kind: str) -> None:
    if kind == ".npy":
        import numpy as np

        with open(target, "wb") as fp:
            np.save(fp, volume.array)
        return
    import SimpleITK as sitk

    sitk.WriteImage(volume.to_sitk(), target, useCompression=kind in _COMPRESSED)


__all__ = ["OUTPUT_SUFFIXES", "output_format", "write_volume"]
