"""Receptive fields: the traced and chain forms checked against oracles.

The oracles are the gradient measurement (which pixels an output feature depends
on, read off autograd) and published values (Araujo, Norris & Sim, Distill 2019,
table of receptive fields), never the library's own arithmetic.

Big networks have fields larger than any cheap input. For them we compare the
*theoretical* region of output features 0, 1 and the last, clipped to the input,
with the measured non-zero support of the same features, on tall-thin inputs
(3, H_large, small W) so that only the H axis costs anything. The inputs are chosen
so that feature 0's end, feature 1's end and the last feature's start fall inside
the image: those three numbers pin size, stride and padding exactly.
"""
from __future__ import annotations

import copy
import functools

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from helpers.receptive import (
    ReceptiveField,
    _depthwise_as_shifts,
    empirical_receptive_field,
    gradient_map,
    gradient_maps,
    receptive_field,
    receptive_fields_by_module,
)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def tv_model(name: str) -> nn.Module:
    """A torchvision classifier with random weights (never downloaded); cached across tests."""
    torch.manual_seed(0)
    if name == "googlenet":  # init_weights=False: weights do not matter here, and it is faster
        return torchvision.models.googlenet(weights=None, init_weights=False)
    return getattr(torchvision.models, name)(weights=None)


def tv_features(name: str) -> nn.Module:
    """The spatial part of a classifier, before global pooling."""
    model = tv_model(name)
    if name.startswith("resnet"):
        return nn.Sequential(*list(model.children())[:-2])
    if name == "googlenet":
        head = {"aux1", "aux2", "avgpool", "dropout", "fc"}
        return nn.Sequential(*[m for n, m in model.named_children() if n not in head])
    return model.features


def output_hw(net: nn.Module, input_size: tuple[int, int, int]) -> tuple[int, int]:
    """Output map size, from a forward pass on meta tensors (no compute)."""
    values = {k: torch.empty_like(v, device="meta") for k, v in [*net.named_parameters(), *net.named_buffers()]}
    out = torch.func.functional_call(net.eval(), values, (torch.empty(1, *input_size, device="meta"),))
    return out.shape[-2], out.shape[-1]


def axis_of(value, axis: int) -> int:
    return value[axis] if isinstance(value, tuple) else value


def support(grad_map: torch.Tensor, axis: int) -> tuple[int, int]:
    """First and last input pixel, along ``axis`` (0 = H, 1 = W), with a non-zero gradient."""
    hits = torch.nonzero(grad_map.sum(1 - axis)).flatten()
    assert hits.numel() > 0, "the feature does not depend on the input at all"
    return int(hits[0]), int(hits[-1])


def assert_matches_gradients(net: nn.Module, input_size: tuple[int, int, int], axis: int = 0) -> ReceptiveField:
    """Theory vs measured support of output features 0, 1 and last along ``axis``, exactly.

    Returns the theoretical field so callers can report or compare it.
    """
    theory = receptive_field(net, input_size)
    assert not theory.is_global
    n = output_hw(net, input_size)[axis]
    length = input_size[1 + axis]
    chosen = [0, 1, n - 1]
    start = [axis_of(theory.start(i), axis) for i in chosen]
    end = [axis_of(theory.end(i), axis) for i in chosen]
    # The premise: these three borders fall inside the input, so the test pins r, S and P.
    assert end[0] < length - 1 and end[1] < length - 1 and start[2] > 0, (theory, n, length)
    indices = [(i, 0) if axis == 0 else (0, i) for i in chosen]
    maps = gradient_maps(net, input_size, indices)
    measured = [support(m, axis) for m in maps]
    expected = [(max(0, s), min(length - 1, e)) for s, e in zip(start, end)]
    assert measured == expected, (theory, measured, expected)
    # The same numbers, read as the Distill triple from the measurement alone.
    stride = measured[1][1] - measured[0][1]
    padding = (n - 1) * stride - measured[2][0]
    size = measured[0][1] + padding + 1
    assert (size, stride, padding) == tuple(axis_of(v, axis) for v in theory[:3])
    return theory


def assert_same_field(net: nn.Module, input_size: tuple[int, int, int], index=None) -> ReceptiveField:
    """Theory equals the gradient measurement (use an input larger than the field)."""
    theory = receptive_field(net, input_size)
    measured = empirical_receptive_field(net, input_size, index)
    assert theory == measured, (theory, measured)
    return theory


