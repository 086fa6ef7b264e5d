"""The counting-tool table of unit 04 stays true: fvcore, ptflops and thop are run on the networks it
describes and must report what the notebook says they report.

Each tool's rule in the table (section 1 of notebooks/04_efficiency.ipynb) is written here once more
as a per-module rule applied with forward hooks; the tool itself is the oracle. A release of a tool
that changes its convention fails here, with the tool and the network named, before it misleads a
student.
"""
from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable

import fvcore.nn as fvcore_nn  # fvcore, ptflops, thop: development dependencies, ranged in pyproject.toml
import ptflops
import pytest
import thop
import torch
import torchvision
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

import helpers


Rule = Callable[[nn.Module, torch.Tensor, torch.Tensor], int]
SIZE = (3, 64, 64)  # small enough to keep the suite fast; the rules do not depend on the size


def small() -> nn.Module:
    """Unit 04's ``small`` network (question 1.2)."""
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 16 * 16, 10)).eval()


NETWORKS: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int]]] = {
    "small": (small, (3, 32, 32)),
    "resnet18": (functools.cache(lambda: torchvision.models.resnet18().eval()), SIZE),
    "mobilenet_v2": (functools.cache(lambda: torchvision.models.mobilenet_v2().eval()), SIZE),
}


def conv_macs(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    return y.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)


