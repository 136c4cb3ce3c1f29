"""Build the demonstration study with synthetic lesions from the bundled sample head CT.

    python resources/sample/build_lesion_sample.py [--out resources/sample/cranium-ct-lesions]

Takes slices 26-69 of ``cranium-ct`` (the same real head), adds three synthetic focal lesions
with :mod:`medviewer.ai.lesions` (seeded, so the result is always the same), and writes:

* ``cranium-ct-lesions/``: a 44-slice DICOM CT series (JPEG 2000 lossless, its own study and
  patient UIDs, ImageType DERIVED, an ImageComments note saying the lesions are synthetic);
* ``cranium-ct-lesions-truth.npz``: the ground truth — ``mask`` (slices, rows, cols; 0 none,
  1 hyperdense, 2 hypodense), ``labels`` per slice (0 normal, 1 hyperdense_lesion,
  2 hypodense_lesion, -1 ambiguous cut), ``first_slice`` (its position in ``cranium-ct``) and
  the lesion table.

Parts of the first two lesions lie in slices the bundled model never trained on (its test
split, 35-43); lesion-free slices lie between them. It is the study the README's heat-map
screenshot shows and the bundled model's regression test reads.

The head is not lesion-free to begin with: its own chronic right frontal lesion
(:mod:`medviewer.ai.host_lesion`, slices 55-82 of ``cranium-ct``, so 29-43 here) is real.
The ground truth includes it (``host_lesion``, and in ``mask`` and ``labels`` as hypodense,
by the same largest-cut rule as the synthetic lesions).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

from build_sample import write_series  # noqa: E402

from medviewer.ai import lesions as L  # noqa: E402
from medviewer.ai.host_lesion import lesion_mask  # noqa: E402

SOURCE = os.path.join(HERE, "cranium-ct")
DEFAULT_OUT = os.path.join(HERE, "cranium-ct-lesions")
FIRST, LAST = 26, 69
SEED = 4242
PLAN = [  # (slice in cranium-ct, kind, diameter mm)
    (32, "hyper", 14.0),
    (46, "hypo", 18.0),
    (60, "hyper", 9.0),
]


def with_host_lesion(mask, labels, real, pixel_mm2: float):
    """The synthetic lesions' (mask, labels) with the head's own lesion ``real`` (bool, same
    shape) added as hypodense where no synthetic lesion lies; each slice's label is the class
    of its largest lesion cut (a kind's cut counted from the mask), ambiguous under
    :data:`lesions.MIN_CUT_MM2`."""
    mask = mask.copy()
    mask[(mask == 0) & real] = L.KIND_CLASS["hypo"]
    out = []
    for k, label in enumerate(labels):
        cuts = {
            L.KIND_CLASS["hyper"]: float((mask[k] == L.KIND_CLASS["hyper"]).sum()) * pixel_mm2,
            L.KIND_CLASS["hypo"]: float((mask[k] == L.KIND_CLASS["hypo"]).sum()) * pixel_mm2,
        }
        largest = max(cuts.values())
        if not real[k].any():
            out.append(int(label))
        elif largest < L.MIN_CUT_MM2:
            out.append(L.IGNORE)
        else:
            out.append(max(cuts, key=cuts.get))
    return mask, out


def build(out: str, truth_only: bool = False) -> dict:
    from medviewer.dicom.scan import scan
    from medviewer.dicom.volume import load_volume

    result = scan([SOURCE])
    series = [s for st in result.studies for s in st.series]
    volume = load_volume(series[0])
    anatomy = L.Anatomy.from_volume(volume.array, volume.spacing)
    rng = np.random.default_rng(SEED)
    hu, mask, labels, lesions = L.lesion_volume(rng, anatomy, PLAN)
    if len(lesions) != len(PLAN):
        raise SystemExit("a planned lesion found no parenchyma; change PLAN")
    real = lesion_mask(volume.array, volume.spacing)
    mask, labels = with_host_lesion(mask, labels, real, anatomy.pixel_mm2)
    slab = slice(FIRST, LAST + 1)
    sz, sy, sx = volume.spacing
    paths = [] if truth_only else write_series(
        hu[slab],
        (sx, sy, sz),
        out,
        salt="medviewer-sample-cranium-lesions",
        patient=("Anonymous^Cranium^Lesions", "MV-SAMPLE-0002"),
        study="Head CT with synthetic lesions (demonstration)",
        series="Axial head 1.5 mm, synthetic lesions",
        first_slice=FIRST,
        comment="SYNTHETIC LESIONS added by medviewer for demonstration; not a real finding",
    )
    table = np.array(
        [
            (
                float(le.center[0]) - FIRST,
                float(le.center[1]),
                float(le.center[2]),
                le.diameter_mm,
                le.delta_hu,
                1 if le.kind == "hyper" else 2,
            )
            for le in lesions
        ]
    )
    np.savez_compressed(
        out.rstrip("/") + "-truth.npz",
        mask=mask[slab],
        labels=np.array(labels[slab]),
        host_lesion=real[slab],
        first_slice=FIRST,
        lesions=table,
        lesion_columns=np.array(["slice", "row", "col", "diameter_mm", "delta_hu", "kind"]),
    )
    return {
        "files": len(paths),
        "bytes": sum(os.path.getsize(p) for p in paths),
        "labels": labels[slab],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument(
        "--truth-only", action="store_true", help="rewrite the ground truth, not the DICOM files"
    )
    args = parser.parse_args(argv)
    info = build(args.out, truth_only=args.truth_only)
    print(f"wrote {info['files']} files, {info['bytes'] / 1e6:.1f} MB, to {args.out}")
    print("labels per slice:", info["labels"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