class Lambda(nn.Module):
    """Wrap a function as a module, for small hand-made graphs."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def conv(c_in: int, c_out: int, k, s=1, p=0, d=1, **kw) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, s, p, d, **kw)


# --------------------------------------------------------------------------------------
# The chain form
# --------------------------------------------------------------------------------------

def test_three_stacked_3x3_convs_see_7x7_by_gradients():
    net = nn.Sequential(conv(1, 1, 3, p=1), conv(1, 1, 3, p=1), conv(1, 1, 3, p=1))
    grad = gradient_map(net, (1, 15, 15))  # centre feature (7, 7)
    seen = torch.nonzero(grad)
    rows, cols = seen[:, 0], seen[:, 1]
    measured = (int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1))
    assert measured == (7, 7) and len(seen) == 7 * 7  # VGG's claim, a full 7x7 block
    assert receptive_field([(3, 1, 1)] * 3).size == measured[0]
    assert receptive_field(net, (1, 15, 15)).size == measured[0]


def test_empty_chain_is_one_pixel():
    assert receptive_field([]) == ReceptiveField(1, 1, 0, False)


@pytest.mark.parametrize("layers", [
    [(3, 2, 1), (3, 1, 1), (2, 2, 0), (5, 1, 2)],
    [(3, 1, 2, 2), (3, 1, 4, 4), (3, 2, 1)],  # dilation
    [(7, 2, 3), (3, 2, 1), (3, 1, 0, 3), (1, 2, 0), (3, 1, 1)],
    [((1, 7), 1, (0, 3)), ((7, 1), (2, 1), (3, 0)), (3, (1, 2), 1, (2, 1))],  # (h, w) pairs
])
def test_chain_recurrences_match_gradients_of_the_same_convs(layers):
    net = nn.Sequential(*[conv(1, 1, *layer) for layer in layers])
    assert receptive_field(layers) == empirical_receptive_field(net, (1, 96, 96))


def test_chain_answers_ints_when_axes_agree_and_pairs_when_not():
    same = receptive_field([((3, 3), (2, 2), (1, 1))])
    assert same == (3, 2, 1, False) and all(isinstance(v, int) for v in same[:3])
    mixed = receptive_field([((1, 7), 1, (0, 3)), (3, 2, 1)])
    assert mixed.size == (3, 9) and mixed.stride == 2 and mixed.padding == (1, 4)


def test_start_end_center_match_the_measured_support():
    layers = [(3, 2, 1), (2, 2, 0)]  # even total size: the centre is a half pixel
    rf = receptive_field(layers)
    net = nn.Sequential(*[conv(1, 1, *layer) for layer in layers])
    for i in (2, 3):
        lo, hi = support(gradient_map(net, (1, 32, 32), (i, i)), 0)
        assert (rf.start(i), rf.end(i)) == (lo, hi)
        assert rf.center(i) == (lo + hi) / 2
    assert isinstance(rf.start(1), int) and rf.start((1, 2)) == (rf.start(1), rf.start(2))
    assert isinstance(receptive_field([(3, 1, 1)]).center(4), int)


@pytest.mark.parametrize("layers, message", [
    ([(3, 1, 1), (3, 1, 1), (3, 0, 1)], r"layers\[2\]: stride must be positive, got 0"),
    ([(3, 1, -1)], r"layers\[0\]: padding must be non-negative, got -1"),
    ([(0, 1, 0)], r"layers\[0\]: kernel_size must be positive"),
    ([(3, 1, 1, 0)], r"layers\[0\]: dilation must be positive"),
    ([(3.0, 1, 1)], r"layers\[0\]: kernel_size must be an int"),
    ([(3, 1)], r"layers\[0\] must be a \(kernel_size, stride, padding\[, dilation\]\) tuple"),
    ([3, 1, 1], r"layers\[0\] must be a"),
    ([((3, 3, 3), 1, 1)], r"layers\[0\]: kernel_size must be an int or an \(h, w\) pair"),
    ([((3, 0), 1, 1)], r"layers\[0\]: kernel_size\[1\] must be positive"),
])
def test_chain_rejects_bad_layers_naming_index_and_argument(layers, message):
    with pytest.raises(ValueError, match=message):
        receptive_field(layers)


def test_receptive_field_rejects_what_is_neither_module_nor_chain():
    with pytest.raises(ValueError, match="expects an nn.Module"):
        receptive_field("resnet18")
    with pytest.raises(ValueError, match="input_size is only used with an nn.Module"):
        receptive_field([(3, 1, 1)], (3, 32, 32))
    with pytest.raises(ValueError, match="input_size=\\(C, H, W\\) is required"):
        receptive_field(conv(3, 3, 3))


@pytest.mark.parametrize("input_size, message", [
    ((224, 224), r"input_size must be \(C, H, W\)"),
    ("3x224x224", r"input_size must be \(C, H, W\)"),
    ((3, 0, 224), r"input_size\[1\] must be positive"),
    ((3, 224.0, 224), r"input_size\[1\] must be an int"),
])
def test_bad_input_size_is_a_clear_error(input_size, message):
    with pytest.raises(ValueError, match=message):
        receptive_field(conv(3, 3, 3), input_size)
    with pytest.raises(ValueError, match=message):
        empirical_receptive_field(conv(3, 3, 3), input_size)


def test_input_too_small_for_the_model_is_a_value_error():
    with pytest.raises(ValueError, match="forward pass .* failed"):
        receptive_field(conv(3, 3, 5), (3, 4, 4))


# --------------------------------------------------------------------------------------
# Hand-made graphs: theory equals measurement
# --------------------------------------------------------------------------------------

class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(c, c, 3, p=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True), conv(c, c, 3, p=1))

    def forward(self, x):
        out = self.body(x)
        out += x  # in place, as torchvision's blocks do
        return F.relu(out)


class InceptionLike(nn.Module):
    """Branches of different kernel sizes concatenated along channels."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.b1 = conv(c, 2, 1)
        self.b3 = nn.Sequential(conv(c, 2, 1), conv(2, 2, 3, p=1))
        self.b5 = nn.Sequential(conv(c, 2, 3, p=1), conv(2, 2, 3, p=1))
        self.pool = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), conv(c, 2, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.pool(x)], 1)


