"""Patient identifiers seen by this process, and a logging filter that keeps them out of logs.

Library code may log file paths, DICOM values and exception texts, any of which can name a
patient. Rather than trusting every log call, every file whose header is read registers its
patient's identifying values here (:func:`register_dataset`, called by the header reader
before anything is logged about the file), and :class:`RedactFilter` on the log handlers
replaces each of them, wherever it appears in a record (message, arguments, traceback, stack),
by :data:`PLACEHOLDER`.

What is matched, ignoring case, only as a whole (not inside a longer word or number):

- each value as stored (``DOE^JOHN``, ``MV-0001``, ``19600101``);
- a person name's parts in either order with any separator (``John Doe``, ``DOE, JOHN``), and
  every part of three or more characters on its own, so a folder or file named after the
  patient (``doe_john/``) is caught too;
- a date also as ``1960-01-01``.

Values stay registered for the life of the process (at most :data:`MAX_VALUES`, oldest
forgotten first). No Qt here.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, MutableSequence

PLACEHOLDER = "[redacted]"
"""What a patient-identifying value becomes in the log."""

PHI_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "AccessionNumber",
)
"""DICOM attributes whose values are registered by :func:`register_dataset`."""

NAME_KEYWORDS = frozenset(
    {"PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName"}
)
MIN_LENGTH = 3
"""Shorter values and name parts are not redacted on their own (too many false hits)."""
MAX_VALUES = 5000

_SEPARATORS = r"[\s^,_.=-]+"
_NOT_ALNUM_BEFORE = r"(?<![^\W_])"
_NOT_ALNUM_AFTER = r"(?![^\W_])"


def _name_patterns(value: str) -> list[str]:
    """Regex fragments for a DICOM person name: whole, parts in both orders, long parts."""
    parts = [p.strip() for p in re.split(r"[\^=]", value) if p.strip()]
    out: list[str] = []
    if len(parts) > 1:
        for ordered in (parts, parts[::-1]):
            out.append(_SEPARATORS.join(re.escape(p) for p in ordered))
    out += [re.escape(p) for p in parts if len(p) >= MIN_LENGTH]
    return out


def _plain_patterns(value: str) -> list[str]:
    out = [re.escape(value)] if len(value) >= MIN_LENGTH else []
    if re.fullmatch(r"\d{8}", value):  # a DICOM date (DA): also as ISO 8601
        out.append(re.escape(f"{value[:4]}-{value[4:6]}-{value[6:]}"))
    return out


def _compile_uncached(fragments: Iterable[str]) -> re.Pattern[str]:
    """One pattern matching every fragment (longest first), kept out of ``re``'s cache.

    ``re.compile`` keeps the last 512 patterns it compiled. Every version of this pattern is a
    new, longer string (it grows with each patient), so the cache held up to 512 ever larger
    copies: about 0.5 GB after 1,000 patients, found by the fuzz harness (tests/fuzz). The
    cache is purged right after compiling; this registry keeps its own reference.
    """
    ordered = sorted(fragments, key=len, reverse=True)
    pattern = re.compile(
        f"{_NOT_ALNUM_BEFORE}(?:{'|'.join(ordered)}){_NOT_ALNUM_AFTER}", re.IGNORECASE
    )
    re.purge()
    return pattern


class PhiRegistry:
    """A thread-safe set of identifying values and the one pattern that matches them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fragments: dict[str, None] = {}  # insertion-ordered set
        self._pattern: re.Pattern[str] | None = None
        self._dirty = False  # values changed since the pattern was compiled
        self._last: tuple = ()

    def register(self, values: Iterable[str], *, names: Iterable[str] = ()) -> None:
        """Remember plain ``values`` (IDs, dates) and person ``names`` (``Family^Given``)."""
        values, names = tuple(values), tuple(names)
        if (values, names) == self._last:  # every file of a series carries the same values
            return
        fragments = []
        for v in values:
            fragments += _plain_patterns(str(v).strip())
        for n in names:
            fragments += _name_patterns(str(n))
        with self._lock:
            new = [f for f in fragments if f not in self._fragments]
            if new:
                for f in new:
                    self._fragments[f] = None
                while len(self._fragments) > MAX_VALUES:
                    del self._fragments[next(iter(self._fragments))]
                # Compiled when a log record next needs it, not for every new patient scanned.
                self._dirty = True
            self._last = (values, names)

    def _current_pattern(self) -> re.Pattern[str] | None:
        if not self._dirty:
            return self._pattern
        with self._lock:
            if self._dirty:
                self._pattern = _compile_uncached(self._fragments) if self._fragments else None
                self._dirty = False
            return self._pattern

    def redact(self, text: str) -> str:
        """``text`` with every registered value replaced by :data:`PLACEHOLDER`."""
        if not text:
            return text
        pattern = self._current_pattern()
        if pattern is None:
            return text
        return pattern.sub(PLACEHOLDER, text)

    def clear(self) -> None:
        """Forget every value (tests)."""
        with self._lock:
            self._fragments.clear()
            self._pattern = None
            self._dirty = False
            self._last = ()
            _last_seen[0] = None

    def __len__(self) -> int:
        return len(self._fragments)


