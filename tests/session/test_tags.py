"""The tag tree of a file: reading, filtering by keyword / tag / value, copying."""

import pytest
from pydicom.data import get_testdata_file

from medviewer.errors import DicomError
from medviewer.session.tags import (
    TagNode,
    filter_tags,
    node_to_text,
    nodes_to_text,
    read_tags,
    read_tags_iter,
)


def data_file(name: str) -> str:
    path = get_testdata_file(name, download=False)  # never the network
    assert path is not None, f"{name} is not among pydicom's test files"
    return path


@pytest.fixture(scope="module")
def ct_tags() -> list[TagNode]:
    return read_tags(data_file("CT_small.dcm"))


@pytest.fixture(scope="module")
def plan_tags() -> list[TagNode]:
    return read_tags(data_file("rtplan.dcm"))


def by_tag(nodes, tag):
    return next(n for n in nodes if n.tag == tag)


def test_file_meta_first_then_dataset_in_tag_order(ct_tags):
    tags = [n.tag for n in ct_tags]
    assert tags[0].startswith("(0002,")
    meta = [t for t in tags if t.startswith("(0002,")]
    assert tags[: len(meta)] == meta
    assert "(0002,0010)" in meta  # TransferSyntaxUID
    rest = tags[len(meta) :]
    assert rest == sorted(rest)
    assert len(set(tags)) == len(tags)


def test_values_are_readable_and_pixel_data_is_only_a_size(ct_tags):
    modality = by_tag(ct_tags, "(0008,0060)")
    assert (modality.keyword, modality.vr, modality.value) == ("Modality", "CS", "CT")
    assert by_tag(ct_tags, "(0010,0010)").value == "CompressedSamples^CT1"
    assert by_tag(ct_tags, "(0028,0010)").value == "128"  # Rows
    position = by_tag(ct_tags, "(0020,0032)").value  # ImagePositionPatient, multi-valued
    assert position.count("\\") == 2
    pixels = by_tag(ct_tags, "(7FE0,0010)")
    assert pixels.keyword == "PixelData"
    assert pixels.value == "<32768 bytes>"
    version = by_tag(ct_tags, "(0002,0001)")  # OB FileMetaInformationVersion
    assert version.value == "<2 bytes>"
    assert all(len(n.value) <= 200 for n in ct_tags)


def test_compressed_pixel_data_is_never_read():
    nodes = read_tags(data_file("emri_small_jpeg_2k_lossless.dcm"))
    assert by_tag(nodes, "(7FE0,0010)").value == "<encapsulated data>"


def test_sequences_become_items_with_their_elements(plan_tags):
    beams = by_tag(plan_tags, "(300A,00B0)")
    assert (beams.keyword, beams.vr, beams.value) == ("BeamSequence", "SQ", "1 item")
    (item,) = beams.children
    assert item.is_item and item.keyword == "Item 1"
    name = by_tag(item.children, "(300A,00C2)")
    assert (name.keyword, name.value) == ("BeamName", "Field 1")
    doses = by_tag(plan_tags, "(300A,0010)")
    assert [c.keyword for c in doses.children] == ["Item 1", "Item 2"]
    # nested sequence inside an item
    fractions = by_tag(plan_tags, "(300A,0070)")
    nested = by_tag(fractions.children[0].children, "(300C,0004)")
    assert nested.vr == "SQ" and nested.children[0].children


def test_enhanced_ct_functional_groups_are_nested():
    nodes = read_tags(data_file("eCT_Supplemental.dcm"))
    shared = next(n for n in nodes if n.keyword == "SharedFunctionalGroupsSequence")
    assert shared.children and shared.children[0].children
    per_frame = next(n for n in nodes if n.keyword == "PerFrameFunctionalGroupsSequence")
    assert [c.keyword for c in per_frame.children] == ["Item 1", "Item 2"]


def test_empty_query_returns_everything(ct_tags):
    assert filter_tags(ct_tags, "") == ct_tags
    assert filter_tags(ct_tags, "   ") == ct_tags


@pytest.mark.parametrize("query", ["modality", "MODALITY", "0008,0060", "(0008,0060)", "00080060"])
def test_filter_by_keyword_and_every_tag_form(ct_tags, query):
    kept = filter_tags(ct_tags, query)
    assert "(0008,0060)" in [n.tag for n in kept]
    assert len(kept) < len(ct_tags) / 10


def test_filter_by_value_text(ct_tags):
    kept = filter_tags(ct_tags, "compressedsamples^ct1")
    assert [n.keyword for n in kept] == ["PatientName"]


def test_filter_by_group_prefix(ct_tags):
    kept = filter_tags(ct_tags, "(0028,")
    assert kept and all(n.tag.startswith("(0028,") for n in kept)


def test_match_inside_a_sequence_keeps_its_ancestors_only(plan_tags):
    kept = filter_tags(plan_tags, "BeamName")
    assert [n.keyword for n in kept] == ["BeamSequence"]
    (item,) = kept[0].children
    assert [c.keyword for c in item.children] == ["BeamName"]
    # the original tree is untouched
    assert len(by_tag(plan_tags, "(300A,00B0)").children[0].children) > 1