class Unaligned(nn.Module):
    """Two paths whose fields are not centred on the same pixel: the union is off-centre."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = conv(2, 2, 3, p=1), conv(2, 2, 3)

    def forward(self, x):
        return self.a(x) + self.b(F.pad(x, (0, 2, 0, 2)))  # b sees [i, i+2], a sees [i-1, i+1]


class ChannelsLastBlock(nn.Module):
    """ConvNeXt's pattern: depthwise conv, permute, LayerNorm and Linear over channels."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.dw = conv(c, c, 7, p=3, groups=c)
        self.norm, self.fc = nn.LayerNorm(c), nn.Linear(c, c)

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        y = self.fc(F.gelu(self.norm(y))).permute(0, 3, 1, 2)  # back to (N, C, H, W)
        return x + y


class SqueezeExcite(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv, self.fc = conv(c, c, 3, p=1), conv(c, c, 1)

    def forward(self, x):
        x = self.conv(x)
        scale = torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))  # (N, C, 1, 1): global
        return x * scale


def dilated_max_pool() -> nn.Module:
    return nn.Sequential(conv(1, 1, 3, p=1), nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True), conv(1, 1, 3))


@pytest.mark.parametrize("build, input_size", [
    (lambda: nn.Sequential(conv(2, 2, 3, s=2, p=1), Residual(2), Residual(2)), (2, 48, 48)),
    (lambda: nn.Sequential(conv(2, 4, 3, s=2), InceptionLike(4), conv(8, 2, 3, s=2, p=1), InceptionLike(2)),
     (2, 64, 64)),
    (lambda: nn.Sequential(Unaligned(), nn.AvgPool2d(2), Unaligned()), (2, 40, 40)),
    (lambda: nn.Sequential(conv(2, 4, 2, s=2), ChannelsLastBlock(4), ChannelsLastBlock(4)), (2, 64, 64)),
    (lambda: nn.Sequential(conv(1, 1, 3, p=2, d=2), conv(1, 1, 3, s=2, p=4, d=4), conv(1, 1, 3, p=1)), (1, 64, 64)),
    (dilated_max_pool, (1, 48, 48)),
    (lambda: nn.Sequential(conv(1, 1, (1, 7), p=(0, 3)), conv(1, 1, (7, 1), s=(2, 1), p=(3, 0))), (1, 48, 48)),
    (lambda: nn.Sequential(nn.Conv2d(1, 1, 4, padding="same"), nn.Conv2d(1, 1, 3, padding="valid"),
                           nn.AdaptiveAvgPool2d(9)), (1, 56, 56)),
    (lambda: nn.Sequential(conv(1, 2, 3, p=1), nn.LPPool2d(2, 3, 2), nn.ReLU6(), nn.Hardswish(),
                           nn.ZeroPad2d((2, 0, 1, 0)), conv(2, 1, 3)), (1, 40, 40)),
], ids=["residual", "inception-concat", "unaligned-paths", "channels-last-convnext", "dilation",
        "dilated-max-pool-ceil", "asymmetric-1x7-7x1", "same-valid-adaptive", "lp-pool-activations-asymmetric-pad"])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_receptive_field_matches_gradients_on_small_graphs_with_branches(build, input_size):
    torch.manual_seed(0)
    net = build()
    theory = assert_same_field(net, input_size)
    assert not theory.is_global


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.small, self.large = conv(1, 1, 3, p=1), conv(1, 1, 7, p=3)

    def forward(self, x):
        return {"small": self.small(x), "both": (self.large(x), x)}


