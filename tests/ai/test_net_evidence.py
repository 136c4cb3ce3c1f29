"""The ``lesion_evidence`` network: logits are pooled from its class maps, the attention it
shows is its own lesion map, and fine-tuning can find and grow its head."""

from __future__ import annotations

import math

import pytest
import torch

from medviewer.ai import train_network as T
from medviewer.ai.builders import build, find_module


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    n = build("lesion_evidence", 3, 3)
    n.eval()
    return n


def test_size_and_grid(net):
    params = sum(p.numel() for p in net.parameters())
    assert 0.9e6 <= params <= 3e6
    logits, maps = net.forward_maps(torch.rand(2, 3, 256, 256))
    assert logits.shape == (2, 3) and maps.shape == (2, 3, 32, 32)


def test_logits_are_the_log_mean_exp_of_the_maps(net):
    with torch.no_grad():
        logits, maps = net.forward_maps(torch.rand(1, 3, 256, 256))
        r = net.sharpness
        want = (torch.logsumexp(r * maps.flatten(2), 2) - math.log(32 * 32)) / r
    torch.testing.assert_close(logits, want)
    torch.testing.assert_close(
        net(torch.zeros(1, 3, 256, 256)), net.forward_maps(torch.zeros(1, 3, 256, 256))[0]
    )


def test_one_strong_cell_raises_its_class_only(net):
    maps = torch.full((1, 3, 32, 32), -4.0)
    quiet = net.pool(maps)
    maps[0, 2, 10, 20] = 6.0
    loud = net.pool(maps)
    assert loud[0, 2] > quiet[0, 2] + 3.0
    torch.testing.assert_close(loud[0, :2], quiet[0, :2])


def test_the_attention_layer_outputs_the_strongest_lesion_map(net):
    seen = {}
    layer = find_module(net, "attention")
    handle = layer.register_forward_hook(lambda m, i, o: seen.setdefault("a", o))
    try:
        with torch.no_grad():
            _, maps = net.forward_maps(torch.rand(1, 3, 256, 256))
    finally:
        handle.remove()
    assert seen["a"].shape == (1, 1, 32, 32)
    torch.testing.assert_close(seen["a"], torch.sigmoid(maps[:, 1:].amax(1, keepdim=True)))


def test_fine_tuning_finds_the_head_and_grows_it_keeping_old_classes(net):
    import copy

    grown = copy.deepcopy(net)
    T.grow_head(grown, 3, 4, seed=0)
    name, head = T.find_head(grown, 4)
    assert name == "head" and head.out_features == 4
    x = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        want, got = net(x), grown(x)
    assert got.shape == (2, 4)
    torch.testing.assert_close(got[:, :3], want, rtol=0, atol=1e-5)