def test_tag_number_inside_a_sequence(plan_tags):
    kept = filter_tags(plan_tags, "300a,00c2")
    assert [n.keyword for n in kept] == ["BeamSequence"]


def test_matching_sequence_keeps_all_its_children(plan_tags):
    kept = filter_tags(plan_tags, "DoseReferenceSequence")
    (dose,) = [n for n in kept if n.keyword == "DoseReferenceSequence"]
    assert len(dose.children) == 2
    assert len(dose.children[0].children) == 7


def test_no_match_gives_nothing(ct_tags):
    assert filter_tags(ct_tags, "no such element anywhere") == []


def test_node_to_text_is_tab_separated_with_indented_children(plan_tags):
    beams = by_tag(plan_tags, "(300A,00B0)")
    text = node_to_text(beams)
    lines = text.splitlines()
    assert lines[0] == "(300A,00B0)\tBeamSequence\tSQ\t1 item"
    assert lines[1].startswith("  (FFFE,E000)\tItem 1\t")
    assert "    (300A,00C2)\tBeamName\tLO\tField 1" in lines
    assert len(lines) == beams.count()
    assert node_to_text(beams, indent=2).startswith("    (300A,00B0)")
    assert nodes_to_text(plan_tags[:2]).count("\n") == 1


def test_long_values_are_shortened():
    node = read_tags(data_file("CT_small.dcm"))
    assert max(len(n.value) for n in node) <= 200


def test_not_dicom_raises_a_one_line_dicom_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Patient seen on Tuesday.\n" * 20)
    with pytest.raises(DicomError) as info:
        read_tags(path)
    assert "not a DICOM file" in str(info.value) and "\n" not in str(info.value)


def test_empty_and_missing_files_raise(tmp_path):
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(DicomError, match="empty"):
        read_tags(empty)
    with pytest.raises(DicomError, match="cannot read"):
        read_tags(tmp_path / "missing.dcm")


def test_truncated_file_shows_what_is_there(tmp_path, plan_tags):
    data = open(data_file("rtplan.dcm"), "rb").read()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[:700])
    nodes = read_tags(path)
    assert nodes[0].tag == "(0002,0000)"
    assert 6 < len(nodes) < len(plan_tags)


def test_read_tags_iter_returns_the_nodes():
    job = read_tags_iter(data_file("CT_small.dcm"))
    step = next(job)
    assert step.done == step.total == 1
    with pytest.raises(StopIteration) as stop:
        next(job)
    assert stop.value.value == step.detail
    assert step.detail[0].tag == "(0002,0000)"


@pytest.fixture(scope="module")
def many_frames(tmp_path_factory):
    """An enhanced-style header: a per-frame sequence far over the 1 KB deferral size."""
    import pydicom
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    items = []
    for i in range(1000):
        content = Dataset()
        content.FrameAcquisitionNumber = i
        content.StackID = "1"
        content.FrameComments = f"frame {i:04d} of the synthetic series"
        item = Dataset()
        item.FrameContentSequence = [content]
        items.append(item)
    ds.PerFrameFunctionalGroupsSequence = items
    path = tmp_path_factory.mktemp("mf") / "many_frames.dcm"
    ds.save_as(path)
    return path


@pytest.fixture(scope="module")
def frame_tags(many_frames):
    return read_tags(many_frames)


def test_big_sequences_are_read_whole(many_frames, frame_tags):
    nodes = frame_tags
    per_frame = next(n for n in nodes if n.keyword == "PerFrameFunctionalGroupsSequence")
    assert per_frame.value == "1000 items" and len(per_frame.children) == 1000
    last = per_frame.children[-1].children[0].children[0].children
    assert [c.keyword for c in last] == ["StackID", "FrameAcquisitionNumber", "FrameComments"]
    assert last[2].value == "frame 0999 of the synthetic series"
    assert many_frames.stat().st_size > 100_000  # the sequence was deferred: read back whole


def brute_force(nodes, query):
    """The same filter without pruning, for comparison."""
    q = query.lower()

    def hit(n):
        return q in n.tag.lower() or q in n.keyword.lower() or q in n.value.lower()

    def keep(n):
        if hit(n):
            return n
        kept = [k for k in map(keep, n.children) if k is not None]
        return TagNode(n.tag, n.keyword, n.vr, n.value, kept) if kept else None

    return [k for k in map(keep, nodes) if k is not None]


@pytest.mark.parametrize("query", ["frame 0999", "StackID", "modality", "Item 7", "of the", "x"])
def test_pruned_filter_equals_brute_force(frame_tags, query):
    nodes = frame_tags
    assert nodes_to_text(filter_tags(nodes, query)) == nodes_to_text(brute_force(nodes, query))


def test_deep_match_by_tag_number(frame_tags):
    nodes = frame_tags
    kept = filter_tags(nodes, "(0020,9128)")  # TemporalPositionIndex: absent
    assert kept == []
    kept = filter_tags(nodes, "00209056")  # StackID, three levels down, in every frame
    (per_frame,) = kept
    assert len(per_frame.children) == 1000
    assert per_frame.children[0].children[0].children[0].children[0].keyword == "StackID"