def test_dict_and_tuple_outputs_combine_their_fields():
    theory = assert_same_field(TwoHeads(), (1, 24, 24))  # the measurement sums the outputs
    assert theory.size == receptive_field(nn.Sequential(conv(1, 1, 7, p=3)), (1, 24, 24)).size


def test_unaligned_paths_give_an_off_centre_field():
    theory = assert_same_field(nn.Sequential(Unaligned()), (2, 24, 24))
    assert (theory.start(5), theory.end(5)) == (4, 7)  # union of [4, 6] and [5, 7]


def test_squeeze_excitation_makes_the_field_global_by_gradients():
    net = nn.Sequential(conv(2, 2, 3, p=1), SqueezeExcite(2), conv(2, 2, 3, p=1))
    theory = assert_same_field(net, (2, 32, 32), (3, 3))  # local convs alone would see 7x7
    assert theory == ReceptiveField(32, 0, 0, True)


@pytest.mark.parametrize("head", [
    lambda: nn.Sequential(nn.Flatten(), nn.LazyLinear(3)),
    lambda: nn.Flatten(),  # the flattened output, measured as one feature
    lambda: Lambda(lambda x: F.softmax(x.flatten(2), -1).sum(-1)),  # spatial attention pooling
    lambda: Lambda(lambda x: x.amax(dim=(-1, -2))),
    lambda: nn.Sequential(nn.GroupNorm(1, 2), conv(2, 2, 1)),
])
def test_global_heads_are_global_by_gradients(head):
    net = nn.Sequential(conv(2, 2, 3, p=1), head())
    net(torch.zeros(1, 2, 20, 20))  # materialise lazy modules
    theory = assert_same_field(net, (2, 20, 20))  # the centre feature, or the one output vector
    assert theory == ReceptiveField(20, 0, 0, True)  # the conv alone would see 3x3


def test_reduction_over_one_axis_makes_only_that_axis_global():
    net = nn.Sequential(conv(1, 1, 3, p=1), Lambda(lambda x: x.mean(2, keepdim=True)))  # (N, C, 1, W)
    theory = assert_same_field(net, (1, 20, 24), (0, 5))
    assert theory.size == (20, 3) and theory.stride == (0, 1) and not theory.is_global


def test_linear_over_the_w_axis_mixes_only_w_like_mlp_mixer():
    net = nn.Sequential(conv(1, 1, 3, p=1), nn.Linear(16, 16))  # nn.Linear acts on the last dim: W
    theory = assert_same_field(net, (1, 20, 16))
    assert theory.size == (3, 16) and theory.stride == (1, 0) and not theory.is_global


def test_attention_over_spatial_tokens_is_global():
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.attn = conv(3, 8, 4, s=4), nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            t = self.conv(x).flatten(2).transpose(1, 2)  # (N, C, H, W) -> (N, H*W, C)
            return self.attn(t, t, t)[0]

    net = Tokens()
    assert receptive_field(net, (3, 32, 32)) == ReceptiveField(32, 0, 0, True)
    assert empirical_receptive_field(net, (3, 32, 32)).is_global


def test_adaptive_pool_that_does_not_divide_is_conservative():
    net = nn.Sequential(conv(1, 1, 3, p=1), nn.AdaptiveAvgPool2d(5))  # 7 -> 5: windows of 2 and 3
    theory = receptive_field(net, (1, 7, 7))
    lo, hi = support(gradient_map(net, (1, 7, 7), (0, 0)), 0)
    assert theory.start(0) <= lo and theory.end(0) >= hi  # never smaller than what feature 0 sees


