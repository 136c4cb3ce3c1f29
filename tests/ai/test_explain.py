"""Explanations: every method runs, maps are aligned with the slice (known answers), cache, job."""

import threading

import numpy as np
import pytest
import torch

from medviewer.ai import explain as ex
from medviewer.ai.builders import build, find_module
from medviewer.ai.package import load_package
from medviewer.errors import Cancelled, ModelError
from medviewer.jobs import CancelToken, Progress, run_job
from medviewer.testing.tiny_model import make_package

# pytorch-grad-cam's ROAD metric hands torch tensors to np.argwhere (numpy 2 deprecation)
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array_wrap__ must accept context:DeprecationWarning"
)

SLICE_SHAPE = (100, 150)  # not the model's 64 x 64: the resize is non-trivial and anisotropic
# The square lies inside feature cell (1, 2) of the 4 x 4 grid (64 / 16): input rows [16, 32),
# cols [32, 48) = slice rows [25, 50), cols [75, 112.5), with margins so no neighbour sees it.
SQUARE = (slice(30, 48), slice(82, 100))
CELL_CENTRE = (1.5 / 4 * 100 - 0.5, 2.5 / 4 * 150 - 0.5)  # in pixel indices (pixel i ~ i+0.5)


def _square_detector_state():
    """attention_cnn weights whose 'lesion' score depends only on bright input.

    Every conv passes (the mean of) channel 0 through its centre tap, so feature channel 0 is
    the max-pooled intensity; the attention gate fires on it; 'lesion' reads it, 'no lesion'
    reads its negative. Everything else is zero.
    """
    net = build("attention_cnn", 3, 2)
    state = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}
    for b in range(4):
        for conv, bn in ((0, 1), (3, 4)):
            w = state[f"features.{b}.{conv}.weight"]
            if b == 0 and conv == 0:
                w[0, :, 1, 1] = 1.0 / 3.0
            else:
                w[0, 0, 1, 1] = 1.0
            state[f"features.{b}.{bn}.weight"] = torch.ones_like(state[f"features.{b}.{bn}.weight"])
            state[f"features.{b}.{bn}.running_var"] = torch.ones_like(
                state[f"features.{b}.{bn}.running_var"]
            )
    state["attention.score.weight"][0, 0, 0, 0] = 12.0
    state["attention.score.bias"][0] = -6.0
    state["classifier.weight"][1, 0] = 8.0
    state["classifier.weight"][0, 0] = -8.0
    state["classifier.bias"][:] = torch.tensor([4.0, -4.0])
    return {k: v.contiguous() for k, v in state.items()}


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pkg") / "detector"
    make_package(folder, windows=((40.0, 80.0),), state_dict=_square_detector_state())
    return load_package(folder)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_package(make_package(tmp_path_factory.mktemp("pkg") / "tiny", seed=3))


@pytest.fixture(scope="module")
def square_slice():
    values = np.zeros(SLICE_SHAPE, np.int16)  # 0 HU -> 0 in the (40, 80) window
    values[SQUARE] = 200  # -> 1
    return values


@pytest.fixture(scope="module")
def ct_slice():
    rng = np.random.default_rng(7)
    values = rng.normal(0, 60, SLICE_SHAPE)
    values[20:60, 30:90] += 300
    return values.astype(np.int16)


def _centre_of_mass(m):
    rows, cols = np.indices(m.shape)
    total = m.sum()
    return float((rows * m).sum() / total), float((cols * m).sum() / total)


def _in_square(r, c, margin=0.0):
    return (
        SQUARE[0].start - margin <= r <= SQUARE[0].stop - 1 + margin
        and SQUARE[1].start - margin <= c <= SQUARE[1].stop - 1 + margin
    )


# -- alignment: known answers -----------------------------------------------------------------
def test_to_slice_puts_an_input_pixel_at_its_proportional_place(tiny):
    h, w = tiny.manifest.input_size
    r, c = 20, 40
    one_hot = np.zeros((h, w), np.float32)
    one_hot[r, c] = 1.0
    out = tiny.to_slice(one_hot, SLICE_SHAPE)
    assert out.shape == SLICE_SHAPE and out.dtype == np.float32
    expected = ((r + 0.5) * SLICE_SHAPE[0] / h - 0.5, (c + 0.5) * SLICE_SHAPE[1] / w - 0.5)
    com = _centre_of_mass(out)
    assert abs(com[0] - expected[0]) < 0.25 and abs(com[1] - expected[1]) < 0.25
    peak = np.unravel_index(np.argmax(out), out.shape)
    assert abs(peak[0] - expected[0]) <= 1 and abs(peak[1] - expected[1]) <= 1


