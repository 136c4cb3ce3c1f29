"""Slice and series classification: known answers, batching, order, cancel, OOM, input checks."""

import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from medviewer.ai.classifier import (
    Prediction,
    SeriesPrediction,
    aggregate,
    check_input,
    predict,
    predict_iter,
)
from medviewer.ai.package import load_package
from medviewer.errors import Cancelled, ModelError
from medviewer.jobs import CancelToken, Progress, run_job
from medviewer.testing.tiny_model import make_package
from tests.ai.conftest import (
    BN_SCALE,
    edit_manifest,
    known_answer,
    known_answer_state,
    with_values,
)

HU = (-1000.0, 0.0, 40.0, 100.0, 500.0, 3000.0)


def _constant_volume(ct_volume, values=HU):
    rows, cols = ct_volume.array.shape[1:]
    arr = np.stack([np.full((rows, cols), v, dtype=np.int16) for v in values])
    return with_values(ct_volume, arr)


@pytest.fixture(scope="module")
def known_pkg(tmp_path_factory):
    return make_package(
        tmp_path_factory.mktemp("known") / "known", name="known", state_dict=known_answer_state()
    )


def _fake_oom(model, monkeypatch, fails):
    """Make the network raise CUDA OOM when ``fails(batch, device)``; returns the batch log."""
    real = model.module.forward
    calls = []

    def forward(x):
        calls.append((int(x.shape[0]), model.device))
        if fails(int(x.shape[0]), model.device):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return real(x)

    monkeypatch.setattr(model.module, "forward", forward)
    return calls


def test_known_answer_exact_probabilities(known_pkg, ct_volume):
    model = load_package(known_pkg)
    vol = _constant_volume(ct_volume)
    res = predict(model, vol, batch_size=4)
    assert isinstance(res, SeriesPrediction)
    assert [p.index for p in res.slices] == list(range(len(HU)))
    for p, hu in zip(res.slices, HU):
        want = known_answer(hu)
        assert list(p.probabilities) == ["no lesion", "lesion"]
        for c in want:
            assert p.probabilities[c] == pytest.approx(want[c], abs=1e-6), (hu, c)
        assert p.top == max(want, key=want.get)
    # 3000 HU saturates every window: channel mean 1; -1000 HU gives 0 in every window
    assert res.slices[-1].probabilities["lesion"] == pytest.approx(
        1 / (1 + np.exp(1.5 - 4 * BN_SCALE**8)), abs=1e-6
    )
    assert res.slices[0].probabilities["lesion"] == pytest.approx(1 / (1 + np.exp(1.5)), abs=1e-6)
    # max aggregation: per class over slices, not renormalised
    assert res.method == "max"
    for c in ("no lesion", "lesion"):
        assert res.probabilities[c] == pytest.approx(max(known_answer(h)[c] for h in HU), abs=1e-6)
    assert sum(res.probabilities.values()) > 1.2
    assert res.top == "lesion"


def test_mean_aggregation_from_the_card(known_pkg, ct_volume, tmp_path):
    pkg = tmp_path / "mean"
    shutil.copytree(known_pkg, pkg)
    edit_manifest(pkg, lambda d: d.update(aggregation="mean"))
    res = predict(load_package(pkg), _constant_volume(ct_volume))
    assert res.method == "mean"
    for c in ("no lesion", "lesion"):
        want = np.mean([known_answer(h)[c] for h in HU])
        assert res.probabilities[c] == pytest.approx(want, abs=1e-6)
    assert sum(res.probabilities.values()) == pytest.approx(1.0, abs=1e-9)


def test_aggregate_directly():
    def pred(k, a, b):
        return Prediction(k, {"a": a, "b": b}, "a", "m", "1", "0" * 64, "cpu")

    slices = [pred(0, 0.9, 0.1), pred(1, 0.3, 0.7)]
    assert aggregate(slices, ("a", "b"), "max") == {"a": 0.9, "b": 0.7}
    assert aggregate(slices, ("a", "b"), "mean") == pytest.approx({"a": 0.6, "b": 0.4})
    with pytest.raises(ModelError, match="aggregation"):
        aggregate(slices, ("a", "b"), "median")


def test_probabilities_sum_to_one_and_carry_the_model(tiny_model, ct_volume):
    res = predict(tiny_model, ct_volume)
    m = tiny_model.manifest
    assert len(res.slices) == ct_volume.array.shape[0]
    for p in res.slices:
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-9)
        assert all(0.0 <= v <= 1.0 for v in p.probabilities.values())
        assert (p.model, p.version, p.sha256, p.device) == (m.name, m.version, m.sha256, "cpu")
    assert (res.model, res.version, res.sha256, res.device) == (
        m.name,
        m.version,
        m.sha256,
        "cpu",
    )
    assert res.warnings == []
    assert res.classes == m.classes
    d = res.to_dict()
    assert set(d) == {"model", "device", "classes", "slices", "series", "warnings"}
    assert d["model"] == {"name": m.name, "version": m.version, "sha256": m.sha256}