def test_depthwise_speed_up_computes_exactly_the_convolution():
    torch.manual_seed(0)
    for channels, mult, kernel, stride, padding, dilation in [
        (4, 1, 3, 1, 1, 1), (4, 2, (3, 5), 2, (1, 0), (1, 2)), (6, 1, 7, 1, "same", 2), (6, 1, 4, 1, "same", 1),
    ]:
        x = torch.randn(2, channels, 17, 13, dtype=torch.float64)
        k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
        w = torch.randn(channels * mult, 1, *k, dtype=torch.float64)
        b = torch.randn(channels * mult, dtype=torch.float64)
        args = (x, w, b, stride, padding, dilation, channels)
        torch.testing.assert_close(_depthwise_as_shifts("conv2d", F.conv2d, args, {}), F.conv2d(*args))
    # ... and its hand-written backward pass, against finite differences
    x = torch.randn(1, 3, 7, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 1, 3, 2, dtype=torch.float64, requires_grad=True)
    shifted = lambda x, w: _depthwise_as_shifts("conv2d", F.conv2d, (x, w, None, 2, 1, (1, 2), 3), {})  # noqa: E731
    assert torch.autograd.gradcheck(shifted, (x, w))


# --------------------------------------------------------------------------------------
# Unsupported ops: a clear error, never a silent number
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer, message", [
    (lambda: nn.ConvTranspose2d(2, 2, 2, 2), "conv_transpose2d"),
    (lambda: nn.Upsample(scale_factor=2), "interpolate"),
    (lambda: Lambda(lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear")), "interpolate"),
    (lambda: Lambda(lambda x: x[:, :, 1:]), "__getitem__.*slices or indexes the H axis"),
    (lambda: Lambda(lambda x: x[..., ::2]), "__getitem__.*W axis"),
    (lambda: conv(2, 2, 3, p=1, padding_mode="circular"), "circular padding"),
    (lambda: nn.PixelShuffle(2), "pixel_shuffle"),
    (lambda: Lambda(lambda x: torch.flip(x, (2,))), "flip"),
    (lambda: Lambda(lambda x: x.view(1, 2, 4, 4, 16)), "splits the H axis"),  # a window partition
    (lambda: Lambda(lambda x: F.avg_pool2d(x, 2) + F.conv2d(x, torch.ones(2, 2, 9, 9))), "different strides"),
])
def test_unsupported_ops_raise_value_error_naming_the_op(layer, message):
    net = nn.Sequential(conv(2, 2, 3, p=1), layer())
    with pytest.raises(ValueError, match=message):
        receptive_field(net, (2, 16, 16))


def test_ops_after_a_global_tensor_need_no_rule():
    # DeepLab's image pooling: global average, then upsampled back onto the map.
    pooled = Lambda(lambda x: x + F.interpolate(x.mean((2, 3), keepdim=True), size=x.shape[-2:]))
    net = nn.Sequential(conv(2, 2, 3, p=1), pooled)
    assert receptive_field(net, (2, 16, 16)).is_global


# --------------------------------------------------------------------------------------
# torchvision: published values and feature extractors against gradients
# --------------------------------------------------------------------------------------

def test_distill_table_alexnet_last_conv_block_sees_195():
    assert receptive_field(tv_features("alexnet"), (3, 224, 224)).size == 195


def test_distill_table_vgg16_last_conv_block_sees_212():
    assert receptive_field(tv_features("vgg16"), (3, 224, 224)).size == 212


def test_empirical_field_of_alexnet_features_equals_theory_when_it_fits():
    net = tv_features("alexnet")
    measured = empirical_receptive_field(net, (3, 448, 64), index=(6, 0))  # field [126, 320], inside
    theory = receptive_field(net, (3, 448, 64))
    assert (measured.size[0], measured.stride[0], measured.padding[0]) == (195, 32, 66)
    assert (theory.size, theory.stride, theory.padding) == (195, 32, 66)


