"""AI results and labels as standard DICOM objects (highdicom): Structured Report,
Parametric Map, Key Object Selection; and reading our own objects back. Qt-free.
"""