REGISTRY = PhiRegistry()
"""The process-wide registry the log handlers consult."""


def _values_of(element_value) -> list[str]:
    if element_value is None:
        return []
    if isinstance(element_value, bytes):
        element_value = element_value.decode("latin-1", "replace")
    if isinstance(element_value, MutableSequence | tuple):  # pydicom's MultiValue (VM > 1)
        items = [str(v) for v in element_value]
    else:  # str, PersonName, DA...: one value, or several read raw with backslashes
        items = str(element_value).split("\\")
    out = []
    for item in items:
        text = str(item).strip("\x00 ")
        if text:
            out.append(text)
    return out


def register_dataset(ds) -> None:
    """Register the :data:`PHI_KEYWORDS` values of a pydicom-like data set (``ds.get``).

    Never raises: a value that cannot be read is skipped. Cheap when called for every file
    of a series (the same values as the call before return at once).
    """
    present = []
    for keyword in PHI_KEYWORDS:
        try:
            if keyword in ds:  # most of these are absent
                present.append((keyword, ds.get(keyword)))
        except Exception:  # a damaged value: nothing to register, nothing to redact
            continue
    if not present or present == _last_seen[0]:
        return
    values: list[str] = []
    names: list[str] = []
    for keyword, value in present:
        try:
            found = _values_of(value)
        except Exception:
            continue
        (names if keyword in NAME_KEYWORDS else values).extend(found)
    if values or names:
        REGISTRY.register(values, names=names)
    _last_seen[0] = present


_last_seen: list = [None]


def register_patient(name: str = "", patient_id: str = "", birth_date: str = "") -> None:
    """Register one patient's name (``Family^Given``), ID and birth date (``YYYYMMDD``)."""
    REGISTRY.register([v for v in (patient_id, birth_date) if v], names=[name] if name else [])


def redact(text: str) -> str:
    """``text`` with the registered patient values replaced by :data:`PLACEHOLDER`."""
    return REGISTRY.redact(text)


class RedactFilter(logging.Filter):
    """A handler filter that renders a record's message, traceback and stack, redacted.

    The record is changed in place (``msg`` becomes the final text, ``args`` None), so every
    handler after this one sees the redacted text as well. It never drops a record.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad %-arguments: keep what can be shown
            message = f"{record.msg!s} (log arguments did not fit: {record.args!r})"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


__all__ = [
    "PHI_KEYWORDS",
    "PLACEHOLDER",
    "REGISTRY",
    "PhiRegistry",
    "RedactFilter",
    "redact",
    "register_dataset",
    "register_patient",
]
