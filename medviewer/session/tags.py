"""Every DICOM element of one file as a tree of plain nodes (the tag browser's data, no Qt).

The file is parsed with pydicom and ``defer_size``: values larger than 1 KB (pixel data above
all) are skipped on disk, never read into memory, and shown by their size. Text values are
shortened for display; sequences become nodes whose children are the items ("Item 1", ...)
holding that item's elements.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from medviewer.errors import DicomError
from medviewer.jobs import Job, Progress
from medviewer.phi import register_dataset

log = logging.getLogger(__name__)

MAX_VALUE_CHARS = 200
DEFER_SIZE = "1 KB"
MAX_DEFERRED_TEXT = 64 * 1024
"""A deferred (over 1 KB) text value up to this size is read back for display."""

BINARY_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN", "OB or OW", "US or OW", "US or SS or OW"}
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC"}
TEXT_VRS |= {"UI", "UR", "UT"}
PIXEL_TAGS = {0x7FE00008, 0x7FE00009, 0x7FE00010}
UNDEFINED_LENGTH = 0xFFFFFFFF
ITEM_TAG = "(FFFE,E000)"


@dataclass
class TagNode:
    """One element (or one sequence item) as the tag browser shows it."""

    tag: str
    """``"(0008,0060)"``; ``"(FFFE,E000)"`` (the Item tag) for a sequence item."""
    keyword: str
    """``"Modality"``; the dictionary name for private tags; ``"Item 1"`` for an item."""
    vr: str
    value: str
    """Human-readable and shortened; binary values as ``"<N bytes>"``."""
    children: list[TagNode] = field(default_factory=list)

    @property
    def is_item(self) -> bool:
        return self.tag == ITEM_TAG

    @property
    def compact_tag(self) -> str:
        """``"00080060"``: the tag as eight hex digits, lower case."""
        return self.tag.strip("()").replace(",", "").lower()

    @cached_property
    def search_text(self) -> str:
        """What a search looks in: tag in both forms, keyword, value; lower case."""
        return f"{self.tag}\0{self.compact_tag}\0{self.keyword}\0{self.value}".lower()

    @cached_property
    def subtree_text(self) -> str:
        """:attr:`search_text` of this node and everything below it (prunes searches)."""
        if not self.children:
            return self.search_text
        return "\0".join([self.search_text, *(child.subtree_text for child in self.children)])

    def count(self) -> int:
        """This node and everything below it."""
        return 1 + sum(child.count() for child in self.children)


# -- reading --------------------------------------------------------------------------------
def _format_tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _shorten(text: str) -> str:
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    if len(text) > MAX_VALUE_CHARS:
        return text[: MAX_VALUE_CHARS - 1] + "…"
    return text


def _size(n: int) -> str:
    return f"<{n} byte{'s' if n != 1 else ''}>"


def _value_text(value, vr: str) -> str:
    from pydicom.multival import MultiValue

    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _size(len(value))
    if isinstance(value, (list, tuple, MultiValue)):
        parts = []
        total = 0
        for item in value:  # stop early: a LUT can hold thousands of numbers
            text = _value_text(item, vr)
            parts.append(text)
            total += len(text) + 1
            if total > MAX_VALUE_CHARS:
                break
        text = "\\".join(parts)
        if len(parts) < len(value):
            text += "\\…"
        return _shorten(text)
    return _shorten(str(value))


def _item_node(index: int, dataset) -> TagNode:
    children = _dataset_nodes(dataset)
    n = len(children)
    return TagNode(
        ITEM_TAG, f"Item {index}", "", f"{n} element{'s' if n != 1 else ''}", children=children
    )


def _element_node(dataset, tag: int) -> TagNode:
    from pydicom.dataelem import RawDataElement

    raw = dataset.get_item(tag, keep_deferred=True)
    tag_text = _format_tag(tag)
    vr = str(raw.VR or "")
    deferred = isinstance(raw, RawDataElement) and raw.value is None and raw.length > 0
    if deferred or tag in PIXEL_TAGS:
        keyword, name_vr = _dictionary_entry(tag)
        vr = vr or name_vr
        length = getattr(raw, "length", None)
        # sequences are always read (enhanced multi-frame headers hold megabytes of them);
        # text only up to MAX_DEFERRED_TEXT; binary and numeric arrays never
        text_ok = vr in TEXT_VRS and not (deferred and length > MAX_DEFERRED_TEXT)
        if tag in PIXEL_TAGS or not (vr == "SQ" or text_ok):
            if length == UNDEFINED_LENGTH:
                value = "<encapsulated data>"
            elif deferred:
                value = _size(length)
            else:
                value = _size(len(raw.value or b""))
            return TagNode(tag_text, keyword, vr, value)
    try:
        elem = dataset[tag]  # converts the raw bytes (reads a deferred text / sequence value)
    except Exception as exc:  # one malformed value must not hide the others
        log.debug("element %s could not be converted", tag_text, exc_info=True)
        keyword, name_vr = _dictionary_entry(tag)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return TagNode(tag_text, keyword, vr or name_vr, _shorten(f"<unreadable: {reason}>"))
    vr = str(elem.VR or vr)
    keyword = elem.keyword or elem.name
    if vr == "SQ":
        items = [_item_node(i, item) for i, item in enumerate(elem.value or [], start=1)]
        n = len(items)
        return TagNode(tag_text, keyword, vr, f"{n} item{'s' if n != 1 else ''}", items)
    if vr in BINARY_VRS and isinstance(elem.value, (bytes, bytearray)):
        return TagNode(tag_text, keyword, vr, _size(len(elem.value)))
    return TagNode(tag_text, keyword, vr, _value_text(elem.value, vr))


def _dictionary_entry(tag: int) -> tuple[str, str]:
    from pydicom.datadict import dictionary_description, dictionary_keyword, dictionary_VR

    try:
        return dictionary_keyword(tag) or dictionary_description(tag), dictionary_VR(tag)
    except KeyError:
        return ("Private tag data" if (tag >> 16) % 2 else "Unknown"), ""


def _dataset_nodes(dataset, skip_group: int | None = None) -> list[TagNode]:
    nodes = []
    for tag in sorted(dataset.keys()):
        if skip_group is not None and tag >> 16 == skip_group:
            continue
        nodes.append(_element_node(dataset, int(tag)))
    return nodes


def _looks_like_raw_dataset(head: bytes) -> bool:
    """A data set without the 128-byte preamble starts with group 0002 or 0008."""
    if len(head) < 8:
        return False
    little = int.from_bytes(head[:2], "little")
    big = int.from_bytes(head[:2], "big")
    return little in (0x0002, 0x0008) or big in (0x0002, 0x0008)


def read_tags(path: str | os.PathLike) -> list[TagNode]:
    """All elements of ``path``: the File Meta group (0002) first, then the data set.

    Pixel data is never read, let alone decoded. Raises :class:`DicomError` with a one-line
    reason for a file that is missing, unreadable or not DICOM.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = os.fspath(path)
    name = os.path.basename(path) or path
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fp:
            preamble = fp.read(132)
    except OSError as exc:
        raise DicomError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise DicomError(f"{name} is empty (0 bytes): not a DICOM file")
    if preamble[128:132] != b"DICM" and not _looks_like_raw_dataset(preamble[:8]):
        raise DicomError(f"{name} is not a DICOM file (no 'DICM' marker at byte 128)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's value warnings: not the user's concern
            try:
                ds = pydicom.dcmread(path, defer_size=DEFER_SIZE)
            except InvalidDicomError:
                ds = pydicom.dcmread(path, defer_size=DEFER_SIZE, force=True)
            register_dataset(ds)  # before any value of it can reach a log (medviewer.phi)
            meta = getattr(ds, "file_meta", None)
            nodes = _dataset_nodes(meta) if meta is not None else []
            nodes += _dataset_nodes(ds, skip_group=0x0002 if nodes else None)
    except DicomError:
        raise
    except Exception as exc:
        log.debug("reading the tags of %s failed", path, exc_info=True)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DicomError(f"cannot read the tags of {name}: {reason[:200]}") from exc
    if not nodes:
        raise DicomError(f"{name} holds no DICOM elements")
    for node in nodes:
        _ = node.subtree_text  # built here (a worker thread), not on the first search
    return nodes


def read_tags_iter(path: str | os.PathLike) -> Job[list[TagNode]]:
    """:func:`read_tags` as a job, so the Qt layer can run it on a worker thread."""
    nodes = read_tags(path)
    yield Progress(1, 1, f"read {len(nodes)} elements", detail=nodes)
    return nodes


# -- filtering and copying -------------------------------------------------------------------
_TAG_PUNCTUATION = re.compile(r"[\s(),]")
_HEX = re.compile(r"[0-9a-f]+")


def _matcher(query: str):
    """``hit(text)``: whether a node's (or a subtree's) search text matches ``query``."""
    q = query.strip().lower()
    compact = _TAG_PUNCTUATION.sub("", q)
    tag_query = compact if len(compact) >= 4 and _HEX.fullmatch(compact) else None
    if tag_query is None or tag_query == q:
        return lambda text: q in text
    return lambda text: q in text or tag_query in text


def filter_tags(nodes: Iterable[TagNode], query: str) -> list[TagNode]:
    """Nodes matching ``query`` (case-insensitive) by keyword, tag or value text.

    A tag may be written ``0008,0060``, ``(0008,0060)`` or ``00080060`` (or a prefix such as
    ``0008``). A node that matches keeps all its children; a match inside a sequence keeps its
    ancestors (with only the matching branches). An empty query returns every node. The input
    is never modified.
    """
    nodes = list(nodes)
    if not query.strip():
        return nodes
    hit = _matcher(query)

    def keep(node: TagNode) -> TagNode | None:
        if not hit(node.subtree_text):
            return None  # nothing in this branch: no need to look inside
        if hit(node.search_text):
            return node
        kept = []
        for child in node.children:
            k = keep(child)
            if k is not None:
                kept.append(k)
        return TagNode(node.tag, node.keyword, node.vr, node.value, kept) if kept else None

    out = []
    for node in nodes:
        k = keep(node)
        if k is not None:
            out.append(k)
    return out


def node_to_text(node: TagNode, indent: int = 0) -> str:
    """``tag<TAB>keyword<TAB>VR<TAB>value`` lines, children indented two spaces a level."""
    pad = "  " * indent
    lines = [f"{pad}{node.tag}\t{node.keyword}\t{node.vr}\t{node.value}"]
    lines += [node_to_text(child, indent + 1) for child in node.children]
    return "\n".join(lines)


def nodes_to_text(nodes: Iterable[TagNode], indent: int = 0) -> str:
    return "\n".join(node_to_text(node, indent) for node in nodes)


__all__ = [
    "TagNode",
    "filter_tags",
    "node_to_text",
    "nodes_to_text",
    "read_tags",
    "read_tags_iter",
]