def by_rules(net: nn.Module, input_size: tuple[int, ...], rules: dict[type, Rule]) -> int:
    """Sum ``rules[type(module)](module, input, output)`` over every call of every leaf module."""
    total = [0]

    def hook(m: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        total[0] += rules[type(m)](m, inputs[0], out) if type(m) in rules else 0

    handles = [m.register_forward_hook(hook) for m in net.modules() if not list(m.children())]
    with torch.no_grad():
        net(torch.zeros(1, *input_size))
    for h in handles:
        h.remove()
    return total[0]


class _Calls(TorchFunctionMode):
    """Records the input size of every call of the named torch functions, by module or functional."""

    def __init__(self, names: set[str]) -> None:
        super().__init__()
        self.names, self.total = names, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        if getattr(func, "__name__", "") in self.names:
            self.total += args[0].numel()
        return func(*args, **(kwargs or {}))


def by_calls(net: nn.Module, input_size: tuple[int, ...], names: set[str]) -> int:
    """1 per input element of every call of a function in ``names`` (``relu``, ``max_pool2d``, ...)."""
    with _Calls(names) as calls, torch.no_grad():
        net(torch.zeros(1, *input_size))
    return calls.total


def affine_norm(per_element: int) -> Rule:
    return lambda m, x, y: x.numel() * per_element * (2 if m.affine else 1)


MACS: dict[type, Rule] = {nn.Conv2d: conv_macs, nn.Linear: lambda m, x, y: x.numel() * m.out_features}
# fvcore: "one fused multiply-add as one flop"; batch norm in eval 1 per element, 2 with affine;
# adaptive average pooling 1 per input element; ReLU, max-pool and additions are not counted.
FVCORE = {**MACS, nn.BatchNorm2d: affine_norm(1)}
FVCORE_CALLS = {"adaptive_avg_pool2d"}
# ptflops (PyTorch backend), module hooks: MACs plus one per output for a bias, batch norm 2 per element
# with affine, ReLU 1 per output element, pooling 1 per input element.
PTFLOPS_MODULES = {
    nn.Conv2d: lambda m, x, y: conv_macs(m, x, y) + (y.numel() if m.bias is not None else 0),
    nn.Linear: lambda m, x, y: x.numel() * m.out_features + (m.out_features if m.bias is not None else 0),
    nn.BatchNorm2d: affine_norm(1),
    nn.ReLU: lambda m, x, y: y.numel(),
    nn.ReLU6: lambda m, x, y: y.numel(),
    nn.MaxPool2d: lambda m, x, y: x.numel(),
    nn.AdaptiveAvgPool2d: lambda m, x, y: x.numel(),
}
# ptflops' default (count_functional=True) also counts every call of F.relu, F.max_pool2d and
# F.adaptive_avg_pool2d (1 per input element), so a module that calls one is counted twice.
# nn.ReLU6 calls F.hardtanh, which it does not patch.
PTFLOPS_CALLS = {"relu", "max_pool2d", "adaptive_avg_pool2d"}
# thop 0.1.x: convolutions without their bias, linear layers, batch norm 2 per element and 2 more
# with affine, adaptive average pooling (window size + 1) per output; ReLU and max-pool count 0, and
# a functional call (no module) is not seen.
THOP = {**MACS, nn.BatchNorm2d: affine_norm(2),
        nn.AdaptiveAvgPool2d: lambda m, x, y: y.numel() * (x.numel() // y.numel() + 1)}


def run_fvcore(net: nn.Module, input_size: tuple[int, ...]) -> int:
    analysis = fvcore_nn.FlopCountAnalysis(net, torch.zeros(1, *input_size))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.total())


def run_ptflops(net: nn.Module, input_size: tuple[int, ...], count_functional: bool = True) -> int:
    macs, _ = ptflops.get_model_complexity_info(
        net, input_size, as_strings=False, print_per_layer_stat=False, backend="pytorch",
        backend_specific_config={"count_functional": count_functional})
    return int(macs)


def run_thop(net: nn.Module, input_size: tuple[int, ...]) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs, _ = thop.profile(net, inputs=(torch.zeros(1, *input_size),), verbose=False)
    return int(macs)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_fvcore_counts_macs_plus_norms(name):
    build, size = NETWORKS[name]
    assert run_fvcore(build(), size) == by_rules(build(), size, FVCORE) + by_calls(build(), size, FVCORE_CALLS), f"fvcore on {name}"


@pytest.mark.parametrize("name", list(NETWORKS))
def test_ptflops_without_functional_counts_each_module_once(name):
    build, size = NETWORKS[name]
    assert run_ptflops(build(), size, count_functional=False) == by_rules(build(), size, PTFLOPS_MODULES), \
        f"ptflops (count_functional=False) on {name}"


@pytest.mark.parametrize("name", list(NETWORKS))
def test_ptflops_default_counts_relu_and_pooling_twice(name):
    build, size = NETWORKS[name]
    twice = by_rules(build(), size, PTFLOPS_MODULES) + by_calls(build(), size, PTFLOPS_CALLS)
    assert run_ptflops(build(), size) == twice, f"ptflops (default) on {name}"


@pytest.mark.parametrize("name", list(NETWORKS))
def test_thop_counts_macs_plus_norms(name):
    build, size = NETWORKS[name]
    assert run_thop(build(), size) == by_rules(build(), size, THOP), f"thop on {name}"


@pytest.mark.parametrize("name", list(NETWORKS))
def test_flop_counter_mode_reports_two_flops_per_mac(name):
    build, size = NETWORKS[name]
    net = build()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.zeros(1, *size))
    assert counter.get_total_flops() == 2 * helpers.count_macs(net, size) == 2 * by_rules(net, size, MACS)


def test_unit04_small_numbers():
    """The numbers question 1.2 of unit 04 states for ``small`` on 3x32x32, as each tool reports them."""
    net, size = small(), (3, 32, 32)
    assert helpers.count_macs(net, size) == 483_328
    assert run_fvcore(net, size) == 516_096
    assert run_ptflops(net, size) == 598_026
    assert run_ptflops(net, size, count_functional=False) == 565_258
    assert run_thop(net, size) == 548_864


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2"])
def test_torchvision_ops_are_count_macs(name):
    """torchvision's published "GFLOPS" (``_ops``) are ``helpers.count_macs`` at 224x224, to 3 decimals."""
    weights = torchvision.models.get_model_weights(name).DEFAULT
    net = torchvision.models.get_model(name).eval()
    assert round(helpers.count_macs(net, (3, 224, 224)) / 1e9, 3) == weights.meta["_ops"]
