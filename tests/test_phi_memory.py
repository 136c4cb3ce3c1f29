"""The redaction registry stays small and cheap over a day of new patients.

Found while fuzzing scan + load (tests/fuzz): every scanned file with new patient values
recompiled one regular expression of all values seen, and ``re``'s own cache kept the last
512 versions of it, each longer than the one before: about 0.5 GB after 1,000 patients.
"""

import gc
import weakref

from medviewer import phi


def _patient(i: int) -> tuple[str, str, str]:
    return f"PATIENT{i:04d}^GIVEN{i:04d}", f"MV-{i:06d}", f"19{i % 100:02d}0101"


def test_registering_compiles_nothing_until_a_log_record_needs_it(monkeypatch):
    registry = phi.PhiRegistry()
    compiled = []
    real = phi._compile_uncached

    def counting(fragments):
        compiled.append(len(fragments))
        return real(fragments)

    monkeypatch.setattr(phi, "_compile_uncached", counting)
    for i in range(300):  # a scan of 300 patients' files, nothing logged
        name, pid, birth = _patient(i)
        registry.register([pid, birth], names=[name])
    assert compiled == []
    assert registry.redact("opened PATIENT0007^GIVEN0007 (MV-000007)") == (
        "opened [redacted] ([redacted])"
    )
    assert len(compiled) == 1
    registry.redact("MV-000299 again")  # nothing new: the same pattern
    assert len(compiled) == 1
    registry.register(["MV-999999"], names=["NEW^PATIENT"])
    assert registry.redact("NEW^PATIENT MV-999999") == "[redacted] [redacted]"
    assert len(compiled) == 2


def test_replaced_patterns_are_freed():
    registry = phi.PhiRegistry()
    registry.register(["MV-000001"], names=["FIRST^PATIENT"])
    assert registry.redact("FIRST^PATIENT") == "[redacted]"
    first = weakref.ref(registry._pattern)
    for i in range(2, 40):
        name, pid, birth = _patient(i)
        registry.register([pid, birth], names=[name])
        assert registry.redact(f"{pid} {name}") == "[redacted] [redacted]"
    gc.collect()
    assert first() is None  # not kept alive by the re module's cache of compiled patterns
    assert registry.redact("FIRST^PATIENT MV-000001") == "[redacted] [redacted]"  # still known
