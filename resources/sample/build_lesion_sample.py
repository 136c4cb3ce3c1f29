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

SOURCE = os.path.join(HERE, "cranium-ct")
DEFAULT_OUT = os.path.join(HERE, "cranium-ct-lesions")
FIRST, LAST = 26, 69
SEED = 4242
PLAN = [  # (slice in cranium-ct, kind, diameter mm)
    (32, "hyper", 14.0),
    (46, "hypo", 18.0),
    (60, "hyper", 9.0),
]


def build(out: str) -> dict:
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
    slab = slice(FIRST, LAST + 1)
    sz, sy, sx = volume.spacing
    paths = write_series(
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
    args = parser.parse_args(argv)
    info = build(args.out)
    print(f"wrote {info['files']} files, {info['bytes'] / 1e6:.1f} MB, to {args.out}")
    print("labels per slice:", info["labels"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
