"""The inference copy (BatchNorm folded, channels-last) gives the network's own outputs, is
used only where it is safe, and is remade when the network changes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medviewer.ai.builders import build
from medviewer.ai.inference_graph import fold_batchnorm, inference_copy
from medviewer.ai.manifest import ARCHITECTURES


def _randomise_batchnorm(net: nn.Module, seed: int = 0) -> None:
    """Running statistics far from the identity, so folding them is not a no-op."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 3 + 0.2)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_keeps_its_outputs(architecture):
    torch.manual_seed(0)
    net = build(architecture, 3, 3).eval()
    _randomise_batchnorm(net)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.rand(2, 3, 96, 96)
    fast, what = inference_copy(net, x)
    with torch.inference_mode():
        want, got = net(x), fast(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    # the original is untouched: same weights, same BatchNorms, still trainable
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.requires_grad for p in net.parameters())
    assert not any(p.requires_grad for p in fast.parameters())
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    folded = int(what.split()[0])
    assert n_bn + folded == sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    if architecture in ("lesion_evidence", "resnet18", "cbam_resnet"):
        assert folded > 0 and "channels-last" in what


def test_the_bundled_model_is_folded_whole():
    from pathlib import Path

    from medviewer.ai.package import load_package

    root = Path(__file__).resolve().parents[2]
    model = load_package(root / "models" / "headct-lesions" / "2.0.0")
    fast = model.inference_module()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    x = torch.from_numpy(model.example_input(3))
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), model.module(x), rtol=1e-5, atol=1e-5)
    assert model.inference_module() is fast  # made once


class PreActivation(nn.Module):
    """bn1 runs before conv1 here: the names suggest a pair that must not be folded."""

    def __init__(self) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(4)
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv1(torch.relu(self.bn1(x)))


def test_a_wrong_guess_is_caught_and_the_module_runs_unfolded():
    torch.manual_seed(0)
    net = PreActivation().eval()
    _randomise_batchnorm(net)
    assert fold_batchnorm(net)[1] == 1  # the structural rule alone would fold it ...
    x = torch.rand(2, 4, 16, 16)
    fast, what = inference_copy(net, x)
    assert what.startswith("0 BatchNorm folded")  # ... the check refuses it
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), net(x))


def test_a_sequential_with_its_own_forward_is_left_alone():
    class Backwards(nn.Sequential):
        def forward(self, x):
            for m in reversed(self):
                x = m(x)
            return x

    net = Backwards(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)).eval()
    assert fold_batchnorm(net)[1] == 0


def test_watched_or_patched_networks_run_as_they_are(tiny_model):
    fast = tiny_model.inference_module()
    assert fast is not tiny_model.module
    handle = tiny_model.module.register_forward_pre_hook(lambda m, a: None)
    try:
        assert tiny_model.inference_module() is tiny_model.module
    finally:
        handle.remove()
    assert tiny_model.inference_module() is fast


def test_changed_weights_or_a_move_make_a_new_copy(tiny_model):
    x = torch.from_numpy(tiny_model.example_input(2))
    fast = tiny_model.inference_module()
    with torch.no_grad():
        first = next(tiny_model.module.parameters())
        first.mul_(1.5)  # in place, as an optimiser step does
    again = tiny_model.inference_module()
    assert again is not fast
    with torch.inference_mode():
        torch.testing.assert_close(again(x), tiny_model.module(x), rtol=1e-5, atol=1e-5)
    tiny_model.to("cpu")
    assert tiny_model.inference_module() is not again


def test_predictions_equal_the_unfolded_network(tiny_model, ct_volume):
    from medviewer.ai.classifier import predict

    fast = predict(tiny_model, ct_volume)
    handle = tiny_model.module.register_forward_hook(lambda *a: None)  # forces the original
    try:
        plain = predict(tiny_model, ct_volume)
    finally:
        handle.remove()
    for a, b in zip(fast.slices, plain.slices):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
    assert np.isfinite([p for s in fast.slices for p in s.probabilities.values()]).all()


def _evidence_net():
    torch.manual_seed(0)
    net = build("lesion_evidence", 3, 3).eval()
    _randomise_batchnorm(net)
    return net


def test_relu_and_residual_sums_are_fused_into_the_convolutions_on_the_cpu():
    from medviewer.ai.inference_graph import FusedConv, FusedResidual

    net = _evidence_net()
    x = torch.rand(2, 3, 96, 96)
    fast, what = inference_copy(net, x)
    assert what.endswith("ReLU fused")
    fused = int(what.split(", ")[-1].split()[0])
    # 2 stem convolutions, fuse.mix and 5 residual blocks
    assert fused == 8
    assert sum(isinstance(m, FusedResidual) for m in fast.modules()) == 5
    assert not any(isinstance(m, nn.ReLU) for m in fast.modules())
    # and the 2 shortcut convolutions (the blocks that change width)
    assert sum(isinstance(m, FusedConv) for m in fast.modules()) == 3 + 2 * 5 + 2
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), net(x), rtol=1e-4, atol=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got, want = fast(x), net(x)
        # bfloat16 in and out, like an autocast convolution; within bfloat16 rounding
        assert got.dtype == want.dtype
        assert float((got.float() - want.float()).abs().max()) < 0.05 * (
            float(want.float().abs().max()) + 1
        )
        # a bfloat16 input without autocast runs the bfloat16 weights too
        assert fast.stem(x.to(torch.bfloat16)).dtype == torch.bfloat16


def test_without_the_fused_operator_or_with_a_wrong_one_the_copy_runs_unfused(monkeypatch):
    from medviewer.ai import inference_graph
    from medviewer.ai.inference_graph import FusedConv

    net = _evidence_net()
    x = torch.rand(2, 3, 64, 64)
    monkeypatch.setattr(inference_graph, "_pointwise_ops", lambda: None)
    fast, what = inference_copy(net, x)
    assert "fused" not in what and not any(isinstance(m, FusedConv) for m in fast.modules())
    monkeypatch.undo()

    real = FusedConv.forward

    def off_by_a_bit(self, x, add=None):
        return real(self, x, add) * 1.01  # what a changed operator might do

    monkeypatch.setattr(FusedConv, "forward", off_by_a_bit)
    fast, what = inference_copy(net, x)
    assert "fused" not in what and what.startswith("15 BatchNorm folded")
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), net(x), rtol=1e-4, atol=1e-4)

    def refused(self, x, add=None):
        raise RuntimeError("mkldnn_convolution_pointwise: unsupported")

    monkeypatch.setattr(FusedConv, "forward", refused)
    fast, what = inference_copy(net, x)
    assert "fused" not in what