@pytest.mark.parametrize("name, input_size, axis", [
    ("alexnet", (3, 64, 224), 1),  # along W
    ("vgg16", (3, 224, 32), 0),
    ("googlenet", (3, 256, 32), 0),  # ceil-mode pools need W >= 32
    ("resnet18", (3, 8, 256), 1),  # along W
    ("resnet34", (3, 512, 8), 0),
    ("resnet50", (3, 256, 8), 0),
    ("resnet101", (3, 544, 8), 0),
    ("resnet152", (3, 768, 8), 0),
    ("mobilenet_v2", (3, 288, 8), 0),
    ("convnext_tiny", (3, 896, 32), 0),
])
def test_receptive_field_matches_gradients_on_torchvision_feature_extractor(name, input_size, axis):
    assert_matches_gradients(tv_features(name), input_size, axis)


def test_receptive_field_matches_gradients_on_efficientnet_b0_global_features():
    net = tv_features("efficientnet_b0")
    assert receptive_field(net, (3, 64, 64)) == ReceptiveField(64, 0, 0, True)
    assert empirical_receptive_field(net, (3, 64, 64)).is_global


@pytest.mark.parametrize("name", [
    "alexnet", "vgg16", "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "mobilenet_v2", "efficientnet_b0", "convnext_tiny",
])
def test_whole_torchvision_classifier_is_global(name):
    assert receptive_field(tv_model(name), (3, 224, 224)) == ReceptiveField(224, 0, 0, True)


@pytest.mark.parametrize("name", ["alexnet", "resnet18"])
def test_whole_classifier_is_global_by_gradients(name):
    size = (3, 96, 96) if name == "resnet18" else (3, 224, 224)
    assert empirical_receptive_field(tv_model(name), size).is_global


# --------------------------------------------------------------------------------------
# Per-module fields, and the caller's module stays untouched
# --------------------------------------------------------------------------------------

def test_fields_by_module_match_gradients_of_each_prefix():
    torch.manual_seed(0)
    net = nn.Sequential(conv(1, 2, 3, s=2, p=1), nn.ReLU(), nn.MaxPool2d(2), Residual(2), conv(2, 1, 5, p=2))
    fields = receptive_fields_by_module(net, (1, 64, 64))
    assert list(fields)[:2] == ["0", "1"] and fields[""] == fields["4"]
    for k in range(len(net)):
        assert fields[str(k)] == empirical_receptive_field(net[: k + 1], (1, 64, 64)), k
    assert fields["3.body.3"] == empirical_receptive_field(nn.Sequential(*net[:3], *net[3].body), (1, 64, 64))


def test_fields_by_module_on_resnet18_name_every_layer():
    model = tv_model("resnet18")
    fields = receptive_fields_by_module(model, (3, 224, 224))
    named = {name for name, _ in model.named_modules()}
    assert set(fields) == named
    assert fields["layer4"] == receptive_field(tv_features("resnet18"), (3, 224, 224))
    assert fields["avgpool"].is_global and fields["fc"].is_global and not fields["layer4"].is_global


def test_caller_module_is_left_untouched():
    model = tv_model("resnet18")
    model.train()
    model.layer1.eval()  # a mix of flags must survive too
    before = copy.deepcopy(model.state_dict())
    flags = [m.training for m in model.modules()]
    receptive_field(model, (3, 64, 64))
    receptive_fields_by_module(model, (3, 64, 64))
    empirical_receptive_field(model, (3, 64, 64))
    assert [m.training for m in model.modules()] == flags
    assert all(not m._forward_hooks for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].device.type == "cpu" for k in before)
    model.eval()


def test_gradient_map_is_a_non_negative_heat_map_with_checked_indices():
    net = nn.Sequential(conv(1, 1, 3, p=1), conv(1, 1, 3, s=2, p=1))
    chain = receptive_field([(3, 1, 1), (3, 2, 1)])
    grad = gradient_map(net, (1, 16, 16), (-1, 0))  # negative counts from the end, like Python
    assert grad.shape == (16, 16) and grad.dtype == torch.float64 and bool((grad >= 0).all())
    assert support(grad, 0) == (chain.start(7), 15) and chain.end(7) > 15  # clipped at the border
    assert support(grad, 1) == (0, chain.end(0)) and chain.start(0) < 0
    assert gradient_maps(net, (1, 16, 16), [(0, 0), None]).shape == (2, 16, 16)
    with pytest.raises(ValueError, match=r"index\[0\] must be in \[-8, 7\]"):
        gradient_map(net, (1, 16, 16), (8, 0))
    with pytest.raises(ValueError, match="pass index=None"):
        gradient_map(nn.Sequential(net, nn.Flatten()), (1, 16, 16), (0, 0))