def test_batches_equal_one_slice_at_a_time(tiny_model, ct_volume):
    one = predict(tiny_model, ct_volume, batch_size=1)
    many = predict(tiny_model, ct_volume, batch_size=16)
    three = predict(tiny_model, ct_volume, batch_size=3, first=0)
    for a, b, c in zip(one.slices, many.slices, three.slices):
        assert a.index == b.index == c.index
        for cls in a.probabilities:
            assert a.probabilities[cls] == pytest.approx(b.probabilities[cls], abs=1e-5)
            assert a.probabilities[cls] == pytest.approx(c.probabilities[cls], abs=1e-5)


def test_inputs_are_the_models_own_preprocessing(tiny_model, ct_volume):
    k = 2
    x = torch.from_numpy(tiny_model.preprocess(ct_volume.array[k]))[None]
    with torch.no_grad():
        want = torch.softmax(tiny_model.module(x).double(), dim=1)[0].numpy()
    res = predict(tiny_model, ct_volume)
    got = list(res.slices[k].probabilities.values())
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_the_visible_slice_comes_first_alone_then_the_rest_in_order(tiny_model, ct_volume):
    steps = []
    res = run_job(predict_iter(tiny_model, ct_volume, first=4, batch_size=2), steps.append)
    assert all(isinstance(s, Progress) for s in steps)
    assert [[p.index for p in s.detail] for s in steps] == [[4], [0, 1], [2, 3], [5]]
    assert [(s.done, s.total) for s in steps] == [(1, 6), (3, 6), (5, 6), (6, 6)]
    # numbered as the viewer numbers its images ("Im 5/6"), not from 0
    assert [s.message for s in steps] == [
        "classified image 5",
        "classified images 1-2",
        "classified images 3-4",
        "classified image 6",
    ]
    assert [p.index for p in res.slices] == list(range(6))
    default = [s.detail[0].index for s in [next(predict_iter(tiny_model, ct_volume))]]
    assert default == [3]  # the middle slice


def test_cancel_between_batches(tiny_model, ct_volume):
    token = CancelToken()
    job = predict_iter(tiny_model, ct_volume, batch_size=2, cancel=token)
    first = next(job)
    assert [p.index for p in first.detail] == [3]
    token.cancel()
    with pytest.raises(Cancelled):
        next(job)

    token = CancelToken()
    seen = []

    def on_progress(step):
        seen.append(step)
        token.cancel()

    with pytest.raises(Cancelled):
        predict(tiny_model, ct_volume, cancel=token, on_progress=on_progress)
    assert len(seen) == 1
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        predict(tiny_model, ct_volume, cancel=token)


def test_out_of_memory_halves_the_batch(tiny_model, ct_volume, monkeypatch):
    want = predict(tiny_model, ct_volume, batch_size=1)
    calls = _fake_oom(tiny_model, monkeypatch, lambda batch, device: batch > 2)
    res = predict(tiny_model, ct_volume, batch_size=16)
    assert [b for b, _ in calls] == [1, 5, 2, 2, 1]  # the visible slice, 5 fails, 2 + 2 + 1
    assert res.warnings == [] and res.device == "cpu"
    for a, b in zip(want.slices, res.slices):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)


def test_out_of_memory_at_one_slice_moves_the_model_to_the_cpu(tiny_model, ct_volume, monkeypatch):
    want = predict(tiny_model, ct_volume)
    tiny_model.device = "cuda"  # a label only: the weights stay on the CPU of this machine
    calls = _fake_oom(
        tiny_model, monkeypatch, lambda batch, device: device == "cuda" and len(calls) > 1
    )
    steps = []
    res = predict(tiny_model, ct_volume, batch_size=4, on_progress=steps.append)
    assert [b for b, _ in calls[:5]] == [1, 4, 2, 1, 4]
    assert [d for _, d in calls[:5]] == ["cuda", "cuda", "cuda", "cuda", "cpu"]
    assert tiny_model.device == "cpu"
    assert steps[0].detail[0].device == "cuda"
    assert {p.device for s in steps[1:] for p in s.detail} == {"cpu"}
    assert res.device == "cpu"
    assert len(res.warnings) == 1
    assert "ran out of memory" in res.warnings[0] and "moved to the CPU" in res.warnings[0]
    for a, b in zip(want.slices, res.slices):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)


