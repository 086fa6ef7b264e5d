"""helpers.models.lenet5 against LeNet-5's own paper (LeCun, Bottou, Bengio & Haffner 1998, Section II.B):
the feature-map sizes torch produces, and the trainable parameters and connections the paper prints
for every layer (60,000 parameters and 340,908 connections in all)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import helpers
from helpers.models import LENET5_C3_TABLE, lenet5, lenet5_layer_params
from helpers.models.lenet import EuclideanRBF, SparseConv, Subsampling

# Section II.B, layer by layer: (feature maps, size) of the output, trainable parameters, connections.
PAPER = {
    "c1": ((6, 28, 28), 156, 122_304),
    "s2": ((6, 14, 14), 12, 5_880),
    "c3": ((16, 10, 10), 1_516, 151_600),
    "s4": ((16, 5, 5), 32, 2_000),
    "c5": ((120, 1, 1), 48_120, 48_120),
    "f6": ((84,), 10_164, 10_164),
}
PAPER_TOTAL_PARAMS = 60_000  # "only 60,000 trainable free parameters because of the weight sharing"
PAPER_TOTAL_CONNECTIONS = 340_908  # "The network has 340,908 connections"


def outputs(net: nn.Module) -> dict[str, torch.Tensor]:
    """Each layer's output on one 1x32x32 image, by name."""
    seen: dict[str, torch.Tensor] = {}
    for name, layer in net.named_children():
        layer.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, (i[0], o)))
    with torch.no_grad():
        net(torch.randn(1, 1, 32, 32))
    return seen


def connections(layer: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Inputs (and the bias) each output unit is connected to, summed over the units."""
    if isinstance(layer, nn.Conv2d):
        per_unit = layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1] + 1
        return per_unit * y[0].numel()
    if isinstance(layer, SparseConv):
        return sum(connections(conv, x, y[:, :1]) for conv in layer.maps)
    if isinstance(layer, Subsampling):
        return 5 * y[0].numel()  # four inputs and the bias
    if isinstance(layer, nn.Linear):
        return (layer.in_features + 1) * layer.out_features
    if isinstance(layer, EuclideanRBF):
        return layer.centres.numel()
    raise TypeError(type(layer).__name__)


def test_lenet5_shapes_are_the_papers():
    got = {name: tuple(y.shape[1:]) for name, (x, y) in outputs(lenet5()).items()}
    assert {name: got[name] for name in PAPER} == {name: shape for name, (shape, _, _) in PAPER.items()}
    assert got["output"] == (10,)


def test_lenet5_parameters_per_layer_are_the_papers():
    net = lenet5()
    got = lenet5_layer_params(net)
    assert {name: got[name] for name in PAPER} == {name: params for name, (_, params, _) in PAPER.items()}
    assert got["output"] == 0  # the RBF centres are chosen by hand, not trained
    assert helpers.count_params(net) == PAPER_TOTAL_PARAMS


def test_lenet5_connections_are_the_papers():
    got = {name: connections(getattr(lenet5(), name), x, y) for name, (x, y) in outputs(lenet5()).items()}
    assert {name: got[name] for name in PAPER} == {name: conn for name, (_, _, conn) in PAPER.items()}
    assert sum(got.values()) == PAPER_TOTAL_CONNECTIONS


def test_c3_table_is_table_one():
    """Six maps of three neighbours, six of four neighbours, three of four non-neighbours, one of all six."""
    sizes = [len(inputs) for inputs in LENET5_C3_TABLE]
    assert sizes == [3] * 6 + [4] * 9 + [6]
    assert all(len(set(inputs)) == len(inputs) and set(inputs) <= set(range(6)) for inputs in LENET5_C3_TABLE)
    # every S2 map feeds the same number of C3 maps (10): the table is symmetric
    assert [sum(i in inputs for inputs in LENET5_C3_TABLE) for i in range(6)] == [10] * 6


def test_sparse_c3_equals_a_masked_full_convolution():
    """C3 is a 6->16 convolution whose missing connections are zero: torch's own conv2d is the oracle."""
    net = lenet5()
    full = torch.zeros(16, 6, 5, 5)
    bias = torch.zeros(16)
    for j, (inputs, conv) in enumerate(zip(LENET5_C3_TABLE, net.c3.maps)):
        full[j, list(inputs)] = conv.weight[0]
        bias[j] = conv.bias[0]
    x = torch.randn(2, 6, 14, 14)
    torch.testing.assert_close(net.c3(x), torch.nn.functional.conv2d(x, full, bias))


def test_modern_lenet5():
    net = lenet5(paper=False)
    assert helpers.count_params(net) == 61_706  # C3 fully connected (2,416), a linear output (850)
    assert net(torch.zeros(3, 1, 32, 32)).shape == (3, 10)


def test_lenet5_rejects_a_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        lenet5(num_classes=0)
