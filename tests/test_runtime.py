"""helpers.runtime's networks as shapes only: the same tree as a CPU build, no initialisation run."""
from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm
from torch.utils._python_dispatch import TorchDispatchMode

from helpers.runtime import meta_device, on_meta


class AtenOps(TorchDispatchMode):
    """Records the aten operators dispatched in the block."""

    def __init__(self):
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "efficientnet_b1", "convnext_tiny", "shufflenet_v2_x0_5"])
def test_on_meta_builds_the_state_and_tree_of_a_cpu_build(name):
    meta, cpu = on_meta(tvm.get_model, name, weights=None), tvm.get_model(name, weights=None)
    assert all(t.is_meta for t in meta.state_dict().values())
    assert [(k, t.shape, t.dtype) for k, t in meta.state_dict().items()] == \
           [(k, t.shape, t.dtype) for k, t in cpu.state_dict().items()]
    assert [(n, type(m)) for n, m in meta.named_modules()] == [(n, type(m)) for n, m in cpu.named_modules()]
    assert [(n, p.requires_grad) for n, p in meta.named_parameters()] == \
           [(n, p.requires_grad) for n, p in cpu.named_parameters()]


def test_meta_device_runs_no_initialiser_on_meta_tensors():
    def build():
        return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(8, 4))

    with AtenOps() as plain, torch.device("meta"):
        build()
    with AtenOps() as skipped, meta_device():
        build()
    initialisers = {"normal_", "uniform_", "fill_", "zero_"}
    assert plain.ops & initialisers  # what torch.device("meta") alone runs
    assert not skipped.ops & initialisers


def test_meta_device_still_initialises_real_tensors_and_restores_the_device():
    with meta_device():
        assert torch.get_default_device().type == "meta"
        real = torch.nn.init.ones_(torch.empty(3, device="cpu"))
    assert torch.equal(real, torch.ones(3))
    with pytest.raises(RuntimeError, match="boom"), meta_device():
        raise RuntimeError("boom")
    assert torch.get_default_device().type == "cpu"
    assert torch.empty(1).device.type == "cpu"
