"""Docks and dialogs of the main window that sit beside the viewer (labeling, agreement)."""
