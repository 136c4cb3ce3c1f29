"""Test and benchmark fixtures: realistic synthetic DICOM series with known ground truth."""