def test_out_of_memory_on_the_cpu_is_an_error(tiny_model, ct_volume, monkeypatch):
    _fake_oom(tiny_model, monkeypatch, lambda batch, device: True)
    with pytest.raises(ModelError, match="not enough memory to classify slice 3"):
        predict(tiny_model, ct_volume)


def test_other_errors_are_not_mistaken_for_out_of_memory(tiny_model, ct_volume, monkeypatch):
    def broken(x):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(tiny_model.module, "forward", broken)
    with pytest.raises(RuntimeError, match="shapes"):
        predict(tiny_model, ct_volume)


def test_ultrasound_rgb_on_a_ct_model_warns_but_runs(tiny_model, ct_volume):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(*ct_volume.array.shape, 3), dtype=np.uint8)
    us = with_values(ct_volume, rgb, modality="US")
    warnings = check_input(tiny_model, us)
    assert (
        "the model card lists CT; this is a US series: the input is outside what the model was "
        "trained on" in warnings[0]
    )
    assert any("colour (RGB)" in w and "luminance" in w for w in warnings)
    res = predict(tiny_model, us)
    assert res.warnings[: len(warnings)] == warnings
    for p in res.slices:
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-9)


def test_other_input_checks(tiny_model, ct_volume):
    assert check_input(tiny_model, ct_volume) == []
    mr = with_values(ct_volume, ct_volume.array, modality="MR")
    assert "this is an MR series" in check_input(tiny_model, mr)[0]
    wide = with_values(ct_volume, np.zeros((2, 20, 80), dtype=np.int16))
    assert any("stretched" in w for w in check_input(tiny_model, wide))


def test_three_window_model_on_a_one_channel_slice(tiny_model):
    hu = 40.0
    x = tiny_model.preprocess(np.full((48, 48), hu, dtype=np.int16))
    assert x.shape == (3, 64, 64) and x.dtype == np.float32
    for c, (center, width) in enumerate(((40.0, 80.0), (75.0, 215.0), (600.0, 2800.0))):
        want = min(max((hu - (center - width / 2)) / width, 0.0), 1.0)
        np.testing.assert_allclose(x[c], want, atol=1e-6)


def test_one_channel_model(tmp_path, ct_volume):
    pkg = make_package(tmp_path / "one", channels=1, windows=((40.0, 80.0),))
    model = load_package(pkg)
    x = model.preprocess(ct_volume.array[0])
    assert x.shape == (1, 64, 64)
    res = predict(model, ct_volume)
    assert len(res.slices) == 6 and res.warnings == []
    for p in res.slices:
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-9)


def test_only_loaded_slices_are_classified(tiny_model, ct_volume):
    loaded = np.array([True, True, False, True, False, True])
    partial = with_values(ct_volume, ct_volume.array)
    partial.loaded = loaded
    steps = []
    res = predict(tiny_model, partial, first=2, on_progress=steps.append)
    assert steps[0].detail[0].index == 1  # the nearest loaded slice to the one asked for
    assert [p.index for p in res.slices] == [0, 1, 3, 5]
    assert any("2 slice(s) of 6 are not loaded" in w for w in res.warnings)
    partial.loaded = np.zeros(6, dtype=bool)
    with pytest.raises(ModelError, match="no slice of the series is loaded"):
        predict(tiny_model, partial)


def test_non_finite_values_are_read_as_zero_with_a_warning(tiny_model, ct_volume):
    arr = ct_volume.array.astype(np.float32)
    arr[1, 5, 5] = np.nan
    arr[4, 0, 0] = np.inf
    res = predict(tiny_model, with_values(ct_volume, arr))
    assert any("slice(s) 1, 4 hold NaN or infinite values" in w for w in res.warnings)
    assert all(np.isfinite(list(p.probabilities.values())).all() for p in res.slices)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"first": 6}, "slice 6 is out of range"),
        ({"first": -1}, "out of range"),
        ({"batch_size": 0}, "batch size"),
    ],
)
def test_bad_arguments(tiny_model, ct_volume, kw, match):
    with pytest.raises(ModelError, match=match):
        predict(tiny_model, ct_volume, **kw)


def test_temperature_from_the_card_scales_the_logits(known_pkg, ct_volume, tmp_path):
    pkg = tmp_path / "hot"
    shutil.copytree(known_pkg, pkg)
    edit_manifest(pkg, lambda d: d.update(temperature=2.5))
    res = predict(load_package(pkg), _constant_volume(ct_volume))
    for p, hu in zip(res.slices, HU):
        want = known_answer(hu)
        logit_gap = np.log(want["lesion"] / want["no lesion"])  # b - a at T = 1
        assert p.probabilities["lesion"] == pytest.approx(
            1 / (1 + np.exp(-logit_gap / 2.5)), abs=1e-6
        )


