"""Coverage-guided fuzzing of scan + assemble + load with atheris (libFuzzer for Python).

    .venv/bin/python tests/fuzz/fuzz_dicom.py --seeds CORPUS      # write the seed corpus
    .venv/bin/python tests/fuzz/fuzz_dicom.py CORPUS -runs=10000 -timeout=10 \\
        -rss_limit_mb=3072 -artifact_prefix=FINDINGS/            # fuzz (libFuzzer flags)
    .venv/bin/python tests/fuzz/fuzz_dicom.py FINDINGS/crash-...  # replay one input

``make fuzz`` runs a long session into ``benchmarks/data/fuzz/`` (git-ignored). medviewer's
and pydicom's bytecode is instrumented, so the fuzzer follows new branches in both. Each input
goes through ``dicom_harness.check_input`` in a fresh temporary folder; what counts as a
finding is said there. ``--as-limit-mb`` (default 4096) caps the address space, so a header
that makes the core allocate gigabytes fails fast with MemoryError (a finding) instead of
swapping the machine. libFuzzer's ``rss:`` column shows memory growth (how the redaction
registry's regex cache was found, ``tests/test_phi_memory.py``); ``--memory-report=N`` traces
Python allocations (tracemalloc, several times slower) and prints every N inputs what grew.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import sys
import tempfile

import atheris

WORK_PREFIX = "medviewer-fuzz-"
_harness = None
_work = ""


_report_every = 0
_count = 0
_snapshot = None


def test_one_input(data: bytes) -> None:
    global _count
    _harness.check_input(data, os.path.join(_work, "in"))
    _count += 1
    if _report_every and _count % _report_every == 0:
        _memory_report()


def _memory_report() -> None:
    """``--memory-report=N``: every N inputs, Python objects, traced memory and its growth."""
    global _snapshot
    import gc
    import tracemalloc

    snapshot = tracemalloc.take_snapshot()
    current, _peak = tracemalloc.get_traced_memory()
    print(
        f"MEMORY after {_count} inputs: {len(gc.get_objects())} objects, "
        f"{current / 2**20:.1f} MiB traced",
        file=sys.stderr,
    )
    if _snapshot is not None:
        for stat in snapshot.compare_to(_snapshot, "traceback")[:5]:
            print(f"  {stat}", file=sys.stderr)
            for line in stat.traceback.format()[-6:]:
                print(f"    {line}", file=sys.stderr)
    _snapshot = snapshot


def _import_instrumented():
    """Import the core with atheris' coverage instrumentation (medviewer and pydicom).

    Only in the fuzzing process: the decoder child processes the core starts (spawn) import
    this file again as ``__mp_main__`` and must not pay for instrumenting.
    """
    global _harness
    with atheris.instrument_imports(include=["medviewer", "pydicom"]):
        import pydicom  # noqa: F401
        import pydicom.pixels  # noqa: F401

        import medviewer.dicom  # noqa: F401
        import medviewer.session.study  # noqa: F401
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dicom_harness

    _harness = dicom_harness


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _work_folder() -> str:
    """This process's scratch folder; those of fuzzers that ended are removed first.

    libFuzzer ends the process with ``exit()`` from C, so Python's ``atexit`` never runs:
    the folder is named after the pid and cleaned by the next run instead.
    """
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        if name.startswith(WORK_PREFIX) and name[len(WORK_PREFIX) :].isdigit():
            pid = int(name[len(WORK_PREFIX) :])
            if pid != os.getpid() and not _alive(pid):
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    path = os.path.join(root, f"{WORK_PREFIX}{os.getpid()}")
    os.makedirs(path, exist_ok=True)
    return path


def main(argv: list[str]) -> None:
    logging.disable(logging.CRITICAL)  # the core's debug logs are not findings
    # The Rust decoders' panics are caught (slice_unreadable); their backtraces are noise.
    os.environ["RUST_BACKTRACE"] = "0"
    _import_instrumented()
    if len(argv) == 3 and argv[1] == "--seeds":
        n = _harness.write_seeds(argv[2])
        print(f"wrote {n} seed inputs into {argv[2]}")
        return
    global _report_every
    limit_mb = 4096
    for arg in list(argv):
        if arg.startswith("--as-limit-mb="):
            limit_mb = int(arg.split("=", 1)[1])
            argv.remove(arg)
        elif arg.startswith("--memory-report="):
            _report_every = int(arg.split("=", 1)[1])
            argv.remove(arg)
    if _report_every:
        import tracemalloc

        tracemalloc.start(12)
    global _work
    _work = _work_folder()
    if limit_mb > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
