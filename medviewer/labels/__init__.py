"""Labels of DICOM slices and series: schema, label sets, the SQLite store, import/export and
inter-annotator agreement. Headless: no Qt, and nothing of ``ai`` or ``dicom`` (labels are
facts keyed by DICOM UIDs). Import the submodules you need; this package imports nothing.
"""
