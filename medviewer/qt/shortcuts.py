"""Every keyboard shortcut and mouse gesture of the viewer, in one place.

Menus, toolbars, views and the help dialog all read this table, so a key is defined once
and the help can never disagree with the code. ``keys`` is in Qt's portable text format
(``"Ctrl+Shift+O"``); mouse gestures have no key and are documented in ``mouse``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from PySide6 import QtCore, QtGui

FILE = "File"
NAVIGATION = "Slices"
WINDOW = "Window / level"
VIEW = "View"
READING = "Reading layouts"
CINE = "Cine"
MEASURE = "Measurements"
TOOLS = "Tools and help"
AI = "AI"
WORKLIST = "Worklist"
NETWORK = "Network"
LABELING = "Labeling"

GROUPS: tuple[str, ...] = (
    FILE,
    NAVIGATION,
    WINDOW,
    VIEW,
    READING,
    CINE,
    MEASURE,
    AI,
    WORKLIST,
    NETWORK,
    LABELING,
    TOOLS,
)


@dataclass(frozen=True)
class Shortcut:
    """One thing the user can do from the keyboard (``keys``) and/or the mouse (``mouse``)."""

    action_id: str
    keys: str
    description: str
    group: str
    mouse: str = ""
    also: str = ""
    """A second key for the same action (Ctrl+Y beside Ctrl+Shift+Z for redo)."""

    def key_sequence(self) -> QtGui.QKeySequence:
        return QtGui.QKeySequence(self.keys) if self.keys else QtGui.QKeySequence()

    def key_sequences(self) -> list[QtGui.QKeySequence]:
        """Every key of the entry: ``keys``, then ``also``."""
        return [QtGui.QKeySequence(k) for k in (self.keys, self.also) if k]

    def display_keys(self) -> str:
        """What the help shows: native key names, then the mouse gesture."""
        parts = []
        native = QtGui.QKeySequence.SequenceFormat.NativeText
        if self.keys:
            parts.append(" or ".join(s.toString(native) for s in self.key_sequences()))
        if self.mouse:
            parts.append(self.mouse)
        return " / ".join(parts)


def _presets() -> list[Shortcut]:
    return [
        Shortcut(
            f"window.preset_{i}",
            str(i),
            f"Window/level preset {i} (in the order of the window list)",
            WINDOW,
        )
        for i in range(1, 10)
    ]


SHORTCUTS: tuple[Shortcut, ...] = (
    # File
    Shortcut("file.open_folder", "Ctrl+O", "Open a folder of DICOM files", FILE),
    Shortcut("file.open_files", "Ctrl+Shift+O", "Open DICOM files", FILE),
    Shortcut("file.open_dicomdir", "Ctrl+Shift+D", "Open a DICOMDIR (CD/DVD index)", FILE),
    Shortcut("file.export_png", "Ctrl+E", "Export the current view as PNG", FILE),
    Shortcut("file.export_nifti", "Ctrl+Shift+E", "Export the series as NIfTI", FILE),
    Shortcut("file.quit", "Ctrl+Q", "Quit", FILE),
    # Slices
    Shortcut("slice.next", "Down", "Next slice", NAVIGATION, mouse="Wheel down"),
    Shortcut("slice.previous", "Up", "Previous slice", NAVIGATION, mouse="Wheel up"),
    Shortcut("slice.next_10", "PgDown", "Forward 10 slices", NAVIGATION),
    Shortcut("slice.previous_10", "PgUp", "Back 10 slices", NAVIGATION),
    Shortcut("slice.first", "Home", "First slice", NAVIGATION),
    Shortcut("slice.last", "End", "Last slice", NAVIGATION),
    # Window / level
    *_presets(),
    Shortcut("window.auto", "A", "Automatic window/level from the current slice", WINDOW),
    Shortcut(
        "window.drag",
        "",
        "Adjust window/level (across: width, down: level)",
        WINDOW,
        mouse="Left-drag",
    ),
    Shortcut("view.invert", "I", "Invert greyscale", WINDOW),
    # View
    Shortcut("view.fit", "F", "Fit the image to the view", VIEW, mouse="Double-click"),
    Shortcut("view.zoom", "", "Zoom", VIEW, mouse="Ctrl+wheel / right-drag"),
    Shortcut("view.pan", "", "Pan", VIEW, mouse="Middle-drag / Space+left-drag"),
    Shortcut("view.overlays", "O", "Show or hide the text overlays", VIEW),
    Shortcut("view.deidentify", "D", "Hide or show patient identity in the overlays", VIEW),
    Shortcut("view.layout", "L", "MPR: axial, coronal and sagittal, or back to one plane", VIEW),
    # Reading layouts
    *(
        Shortcut(f"reading.grid_{grid}", f"Ctrl+{n}", f"Viewport grid {grid}: {text}", READING)
        for n, (grid, text) in enumerate(
            (
                ("1x1", "one viewport"),
                ("1x2", "two side by side"),
                ("2x1", "two, one above the other"),
                ("2x2", "four"),
                ("1x3", "three side by side"),
            ),
            1,
        )
    ),
    Shortcut(
        "reading.activate",
        "",
        "Make a viewport the active one (it takes the keys; the others follow it)",
        READING,
        mouse="Click",
    ),
    Shortcut("reading.next_viewport", "F6", "Next viewport becomes the active one", READING),
    Shortcut(
        "reading.previous_viewport", "Shift+F6", "Previous viewport becomes the active one", READING
    ),
    Shortcut(
        "reading.drop",
        "",
        "Show a series in a viewport",
        READING,
        mouse="Drag from the series list / right-click the viewport",
    ),
    Shortcut("reading.link_scroll", "Shift+L", "Link scrolling between viewports", READING),
    Shortcut("reading.link_window", "Shift+W", "Link window/level between viewports", READING),
    Shortcut("reading.link_zoom_pan", "Shift+Z", "Link zoom and pan between viewports", READING),
    Shortcut(
        "reading.link_here",
        "Shift+O",
        "Link the viewports as they are now (align a prior's slice first; remembered)",
        READING,
    ),
    Shortcut("reading.slab_mode", "Shift+M", "Thick slab: off / MIP / MinIP / average", READING),
    Shortcut("reading.slab_thicker", "Shift+T", "Thicker slab (active viewport)", READING),
    Shortcut("reading.slab_thinner", "Ctrl+Shift+T", "Thinner slab (active viewport)", READING),
    Shortcut(
        "reading.compare_prior",
        "Ctrl+Shift+P",
        "Compare with prior: the latest earlier study of this series beside it, linked",
        READING,
    ),
    Shortcut(
        "reading.save_hanging",
        "Ctrl+Shift+S",
        "Save the layout as a hanging protocol for this modality and body part",
        READING,
    ),
    Shortcut(
        "reading.manage_hanging",
        "Ctrl+Shift+H",
        "Hanging protocols: loosen a rule's series description, change a plane, delete",
        READING,
    ),
    # Cine
    Shortcut("cine.play", "P", "Play or pause cine", CINE),
    Shortcut("cine.faster", "]", "Cine faster", CINE),
    Shortcut("cine.slower", "[", "Cine slower", CINE),
    # Measurements
    Shortcut("measure.ruler", "R", "Ruler (distance in mm)", MEASURE),
    Shortcut(
        "measure.angle",
        "Shift+A",
        "Angle: drag the first arm to the vertex, click where the second ends",
        MEASURE,
    ),
    Shortcut("measure.rect_roi", "Shift+R", "Rectangle ROI (mean, SD, area)", MEASURE),
    Shortcut("measure.ellipse_roi", "E", "Ellipse ROI (mean, SD, area)", MEASURE),
    Shortcut("measure.probe", "V", "Probe: value under the cursor", MEASURE),
    Shortcut("measure.delete", "Del", "Delete the selected measurement", MEASURE),
    # AI
    Shortcut("ai.run", "Ctrl+R", "Run the classifier on the series (research use only)", AI),
    Shortcut("ai.toggle_heatmap", "H", "Show or hide the explanation heat map", AI),
    Shortcut("ai.finetune", "Ctrl+Shift+F", "Fine-tune a model on your labels", AI),
    Shortcut(
        "ai.models", "Ctrl+Shift+M", "Installed models: activate (roll back), delete, card", AI
    ),
    Shortcut(
        "ai.save_dicom",
        "Ctrl+Alt+S",
        "Save the result as DICOM: structured report, key images, heat map shown",
        AI,
    ),
    # Worklist
    Shortcut(
        "worklist.show",
        "Ctrl+Shift+W",
        "Triage worklist: the series of a triage, most suspicious first (research use only)",
        WORKLIST,
    ),
    Shortcut(
        "worklist.open_row",
        "",
        "Open the row's series at its most suspicious slice, Grad-CAM heat map on",
        WORKLIST,
        mouse="Double-click / Enter on a worklist row",
    ),
    # Network
    Shortcut(
        "network.nodes",
        "Ctrl+Shift+N",
        "DICOM nodes: this station and the nodes it talks to (Verify each)",
        NETWORK,
    ),
    Shortcut(
        "network.query",
        "Ctrl+Shift+Q",
        "Query / Retrieve: search a DICOM node and bring studies here",
        NETWORK,
    ),
    # Labeling (the class keys are those of the default label set, headct-lesions)
    *(
        Shortcut(f"labels.class.{name}", key, f"Label the slice {text}, then go on", LABELING)
        for name, key, text in (
            ("normal", "N", "normal"),
            ("hyperdense_lesion", "B", "hyperdense (bright) lesion"),
            ("hypodense_lesion", "K", "hypodense (dark) lesion"),
            ("uncertain", "U", "uncertain"),
            ("exclude", "X", "exclude (not usable)"),
        )
    ),
    Shortcut("labels.accept", "G", "Accept the model's suggestion for the slice", LABELING),
    Shortcut("labels.clear", "Backspace", "Clear your label of the slice", LABELING),
    Shortcut("labels.undo", "Ctrl+Z", "Undo your last labeling action", LABELING),
    Shortcut(
        "labels.redo", "Ctrl+Shift+Z", "Redo the labeling action undone", LABELING, also="Ctrl+Y"
    ),
    Shortcut("labels.next_unlabeled", "J", "Next unlabeled slice", LABELING),
    Shortcut(
        "labels.next_disagreement", "W", "Next slice where the label and model differ", LABELING
    ),
    Shortcut(
        "labels.next_uncertain",
        "Q",
        "Next most uncertain slice (highest entropy of the model's output)",
        LABELING,
    ),
    Shortcut("labels.evidence", "Shift+E", "Draw an evidence rectangle on the slice", LABELING),
    Shortcut("labels.approve", "Y", "Reviewer: approve the slice's label", LABELING),
    Shortcut(
        "labels.flag", "Shift+F", "Reviewer: flag the slice's label, with a comment", LABELING
    ),
    # Tools and help
    Shortcut("tools.tag_browser", "Ctrl+T", "DICOM tag browser", TOOLS),
    Shortcut("help.shortcuts", "F1", "Keyboard and mouse shortcuts (this help)", TOOLS),
)

_BY_ID: dict[str, Shortcut] = {s.action_id: s for s in SHORTCUTS}


def by_id(action_id: str) -> Shortcut:
    """The entry for ``action_id``; :class:`KeyError` naming the known ids if there is none."""
    try:
        return _BY_ID[action_id]
    except KeyError:
        raise KeyError(f"no shortcut {action_id!r}; known: {', '.join(sorted(_BY_ID))}") from None


def key_sequence(action_id: str) -> QtGui.QKeySequence:
    """The QKeySequence for ``action_id`` (empty for a mouse-only gesture)."""
    return by_id(action_id).key_sequence()


def grouped(shortcuts: Iterable[Shortcut] = SHORTCUTS) -> list[tuple[str, list[Shortcut]]]:
    """``[(group, [shortcut, ...]), ...]`` in :data:`GROUPS` order, then any other group."""
    shortcuts = list(shortcuts)
    order = list(GROUPS) + [s.group for s in shortcuts if s.group not in GROUPS]
    out = []
    for group in dict.fromkeys(order):
        members = [s for s in shortcuts if s.group == group]
        if members:
            out.append((group, members))
    return out


def make_action(
    action_id: str,
    parent: QtCore.QObject,
    slot: Callable[..., object] | None = None,
    *,
    text: str | None = None,
    checkable: bool = False,
) -> QtGui.QAction:
    """A QAction with this table's key, description as text and "description (key)" tooltip."""
    entry = by_id(action_id)
    action = QtGui.QAction(text or entry.description, parent)
    action.setObjectName(action_id)
    action.setCheckable(checkable)
    if entry.keys:
        action.setShortcuts(entry.key_sequences())
    shown = entry.display_keys()
    action.setToolTip(f"{entry.description} ({shown})" if shown else entry.description)
    action.setStatusTip(entry.description)
    if slot is None:
        pass
    elif checkable:
        action.triggered.connect(slot)  # the slot gets the new checked state
    else:
        # never pass triggered's ``checked`` (False) on: it would land in a slot's first
        # optional argument (export_png(path=False) failed on every menu click)
        action.triggered.connect(lambda _checked=False: slot())
    return action


def label_class_id(name: str) -> str:
    """The table id of the key that assigns class ``name`` (present for the default set)."""
    return f"labels.class.{name}"


def taken_keys(exclude_prefix: str = "labels.class.") -> dict[int, str]:
    """Combined key code -> action id of every keyed entry, except ids with the prefix."""
    return {
        seq[0].toCombined(): s.action_id
        for s in SHORTCUTS
        if s.keys and not s.action_id.startswith(exclude_prefix)
        for seq in s.key_sequences()
    }


__all__ = [
    "GROUPS",
    "SHORTCUTS",
    "Shortcut",
    "by_id",
    "grouped",
    "key_sequence",
    "label_class_id",
    "make_action",
    "taken_keys",
]
