"""Dialogs opened from the menus: fine-tuning a model on the label store, the installed models.

Each module is imported when its dialog is first opened (they pull in the training core's
names lazily; torch is never imported at module level).
"""
