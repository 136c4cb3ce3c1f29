"""Priors: a patient's studies by date, the prior to compare with, different patients."""

from dataclasses import replace

import pytest

from medviewer.session.priors import (
    different_patients,
    find_prior,
    same_patient,
    studies_by_patient,
    study_date_text,
)
from tests.session.reading_studies import series_named, study_on, write_studies


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    return write_studies(tmp_path_factory.mktemp("reading"))


def test_studies_are_grouped_by_patient_newest_first(scanned):
    groups = studies_by_patient(scanned.studies)
    assert [label for label, _ in groups] == [
        "Anonymous Synthetic (P1)",
        "Anonymous Synthetic (P2)",
        "Anonymous Synthetic (P3)",
    ]
    p1 = groups[0][1]
    assert [s.study_date for s in p1] == [
        "20260501",
        "20260301",
        "20251201",
        "20251101",
        "20250615",
        "20240101",
    ]
    assert all(s.patient_id == "P1" for s in p1)
    assert [study_date_text(s) for s in p1[:2]] == ["2026-05-01", "2026-03-01"]
    # De-identified: the browser groups without naming anyone.
    hidden = studies_by_patient(scanned.studies, deidentified=True)
    assert [label for label, _ in hidden] == ["Patient 1", "Patient 2", "Patient 3"]
    assert [len(studies) for _, studies in hidden] == [6, 1, 3]


def test_same_date_ties_are_ordered_by_description(scanned):
    now = study_on(scanned, "P1", "20260301")
    twin = replace(now, study_uid="1.2.3.4", description="Another study")
    (_, studies), *_ = studies_by_patient([now, twin])
    assert [s.description for s in studies] == ["Another study", "Synthetic study"]


def test_find_prior_takes_the_most_recent_earlier_study_of_the_same_kind(scanned):
    now = study_on(scanned, "P1", "20260301")
    prior_study, prior_series = find_prior(now, series_named(now, "Head 5mm"), scanned.studies)
    # Not 20260501 (later), 20251201 (chest), 20251101 (MR), P2's 20260101 (other patient),
    # nor 20240101 (older than 20250615).
    assert (prior_study.patient_id, prior_study.study_date) == ("P1", "20250615")
    assert prior_series.description == "Head 5mm" and prior_series in prior_study.series
    # The series most like the current one: the bone series finds the bone series.
    _, bone = find_prior(now, series_named(now, "Head bone 1mm"), scanned.studies)
    assert bone.description == "Head bone 1mm" and bone.n_frames == 6


def test_find_prior_by_modality_and_body_part(scanned):
    chest_now = study_on(scanned, "P1", "20251201")
    chest = series_named(chest_now, "Chest 5mm")
    assert find_prior(chest_now, chest, scanned.studies) is None  # no earlier chest CT
    # Body part is ignored where one side has none: a chest CT without a body part finds
    # the most recent earlier CT of any part.
    unnamed = replace(chest, body_part="")
    prior_study, _ = find_prior(chest_now, unnamed, scanned.studies)
    assert prior_study.study_date == "20250615"
    mr_now = study_on(scanned, "P1", "20251101")
    assert find_prior(mr_now, mr_now.series[0], scanned.studies) is None  # the only MR


def test_no_prior_for_the_first_study_an_undated_one_or_another_patient(scanned):
    first = study_on(scanned, "P1", "20240101")
    assert find_prior(first, first.series[0], scanned.studies) is None
    now = study_on(scanned, "P1", "20260301")
    undated = replace(now, study_date="")
    assert find_prior(undated, now.series[0], scanned.studies) is None
    p2 = study_on(scanned, "P2", "20260101")
    assert find_prior(p2, p2.series[0], scanned.studies) is None  # P1's 2025 study is not P2's


def test_different_patients_gives_a_reason_without_patient_values(scanned):
    p1 = study_on(scanned, "P1", "20260301")
    p2 = study_on(scanned, "P2", "20260101")
    reason = different_patients(p1, p2)
    assert reason is not None and "different patients" in reason and "ID" in reason
    assert "P1" not in reason and "P2" not in reason
    assert different_patients(p1, study_on(scanned, "P1", "20250615")) is None
    assert different_patients(p1, None) is None
    # Without IDs the names decide; without either nothing is refused.
    a = replace(p1, patient_id="", patient_name="Doe^Jane")
    b = replace(p2, patient_id="", patient_name="Roe^Rick")
    reason = different_patients(a, b)
    assert "names differ" in reason and "Doe" not in reason
    assert different_patients(a, replace(b, patient_name="DOE^JANE ")) is None
    nobody = replace(p2, patient_id="", patient_name="")
    assert different_patients(a, nobody) is None
    assert same_patient(p1, study_on(scanned, "P1", "20240101"))
    assert not same_patient(p1, p2) and not same_patient(nobody, nobody)
