"""Device choice (CUDA > MPS > CPU, fallback with a notice) and out-of-memory recognition."""

import pytest
import torch

from medviewer.ai.device import DEVICE_CHOICES, device_label, is_out_of_memory, pick_device
from medviewer.errors import ModelError


@pytest.fixture
def machine(monkeypatch):
    """Fake what the machine has: machine(cuda=..., mps=..., gpus=...)."""

    def set_(cuda=False, mps=False, gpus=1):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus if cuda else 0)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return set_


@pytest.mark.parametrize(
    "cuda, mps, expected",
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(machine, cuda, mps, expected):
    machine(cuda=cuda, mps=mps)
    assert pick_device("auto") == (expected, [])
    assert pick_device() == (expected, [])


def test_cpu_is_always_the_cpu(machine):
    machine(cuda=True, mps=True)
    assert pick_device("cpu") == ("cpu", [])


def test_cuda_requested_but_absent_runs_on_cpu_with_a_notice(machine):
    machine(cuda=False, mps=True)
    device, notices = pick_device("cuda")
    assert device == "cpu"
    assert notices == ["CUDA was requested but no CUDA GPU is available; running on the CPU"]


def test_mps_requested_but_absent_runs_on_cpu_with_a_notice(machine):
    machine(cuda=True, mps=False)
    device, notices = pick_device("mps")
    assert device == "cpu"
    assert len(notices) == 1 and "MPS" in notices[0] and "running on the CPU" in notices[0]


def test_present_devices_are_used(machine):
    machine(cuda=True, mps=True, gpus=2)
    assert pick_device("cuda") == ("cuda", [])
    assert pick_device(" MPS ") == ("mps", [])
    assert pick_device("cuda:1") == ("cuda:1", [])


def test_a_gpu_index_beyond_the_machine_falls_back_to_the_first_gpu(machine):
    machine(cuda=True, gpus=1)
    device, notices = pick_device("cuda:3")
    assert device == "cuda"
    assert "1 CUDA GPU" in notices[0] and "cuda:0" in notices[0]


@pytest.mark.parametrize("bad", ["gpu", "tpu", "cuda:x", "cpu0"])
def test_unknown_preference_lists_the_choices(bad):
    with pytest.raises(ModelError) as err:
        pick_device(bad)
    text = str(err.value)
    assert repr(bad) in text
    assert all(choice in text for choice in DEVICE_CHOICES)


def test_out_of_memory_is_recognised():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory"))
    assert not is_out_of_memory(KeyError("x"))


def test_device_labels():
    assert device_label("cpu") == "CPU"
    assert device_label("mps") == "Apple MPS"
    assert device_label("cuda:1") == "CUDA GPU (cuda:1)"


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "native"),
    [(True, False, True), (False, True, True), (False, False, False)],
)
def test_native_bfloat16_on_the_cpu_follows_the_cpu_features(monkeypatch, avx512_bf16, amx, native):
    from medviewer.ai.device import native_bf16

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert native_bf16("cpu") is native
    assert native_bf16("mps") is False


def test_native_bfloat16_on_cuda_asks_the_gpu(monkeypatch):
    from medviewer.ai.device import native_bf16

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert native_bf16("cuda:0") is False
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert native_bf16("cuda") is True


def test_a_torch_without_the_probes_means_no_bfloat16(monkeypatch):
    from medviewer.ai.device import native_bf16

    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert native_bf16("cpu") is False