def test_abnormal_max_aggregation():
    def pred(k, n, h, o):
        return Prediction(
            k, {"normal": n, "hyper": h, "hypo": o}, "normal", "m", "1", "0" * 64, "cpu"
        )

    slices = [pred(0, 0.9, 0.05, 0.05), pred(1, 0.2, 0.7, 0.1), pred(2, 0.8, 0.1, 0.1)]
    got = aggregate(slices, ("normal", "hyper", "hypo"), "abnormal_max")
    assert got == pytest.approx({"normal": 0.2, "hyper": 0.7, "hypo": 0.1})
    calm = aggregate(slices[::2], ("normal", "hyper", "hypo"), "abnormal_max")
    assert max(calm, key=calm.get) == "normal"


def _with_series(volume, **changes):
    return replace(volume, series=replace(volume.series, **changes))


def test_body_part_outside_the_card_warns(tiny_model, ct_volume):
    model = replace(tiny_model, manifest=replace(tiny_model.manifest, body_parts=("HEAD",)))
    assert not any("BodyPartExamined" in w for w in check_input(model, ct_volume))
    chest = _with_series(ct_volume, body_part="CHEST")
    warnings = check_input(model, chest)
    assert any("BodyPartExamined (0018,0015) is CHEST" in w and "HEAD" in w for w in warnings)
    # no tag: nothing to say from the tag; a head and neck study matches HEAD
    assert not any(
        "BodyPartExamined" in w for w in check_input(model, _with_series(ct_volume, body_part=""))
    )
    assert not any(
        "BodyPartExamined" in w
        for w in check_input(model, _with_series(ct_volume, body_part="HEADNECK"))
    )
    # it still runs
    assert len(predict(model, chest).slices) == ct_volume.array.shape[0]


def test_intensity_check_flags_a_series_without_the_expected_tissue(tiny_model, ct_volume):
    check = {"hu_range": [15, 50], "min_fraction": 0.12, "meaning": "brain parenchyma"}
    model = replace(tiny_model, manifest=replace(tiny_model.manifest, intensity_check=check))
    values = np.full(ct_volume.array.shape, -1000, dtype=np.float32)
    values[:, 10:38, 10:38] = 35.0  # "brain"
    assert not any(
        "brain parenchyma" in w for w in check_input(model, with_values(ct_volume, values))
    )
    values[:, 10:38, 10:38] = -80.0  # fat-like: say, an abdomen
    values[:, 20:28, 20:28] = 35.0
    warnings = check_input(model, with_values(ct_volume, values))
    assert any("brain parenchyma" in w and "at least 12%" in w for w in warnings), warnings


# -- inputs made ahead, and runs without the lone first slice (the triage's way) ---------------
def test_prepared_inputs_give_the_same_predictions(tiny_model, ct_volume):
    from medviewer.ai.classifier import prepare_inputs

    values = ct_volume.array.astype(np.float32)
    values[2, :4, :4] = np.nan  # one slice with NaN: noted either way
    volume = replace(ct_volume, array=values)
    prepared = prepare_inputs(tiny_model, volume)
    assert prepared.inputs.shape[0] == values.shape[0] and prepared.bad == {2}
    assert np.isfinite(prepared.inputs).all()
    want = predict(tiny_model, volume)
    got = predict(tiny_model, volume, prepared=prepared)
    assert [p.probabilities for p in got.slices] == [p.probabilities for p in want.slices]
    assert got.warnings == want.warnings and any("NaN" in w for w in got.warnings)
    other = prepare_inputs(tiny_model, replace(volume, array=values[:3]))
    with pytest.raises(ModelError, match="prepared inputs have shape"):
        predict(tiny_model, volume, prepared=other)


def test_without_a_lead_slice_every_batch_is_full(tiny_model, ct_volume):
    seen = []
    for step in predict_iter(tiny_model, ct_volume, batch_size=4, lead=False):
        seen.append([p.index for p in step.detail])
    n = ct_volume.array.shape[0]
    assert [k for batch in seen for k in batch] == list(range(n))
    assert all(len(batch) == 4 for batch in seen[:-1])
    lead = predict(tiny_model, ct_volume, batch_size=4)
    plain = predict(tiny_model, ct_volume, batch_size=4, lead=False)
    for a, b in zip(lead.slices, plain.slices):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