def test_the_detector_sees_the_square(detector, square_slice):
    x = torch.from_numpy(detector.preprocess(square_slice))[None]
    with torch.no_grad():
        assert int(detector.module(x).argmax()) == 1
        empty = torch.from_numpy(detector.preprocess(np.zeros(SLICE_SHAPE, np.int16)))[None]
        assert int(detector.module(empty).argmax()) == 0


# Eigen-CAM is left out: the sign of a principal component is arbitrary, so on this one-feature
# network its map may light up everything but the square.
@pytest.mark.parametrize(
    "method", ["attention", "gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "scorecam"]
)
def test_map_falls_on_the_bright_square_in_slice_pixels(detector, square_slice, method):
    e = ex.explain(detector, square_slice, method, faithfulness=False)
    assert e.target == "lesion" and e.target_index == 1
    assert e.map.shape == SLICE_SHAPE and e.map.dtype == np.float32
    peak = np.unravel_index(np.argmax(e.map), e.map.shape)
    assert _in_square(*peak), (peak, SQUARE)
    com = _centre_of_mass(e.map)
    assert _in_square(*com), (com, SQUARE)
    assert abs(com[0] - CELL_CENTRE[0]) < 1.5 and abs(com[1] - CELL_CENTRE[1]) < 1.5
    # nothing far from the square
    assert e.map[:10].max() < 0.05 and e.map[:, :40].max() < 0.05


def test_gradcam_for_the_other_class_does_not_point_at_the_square(detector, square_slice):
    e = ex.explain(detector, square_slice, "gradcam", target="no lesion", faithfulness=False)
    assert e.target_index == 0
    assert e.map[SQUARE].mean() < 0.05  # its gradient is negative there: ReLU removes it


# -- every method -----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ex.METHODS)
def test_every_method_gives_a_float32_unit_map_of_the_slice_shape(tiny, ct_slice, method):
    e = ex.explain(tiny, ct_slice, method, faithfulness=False)
    assert isinstance(e, ex.Explanation)
    assert e.map.shape == SLICE_SHAPE and e.map.dtype == np.float32
    assert np.isfinite(e.map).all() and 0.0 <= e.map.min() and e.map.max() <= 1.0
    assert e.map.max() > 0.5  # normalised per image
    assert not e.map.flags.writeable
    assert e.method == method and e.target in tiny.manifest.classes
    assert tiny.manifest.classes[e.target_index] == e.target
    assert e.faithfulness is None and e.faithfulness_name == ex.FAITHFULNESS_NAME
    assert "normalised per image" in e.note
    assert 0.0 <= e.probability <= 1.0
    # hooks are gone: the shared module is back to plain forwards
    for name in (tiny.manifest.cam_target_layer, tiny.manifest.attention_layer):
        assert not find_module(tiny.module, name)._forward_hooks


def test_default_target_is_the_predicted_class(tiny, ct_slice):
    x = torch.from_numpy(tiny.preprocess(ct_slice))[None]
    with torch.no_grad():
        predicted = int(tiny.module(x).argmax())
    assert ex.explain(tiny, ct_slice, "gradcam", faithfulness=False).target_index == predicted


@pytest.mark.parametrize("method", ex.METHODS)
def test_maps_depend_on_the_target_where_they_should(tiny, ct_slice, method):
    a = ex.explain(tiny, ct_slice, method, target=0, faithfulness=False)
    b = ex.explain(tiny, ct_slice, method, target="lesion", faithfulness=False)
    assert (a.target, b.target) == ("no lesion", "lesion")
    diff = np.abs(a.map - b.map).max()
    if method in ex.TARGET_INDEPENDENT:
        assert diff < 1e-6
    elif method == "scorecam":
        # Score-CAM weighs channels by a softmax of the class score of masked inputs; on random
        # weights those scores barely move, so the maps differ, but only a little
        assert diff > 1e-5
    else:
        assert diff > 0.05


@pytest.mark.parametrize("method", ex.GRADIENT_METHODS)
def test_cut_backward_gives_plain_grad_cams_map(tiny, ct_slice, method):
    """Stopping backward at the CAM layer changes no number: compare with the library alone."""
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cls = {
        "gradcam": pgc.GradCAM,
        "gradcam++": pgc.GradCAMPlusPlus,
        "hirescam": pgc.HiResCAM,
        "xgradcam": pgc.XGradCAM,
        "layercam": pgc.LayerCAM,
    }[method]
    layer = find_module(tiny.module, tiny.manifest.cam_target_layer)
    x = torch.from_numpy(tiny.preprocess(ct_slice))[None]
    cam = cls(model=tiny.module, target_layers=[layer])
    try:
        ref = cam(input_tensor=x, targets=[ClassifierOutputTarget(1)])[0]
    finally:
        cam.activations_and_grads.release()
        tiny.module.zero_grad(set_to_none=True)
    expected = np.clip(tiny.to_slice(ref, SLICE_SHAPE), 0, 1)
    got = ex.explain(tiny, ct_slice, method, target=1, faithfulness=False).map
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert all(p.grad is None for p in tiny.module.parameters())


def test_colour_slices_and_frozen_weights_and_callers_inference_mode(tiny, ct_slice):
    rgb = np.repeat(ct_slice[..., None], 3, axis=2).astype(np.uint8)
    assert ex.explain(tiny, rgb, "gradcam", faithfulness=False).map.shape == SLICE_SHAPE
    flags = [p.requires_grad for p in tiny.module.parameters()]
    try:
        for p in tiny.module.parameters():
            p.requires_grad_(False)
        with torch.inference_mode():
            e = ex.explain(tiny, ct_slice, "layercam", faithfulness=False)
        assert e.map.max() > 0.5
    finally:
        for p, f in zip(tiny.module.parameters(), flags):
            p.requires_grad_(f)


def test_faithfulness_is_a_finite_reproducible_number(detector, square_slice):
    a = ex.explain(detector, square_slice, "gradcam")
    b = ex.explain(detector, square_slice, "gradcam")
    assert isinstance(a.faithfulness, float) and np.isfinite(a.faithfulness)
    assert -1.0 <= a.faithfulness <= 1.0
    assert a.faithfulness == b.faithfulness
    # the square is all the detector uses: removing it first must hurt more than removing
    # the background first, so a map on the square scores well above zero
    assert a.faithfulness > 0.2


def test_faithfulness_is_grad_cams_road_combined(tiny, ct_slice):
    """Our per-percentile steps add up to the package's ROADCombined (up to its noise)."""
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.metrics.road import ROADCombined
    from pytorch_grad_cam.utils.model_targets import (
        ClassifierOutputSoftmaxTarget,
        ClassifierOutputTarget,
    )

    layer = find_module(tiny.module, tiny.manifest.cam_target_layer)
    x = torch.from_numpy(tiny.preprocess(ct_slice))[None]
    cam = pgc.GradCAM(model=tiny.module, target_layers=[layer])
    try:
        grayscale = cam(input_tensor=x, targets=[ClassifierOutputTarget(1)])
    finally:
        cam.activations_and_grads.release()
    torch.manual_seed(0)
    metric = ROADCombined(percentiles=list(ex.FAITHFULNESS_PERCENTILES))
    with torch.no_grad():
        expected = metric(x, grayscale, [ClassifierOutputSoftmaxTarget(1)], tiny.module)[0]
    got = ex.explain(tiny, ct_slice, "gradcam", target=1)
    assert got.faithfulness == pytest.approx(float(expected), abs=0.02)


# -- errors -----------------------------------------------------------------------------------
def test_unknown_method_lists_the_methods(tiny, ct_slice):
    with pytest.raises(ModelError, match="unknown explanation method 'gradcamm'.*scorecam"):
        ex.explain(tiny, ct_slice, "gradcamm")


def test_unknown_class_lists_the_classes(tiny, ct_slice):
    with pytest.raises(ModelError, match="unknown class 'tumour'.*no lesion, lesion"):
        ex.explain(tiny, ct_slice, "gradcam", target="tumour")
    with pytest.raises(ModelError, match="out of range.*0..1"):
        ex.explain(tiny, ct_slice, "gradcam", target=5)


def test_attention_needs_an_attention_layer(tmp_path, ct_slice):
    resnet = load_package(
        make_package(tmp_path / "r18", architecture="resnet18", input_size=(32, 32))
    )
    avail = ex.available_methods(resnet)
    assert set(avail) == set(ex.METHODS)
    assert "no attention layer" in avail["attention"]
    assert all(v is None for k, v in avail.items() if k != "attention")
    with pytest.raises(ModelError, match="Attention map is not available.*no attention layer"):
        ex.explain(resnet, ct_slice, "attention")
    e = ex.explain(resnet, ct_slice, "gradcam", faithfulness=False)
    assert e.map.shape == SLICE_SHAPE


def test_bad_slice_shape(tiny):
    with pytest.raises(ModelError, match=r"shape \(2, 3, 4, 5\)"):
        ex.explain(tiny, np.zeros((2, 3, 4, 5)), "gradcam")


def test_the_lock_is_held_and_released(tiny, ct_slice):
    seen = []
    layer = find_module(tiny.module, tiny.manifest.cam_target_layer)
    handle = layer.register_forward_hook(lambda *a: seen.append(tiny.lock.locked()))
    try:
        ex.explain(tiny, ct_slice, "gradcam", faithfulness=False)
    finally:
        handle.remove()
    assert seen and all(seen)
    assert not tiny.lock.locked()


def test_scorecam_runs_on_a_copy_without_the_lock(tiny, ct_slice):
    seen = []
    layer = find_module(tiny.module, tiny.manifest.cam_target_layer)
    # the copy carries this hook along: it reports what the copy's forwards see
    handle = layer.register_forward_hook(lambda *a: seen.append(tiny.lock.locked()))
    try:
        ex.explain(tiny, ct_slice, "scorecam", faithfulness=False)
    finally:
        handle.remove()
    assert seen and not any(seen)
    assert list(layer._forward_hooks) == []


# -- job and cache ----------------------------------------------------------------------------
def test_explain_iter_yields_progress_then_returns(tiny, ct_slice):
    steps = []
    e = run_job(ex.explain_iter(tiny, ct_slice, "gradcam"), steps.append)
    assert isinstance(e, ex.Explanation) and e.faithfulness is not None
    assert all(isinstance(s, Progress) for s in steps)
    assert steps[0].done == 0 and "Grad-CAM" in steps[0].message
    early = steps[-1].detail
    assert isinstance(early, ex.Explanation) and early.faithfulness is None
    assert early.map is e.map
    e2 = run_job(ex.explain_iter(tiny, ct_slice, "attention", faithfulness=False))
    assert e2.faithfulness is None


def test_explain_iter_cancel(tiny, ct_slice):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_job(ex.explain_iter(tiny, ct_slice, "gradcam", cancel=token))
    # cancelled once the map is shown: the faithfulness steps are skipped
    token = CancelToken()
    job = ex.explain_iter(tiny, ct_slice, "gradcam", cancel=token)
    assert next(job).done == 0
    step = next(job)
    assert step.done == 1 and step.total == 1 + len(ex.FAITHFULNESS_PERCENTILES)
    assert isinstance(step.detail, ex.Explanation)
    token.cancel()
    with pytest.raises(Cancelled):
        next(job)
    assert not tiny.lock.locked()


def test_cache_is_lru_and_returns_the_same_object(tiny, ct_slice):
    cache = ex.ExplanationCache(max_items=2)
    e = ex.explain(tiny, ct_slice, "gradcam", faithfulness=False)
    k1 = cache.key("series-a", 3, "gradcam", None, tiny)
    assert k1 == ("series-a", 3, "gradcam", None, tiny.sha256)
    cache.put(k1, e)
    assert cache.get(k1) is e
    k2, k3 = ("series-a", 4, "gradcam", None, tiny.sha256), ("b", 0, "attention", 1, "x")
    cache.put(k2, e)
    cache.get(k1)  # k1 is now the most recent
    cache.put(k3, e)
    assert k1 in cache and k3 in cache and k2 not in cache and len(cache) == 2
    assert cache.get(k2) is None


def test_cache_is_thread_safe():
    cache = ex.ExplanationCache(max_items=8)
    e = ex.Explanation(np.zeros((2, 2), np.float32), "gradcam", "a", 0, None, "n")

    def worker(i):
        for j in range(300):
            cache.put((i, j), e)
            cache.get((i, j - 1))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 8


def test_threads_share_one_model(tiny, ct_slice):
    expected = ex.explain(tiny, ct_slice, "gradcam", target=1, faithfulness=False).map
    results, errors = [], []

    def worker(method):
        try:
            results.append((method, ex.explain(tiny, ct_slice, method, target=1).map))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(m,)) for m in ("gradcam", "attention")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    np.testing.assert_allclose(dict(results)["gradcam"], expected, atol=1e-5)
