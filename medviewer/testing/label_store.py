"""Label-store fixtures for tests and benchmarks, and a writer process for crash tests.

``python -m medviewer.testing.label_store write STORE START`` writes labels in a tight loop
following :func:`operation` (a fixed sequence, so a test knows what should be stored), and
prints each operation's number after its commit returned. The crash test kills it with
SIGKILL and checks that every printed operation is in the store. It imports only the label
store (no numpy, torch or Qt) so it starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from medviewer.labels.schema import SliceKey
from medviewer.labels.store import LabelStore

STUDY_UID = "1.2.826.0.1.3680043.10.1001"
SERIES_UID = "1.2.826.0.1.3680043.10.1001.1"
CLASSES = ("normal", "hyperdense_lesion", "hypodense_lesion", "uncertain")


def synthetic_keys(
    n_series: int = 1, n_slices: int = 108, *, study_uid: str = STUDY_UID, series_base: int = 1
) -> list[SliceKey]:
    """``n_series * n_slices`` slice keys with valid-looking UIDs, series by series."""
    keys = []
    for s in range(series_base, series_base + n_series):
        series = f"{study_uid}.{s}"
        keys += [SliceKey(study_uid, series, f"{series}.{k + 1}") for k in range(n_slices)]
    return keys


def fill_store(
    store: LabelStore,
    n_labels: int,
    *,
    n_slices: int = 108,
    annotator: str = "filler",
    series_base: int = 1000,
) -> list[SliceKey]:
    """Add ``n_labels`` labels in series of ``n_slices`` slices, in one transaction (a store
    that looks like months of work, for timing and scale tests); returns their keys."""
    n_series = -(-n_labels // n_slices)
    keys = synthetic_keys(n_series, n_slices, series_base=series_base)[:n_labels]
    with store.transaction("fill the store"):
        for i, key in enumerate(keys):
            store.set_label(key, CLASSES[i % len(CLASSES)], annotator=annotator)
    return keys


def temp_store(folder: str | os.PathLike, name: str = "labels.sqlite") -> LabelStore:
    """A new, empty store in ``folder``."""
    return LabelStore(Path(folder) / name)


# -- the writer process of the crash and two-instance tests -----------------------------------
def op_key(i: int) -> SliceKey:
    return SliceKey(STUDY_UID, SERIES_UID, f"{SERIES_UID}.{i + 1}")


def operation(j: int) -> tuple[str, int, str]:
    """Operation ``j`` of the writer: ``("set", key index, label)`` or ``("clear", key
    index, "")``; new keys, relabels of older ones and clears, in a fixed mix."""
    if j % 7 == 6:
        return ("clear", j - 1, "")
    if j % 5 == 4:
        return ("set", j // 2, CLASSES[(j // 3) % len(CLASSES)])
    return ("set", j, CLASSES[j % len(CLASSES)])


def expected_after(ops: Iterator[int] | range) -> dict[SliceKey, str]:
    """What the store holds for one annotator after the operations ``ops`` (in order)."""
    state: dict[SliceKey, str] = {}
    for j in ops:
        apply_operation(state, j)
    return state


def apply_operation(state: dict[SliceKey, str], j: int) -> None:
    kind, i, label = operation(j)
    if kind == "set":
        state[op_key(i)] = label
    else:
        state.pop(op_key(i), None)


def run_writer(
    path: str,
    start: int,
    count: int | None,
    annotator: str,
    go_file: str | None,
    pause_s: float = 0.0,
) -> None:
    """Perform operations ``start, start + 1, ...``, printing each number after its commit
    (``pause_s`` between operations: a person's pace rather than a tight loop)."""
    store = LabelStore(path, busy_timeout_s=30.0)
    out = sys.stdout
    if go_file:
        out.write("ready\n")
        out.flush()
        while not os.path.exists(go_file):
            time.sleep(0.002)
    j = start
    while count is None or j < start + count:
        kind, i, label = operation(j)
        if kind == "set":
            store.set_label(op_key(i), label, annotator=annotator)
        else:
            store.clear_label(op_key(i), annotator=annotator)
        out.write(f"{j}\n")
        out.flush()
        j += 1
        if pause_s:
            time.sleep(pause_s)
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medviewer.testing.label_store")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="write labels in a loop, printing each committed one")
    w.add_argument("store")
    w.add_argument("start", type=int)
    w.add_argument("--count", type=int, default=None)
    w.add_argument("--annotator", default="writer")
    w.add_argument("--go-file", default=None, help="print 'ready', wait for this file")
    w.add_argument("--pause-ms", type=float, default=0.0, help="pause between operations")
    args = parser.parse_args(argv)
    run_writer(
        args.store, args.start, args.count, args.annotator, args.go_file, args.pause_ms / 1000
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
