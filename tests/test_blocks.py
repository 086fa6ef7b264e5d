"""helpers.blocks against torchvision's blocks as the oracle.

For each block: build torchvision's with random weights and random Batch Norm
running statistics, load its ``state_dict`` into ours with ``strict=True``, and
compare both outputs in eval mode, in float64 with tight tolerances.
"""
from functools import partial

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import efficientnet as tv_efficientnet
from torchvision.models import mobilenetv2 as tv_mobilenetv2
from torchvision.models import resnet as tv_resnet
# `torchvision.models.googlenet` is also the name of the builder function: import from the module path
from torchvision.models.googlenet import BasicConv2d as TVBasicConv2d
from torchvision.models.googlenet import Inception as TVInception
from torchvision.ops import Conv2dNormActivation
from torchvision.ops import SqueezeExcitation as TVSqueezeExcitation
from torchvision.ops import StochasticDepth as TVStochasticDepth

from helpers.blocks import (
    BasicBlock,
    BasicConv2d,
    Bottleneck,
    ConvNormAct,
    DepthwiseSeparable,
    InceptionBlock,
    InvertedResidual,
    MBConv,
    MBConvConfig,
    SqueezeExcitation,
    StochasticDepth,
    conv1x1,
    conv3x3,
    make_divisible,
    projection,
)

DTYPE = torch.float64
TOL = dict(rtol=1e-10, atol=1e-12)


def randn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=DTYPE)


def randomize_(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights everywhere and random Batch Norm statistics, so no default hides a mistake."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)   # γ in [0.5, 1.5)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return module


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def assert_twins(ours: nn.Module, theirs: nn.Module, x_shape: tuple, seed: int = 0) -> torch.Tensor:
    """theirs' state_dict loads into ours strictly; same parameter count; same eval output. Returns it."""
    theirs = randomize_(theirs, seed).to(DTYPE).eval()
    ours = ours.to(DTYPE).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert n_params(ours) == n_params(theirs)
    x = randn(*x_shape, seed=seed + 1)
    with torch.no_grad():
        expected = theirs(x.clone())
        actual = ours(x.clone())
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, **TOL)
    return actual


# --------------------------------------------------------------------------
# Section 1: conv3x3, conv1x1, ConvNormAct
# --------------------------------------------------------------------------

@pytest.mark.parametrize("stride,groups,dilation", [(1, 1, 1), (2, 1, 1), (1, 4, 1), (2, 2, 3)])
def test_conv3x3_is_built_like_torchvision_resnet_conv3x3(stride, groups, dilation):
    ours = conv3x3(8, 16, stride, groups, dilation)
    theirs = tv_resnet.conv3x3(8, 16, stride, groups, dilation)
    assert repr(ours) == repr(theirs)
    assert ours.bias is None
    assert_twins(ours, theirs, (2, 8, 11, 11))


@pytest.mark.parametrize("stride", [1, 2])
def test_conv1x1_is_built_like_torchvision_resnet_conv1x1(stride):
    ours = conv1x1(8, 16, stride)
    theirs = tv_resnet.conv1x1(8, 16, stride)
    assert repr(ours) == repr(theirs)
    assert_twins(ours, theirs, (2, 8, 7, 7))


@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_conv3x3_keeps_the_spatial_size_at_stride_1_for_any_dilation(dilation):
    assert conv3x3(3, 4, dilation=dilation)(torch.zeros(1, 3, 9, 10)).shape == (1, 4, 9, 10)


CONV_NORM_ACT_CONFIGS = [
    dict(),
    dict(kernel_size=1),
    dict(kernel_size=5, stride=2),
    dict(kernel_size=3, dilation=2, groups=8),
    dict(kernel_size=3, padding=0),
    dict(norm_layer=None),                       # no norm: conv gets a bias, activation moves to index 1
    dict(activation_layer=None),
    dict(activation_layer=nn.ReLU6),
    dict(activation_layer=nn.SiLU, bias=True),
]


def kwargs_id(kwargs: dict) -> str:
    return ",".join(f"{k}={getattr(v, '__name__', v)}" for k, v in kwargs.items()) or "default"


@pytest.mark.parametrize("kwargs", CONV_NORM_ACT_CONFIGS, ids=kwargs_id)
def test_conv_norm_act_equals_torchvision_conv2d_norm_activation(kwargs):
    ours = ConvNormAct(8, 16, **kwargs)
    theirs = Conv2dNormActivation(8, 16, **kwargs)
    assert repr(ours) == repr(theirs).replace("Conv2dNormActivation", "ConvNormAct")
    assert ours.out_channels == theirs.out_channels == 16
    assert_twins(ours, theirs, (2, 8, 9, 9))


def test_conv_norm_act_pads_kernel_minus_one_over_two_times_dilation():
    assert ConvNormAct(4, 4, kernel_size=5, dilation=3)[0].padding == (6, 6)
    assert ConvNormAct(4, 4, kernel_size=7)[0].padding == (3, 3)
    assert ConvNormAct(4, 4, kernel_size=1)[0].padding == (0, 0)


def test_conv_norm_act_has_a_conv_bias_only_without_norm():
    assert ConvNormAct(4, 4)[0].bias is None
    assert ConvNormAct(4, 4, norm_layer=None)[0].bias is not None


# --------------------------------------------------------------------------
# Section 2: Inception
# --------------------------------------------------------------------------

def test_basic_conv2d_equals_torchvision_googlenet_basic_conv2d_with_bn_eps_0_001():
    ours = BasicConv2d(8, 16, kernel_size=3, padding=1)
    theirs = TVBasicConv2d(8, 16, kernel_size=3, padding=1)
    assert ours.bn.eps == theirs.bn.eps == 0.001
    assert_twins(ours, theirs, (2, 8, 7, 7))


# GoogLeNet's inception (3a), (3b), (4a): in_channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
# (Szegedy et al. 2015, Table 1)
INCEPTION_ROWS = {"3a": (192, 64, 96, 128, 16, 32, 32),
                  "3b": (256, 128, 128, 192, 32, 96, 64),
                  "4a": (480, 192, 96, 208, 16, 48, 64)}


@pytest.mark.parametrize("row", INCEPTION_ROWS, ids=lambda r: f"inception_{r}")
def test_inception_block_equals_torchvision_googlenet_inception(row):
    args = INCEPTION_ROWS[row]
    x = assert_twins(InceptionBlock(*args), TVInception(*args), (2, args[0], 7, 7))
    assert x.shape == (2, args[1] + args[3] + args[5] + args[6], 7, 7)


def test_torchvision_inception_branch3_is_3x3_not_the_papers_5x5():
    theirs = TVInception(*INCEPTION_ROWS["3a"])
    assert theirs.branch3[1].conv.kernel_size == (3, 3)
    assert InceptionBlock(*INCEPTION_ROWS["3a"]).branch3[1].conv.kernel_size == (3, 3)


def test_inception_block_with_5x5_branch3_is_the_paper_block():
    args = INCEPTION_ROWS["3a"]
    ours = InceptionBlock(*args, branch3_kernel_size=5)
    assert ours.branch3[1].conv.kernel_size == (5, 5)
    # oracle: torchvision's block with its branch3 conv swapped for the paper's 5x5
    theirs = TVInception(*args)
    theirs.branch3[1] = TVBasicConv2d(args[4], args[5], kernel_size=5, padding=2)
    assert_twins(ours, theirs, (2, args[0], 7, 7))
    # the 5x5 costs (25 - 9) more weights per (#5x5 reduce, #5x5) pair
    extra = n_params(ours) - n_params(InceptionBlock(*args))
    assert extra == args[4] * args[5] * (25 - 9)


# --------------------------------------------------------------------------
# Section 3: ResNet
# --------------------------------------------------------------------------

def test_projection_equals_the_downsample_of_torchvision_resnet50_layer2():
    theirs = torchvision.models.resnet50(weights=None).layer2[0].downsample
    assert_twins(projection(256, 512, stride=2), theirs, (2, 256, 8, 8))


# inplanes, planes, stride, projection?
BASIC_CONFIGS = [(16, 16, 1, False), (16, 32, 2, True), (16, 32, 1, True)]


@pytest.mark.parametrize("inplanes,planes,stride,project", BASIC_CONFIGS,
                         ids=["identity", "strided_projection", "projection"])
def test_basic_block_equals_torchvision_resnet_basic_block(inplanes, planes, stride, project):
    def build(block):
        down = projection(inplanes, planes, stride) if project else None
        return block(inplanes, planes, stride, down)

    out = assert_twins(build(BasicBlock), build(tv_resnet.BasicBlock), (2, inplanes, 9, 9))
    assert out.shape == (2, planes, (9 - 1) // stride + 1, (9 - 1) // stride + 1)
    assert BasicBlock.expansion == tv_resnet.BasicBlock.expansion == 1


def test_basic_block_rejects_groups_and_dilation_like_torchvision():
    with pytest.raises(ValueError):
        BasicBlock(8, 8, groups=2)
    with pytest.raises(NotImplementedError):
        BasicBlock(8, 8, dilation=2)


# inplanes, planes, stride, projection?, groups, base_width
BOTTLENECK_CONFIGS = {
    "identity": (64, 16, 1, False, 1, 64),
    "projection": (32, 16, 1, True, 1, 64),
    "strided_projection": (64, 32, 2, True, 1, 64),
    "resnext_32x4d": (256, 64, 1, False, 32, 4),
    "resnext_32x4d_strided": (256, 128, 2, True, 32, 4),
    "wide_base_width_128": (64, 16, 1, False, 1, 128),
    "grouped_width_rounds_down": (96, 24, 1, False, 8, 4),   # int(24 * 4 / 64) * 8 = 8, not 12
}


def build_bottleneck(block, inplanes, planes, stride, project, groups, base_width, **kwargs):
    down = projection(inplanes, planes * 4, stride) if project else None
    return block(inplanes, planes, stride, down, groups, base_width, **kwargs)


@pytest.mark.parametrize("name", BOTTLENECK_CONFIGS)
def test_bottleneck_equals_torchvision_resnet_bottleneck(name):
    args = BOTTLENECK_CONFIGS[name]
    inplanes, planes, stride = args[:3]
    out = assert_twins(build_bottleneck(Bottleneck, *args), build_bottleneck(tv_resnet.Bottleneck, *args),
                       (2, inplanes, 9, 9))
    assert out.shape == (2, planes * 4, (9 - 1) // stride + 1, (9 - 1) // stride + 1)
    assert Bottleneck.expansion == tv_resnet.Bottleneck.expansion == 4


def test_bottleneck_equals_the_first_block_of_torchvision_resnext50_32x4d_layer3():
    theirs = torchvision.models.resnext50_32x4d(weights=None).layer3[0]
    ours = Bottleneck(512, 256, 2, projection(512, 1024, 2), groups=32, base_width=4)
    assert ours.conv2.groups == 32 and ours.conv2.out_channels == 32 * 16
    assert_twins(ours, theirs, (1, 512, 6, 6))


def test_bottleneck_v1_puts_the_stride_on_conv1_and_v1_5_on_conv2():
    v1 = Bottleneck(64, 32, 2, projection(64, 128, 2), stride_on_3x3=False)
    v1_5 = Bottleneck(64, 32, 2, projection(64, 128, 2))
    assert (v1.conv1.stride, v1.conv2.stride) == ((2, 2), (1, 1))
    assert (v1_5.conv1.stride, v1_5.conv2.stride) == ((1, 1), (2, 2))


@pytest.mark.parametrize("size", [8, 9, 10, 11])
def test_bottleneck_v1_loads_v1_5_weights_keeps_shape_and_count_but_changes_the_output(size):
    v1 = Bottleneck(64, 32, 2, projection(64, 128, 2), stride_on_3x3=False).to(DTYPE).eval()
    theirs = randomize_(tv_resnet.Bottleneck(64, 32, 2, projection(64, 128, 2))).to(DTYPE).eval()
    v1.load_state_dict(theirs.state_dict(), strict=True)
    assert n_params(v1) == n_params(theirs)
    x = randn(2, 64, size, size)
    with torch.no_grad():
        a, b = v1(x.clone()), theirs(x.clone())
    # a strided 1x1 and a strided padded 3x3 both give (H - 1) // 2 + 1, odd sizes included
    assert a.shape == b.shape == (2, 128, (size - 1) // 2 + 1, (size - 1) // 2 + 1)
    assert not torch.allclose(a, b)


def pixels_that_reach_the_output(block: nn.Module, size: int) -> torch.Tensor:
    """(H, W) bool: which input pixels the block's output depends on (a nonzero gradient)."""
    block = randomize_(block).to(DTYPE).eval()
    x = randn(1, 64, size, size).requires_grad_()
    block(x).sum().backward()
    return x.grad.abs().sum(dim=(0, 1)) > 0


def test_bottleneck_v1_never_reads_the_pixels_its_strided_1x1_skips_v1_5_reads_all():
    size = 10
    v1 = pixels_that_reach_the_output(Bottleneck(64, 32, 2, projection(64, 128, 2), stride_on_3x3=False), size)
    v1_5 = pixels_that_reach_the_output(Bottleneck(64, 32, 2, projection(64, 128, 2)), size)
    even = torch.zeros(size, size, dtype=torch.bool)
    even[::2, ::2] = True
    assert torch.equal(v1, even)      # 1 pixel in 4: both 1x1 stride-2 paths read only (even, even)
    assert v1_5.all()                 # the stride-2 3x3 covers every pixel


# --------------------------------------------------------------------------
# Section 5: depthwise separable
# --------------------------------------------------------------------------

@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_separable_equals_the_same_torch_nn_modules_in_a_sequential(stride):
    c, o = 8, 16
    reference = nn.Sequential(
        nn.Conv2d(c, c, 3, stride, padding=1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
        nn.Conv2d(c, o, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
    )
    reference = randomize_(reference).to(DTYPE).eval()
    ours = DepthwiseSeparable(c, o, stride).to(DTYPE).eval()
    # same tensors in the same order, under our names
    theirs_sd = reference.state_dict()
    ours_sd = ours.state_dict()
    assert [v.shape for v in ours_sd.values()] == [v.shape for v in theirs_sd.values()]
    ours.load_state_dict(dict(zip(ours_sd, theirs_sd.values())), strict=True)
    x = randn(2, c, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), **TOL)
    assert ours(x).shape == (2, o, (9 - 1) // stride + 1, (9 - 1) // stride + 1)


@pytest.mark.parametrize("c,o", [(32, 64), (64, 128), (512, 1024)])
def test_depthwise_separable_parameter_count_is_9c_plus_co_plus_the_norms(c, o):
    ours = DepthwiseSeparable(c, o)
    assert n_params(ours) == 9 * c + 2 * c + c * o + 2 * o
    # weights only: (9c + co) / 9co = 1/o + 1/9 of a full 3x3 convolution (Howard et al. 2017, eq. 5)
    conv_weights = ours.depthwise[0].weight.numel() + ours.pointwise[0].weight.numel()
    assert conv_weights / n_params(conv3x3(c, o)) == pytest.approx(1 / o + 1 / 9)


# --------------------------------------------------------------------------
# Section 6: inverted residual, SE, MBConv
# --------------------------------------------------------------------------

# inp, oup, stride, expand_ratio: MobileNet V2's first blocks (Sandler et al. 2018, Table 2) and residual ones
INVERTED_RESIDUAL_CONFIGS = {
    "t1_32_to_16": (32, 16, 1, 1),
    "t1_residual": (16, 16, 1, 1),
    "t6_strided": (16, 24, 2, 6),
    "t6_residual": (24, 24, 1, 6),
    "t6_wider_no_residual": (24, 32, 1, 6),
    "t6_strided_same_channels_no_residual": (24, 24, 2, 6),
}


@pytest.mark.parametrize("name", INVERTED_RESIDUAL_CONFIGS)
def test_inverted_residual_equals_torchvision_mobilenetv2_inverted_residual(name):
    inp, oup, stride, t = INVERTED_RESIDUAL_CONFIGS[name]
    ours = InvertedResidual(inp, oup, stride, t)
    theirs = tv_mobilenetv2.InvertedResidual(inp, oup, stride, t)
    assert ours.use_res_connect == theirs.use_res_connect == (stride == 1 and inp == oup)
    assert len(ours.conv) == len(theirs.conv) == (3 if t == 1 else 4)
    assert_twins(ours, theirs, (2, inp, 9, 9))


def test_inverted_residual_projection_is_linear_no_activation_after_it():
    ours = InvertedResidual(16, 24, 1, 6)
    assert isinstance(ours.conv[-1], nn.BatchNorm2d)
    assert not any(isinstance(m, (nn.ReLU, nn.ReLU6)) for m in ours.conv[-2:])


@pytest.mark.parametrize("c,s", [(16, 4), (96, 4), (240, 10)])
def test_squeeze_excitation_equals_torchvision_ops_squeeze_excitation(c, s):
    out = assert_twins(SqueezeExcitation(c, s), TVSqueezeExcitation(c, s), (2, c, 5, 5))
    assert out.shape == (2, c, 5, 5)
    assert n_params(SqueezeExcitation(c, s)) == 2 * c * s + s + c


@pytest.mark.parametrize("activation,scale_activation", [(nn.SiLU, nn.Sigmoid), (nn.ReLU, nn.Hardsigmoid)],
                         ids=["efficientnet_silu_sigmoid", "mobilenetv3_relu_hardsigmoid"])
def test_squeeze_excitation_with_other_activations_equals_torchvision(activation, scale_activation):
    kwargs = dict(activation=activation, scale_activation=scale_activation)
    assert_twins(SqueezeExcitation(32, 8, **kwargs), TVSqueezeExcitation(32, 8, **kwargs), (2, 32, 5, 5))


def test_squeeze_excitation_scales_each_channel_by_one_number_in_0_1():
    se = randomize_(SqueezeExcitation(8, 2)).to(DTYPE).eval()
    x = randn(2, 8, 5, 5).abs() + 0.1
    with torch.no_grad():
        ratio = se(x) / x                                     # (N, C, H, W)
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio))
    assert ((ratio > 0) & (ratio < 1)).all()


@pytest.mark.parametrize("v,expected", [(16, 16), (20, 24), (96, 96), (10, 16), (37.5, 40), (3, 8)])
def test_make_divisible_equals_torchvision(v, expected):
    from torchvision.models._utils import _make_divisible
    assert make_divisible(v, 8) == _make_divisible(v, 8) == expected


def test_torchvision_mbconvconfig_rounds_channels_to_multiples_of_8_ours_does_not():
    assert tv_efficientnet.MBConvConfig(1, 3, 1, 20, 20, 1).input_channels == 24
    assert MBConvConfig(1, 3, 1, 20, 20, 1).input_channels == 20


# EfficientNet-B0 (Tan & Le 2019, Table 1): expand_ratio, kernel, stride, input_channels, out_channels, num_layers,
# each row's first block, plus the repeats (stride 1, same channels) that use the residual
MBCONV_ROWS = {
    "b0_stage2_t1": (1, 3, 1, 32, 16, 1),
    "b0_stage3_strided": (6, 3, 2, 16, 24, 2),
    "b0_stage3_repeat_residual": (6, 3, 1, 24, 24, 2),
    "b0_stage4_k5_strided": (6, 5, 2, 24, 40, 2),
    "b0_stage5": (6, 3, 2, 40, 80, 3),
    "b0_stage6_k5_stride1": (6, 5, 1, 80, 112, 3),
    "b0_stage7": (6, 5, 2, 112, 192, 4),
    "b0_stage8": (6, 3, 1, 192, 320, 1),
    "t1_residual": (1, 3, 1, 16, 16, 1),
    "t6_strided_same_channels_no_residual": (6, 3, 2, 24, 24, 1),
}


@pytest.mark.parametrize("name", MBCONV_ROWS)
def test_mbconv_equals_torchvision_efficientnet_mbconv(name):
    row = MBCONV_ROWS[name]
    ours = MBConv(MBConvConfig(*row), stochastic_depth_prob=0.2)
    theirs = tv_efficientnet.MBConv(tv_efficientnet.MBConvConfig(*row), 0.2, nn.BatchNorm2d)
    assert ours.use_res_connect == theirs.use_res_connect == (row[2] == 1 and row[3] == row[4])
    assert len(ours.block) == len(theirs.block) == (3 if row[0] == 1 else 4)
    out = assert_twins(ours, theirs, (2, row[3], 9, 9))
    assert out.shape == (2, row[4], (9 - 1) // row[2] + 1, (9 - 1) // row[2] + 1)


def test_mbconv_gives_its_norm_layer_to_every_norm_like_torchvision():
    norm = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)   # torchvision's EfficientNet-B5..B7 norm
    row = MBCONV_ROWS["b0_stage3_repeat_residual"]
    ours = MBConv(MBConvConfig(*row), 0.0, norm)
    norms = [m for m in ours.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 3 and all(m.eps == 1e-3 for m in norms)
    assert_twins(ours, tv_efficientnet.MBConv(tv_efficientnet.MBConvConfig(*row), 0.0, norm), (2, row[3], 6, 6))


@pytest.mark.parametrize("name", ["b0_stage3_strided", "b0_stage3_repeat_residual"])
def test_mbconv_without_se_equals_torchvision_mbconv_with_identity_se(name):
    row = MBCONV_ROWS[name]
    ours = MBConv(MBConvConfig(*row), 0.2, se_layer=None)
    theirs = tv_efficientnet.MBConv(tv_efficientnet.MBConvConfig(*row), 0.2, nn.BatchNorm2d,
                                    se_layer=lambda *args, **kwargs: nn.Identity())
    assert_twins(ours, theirs, (2, row[3], 9, 9))
    expanded, squeeze = row[3] * row[0], max(1, row[3] // 4)
    with_se = MBConv(MBConvConfig(*row), 0.2)
    assert n_params(with_se) - n_params(ours) == 2 * expanded * squeeze + squeeze + expanded


def test_mbconv_stochastic_depth_drops_the_same_rows_as_torchvision_in_training():
    row = MBCONV_ROWS["b0_stage3_repeat_residual"]
    ours = MBConv(MBConvConfig(*row), stochastic_depth_prob=0.5).to(DTYPE).train()
    theirs = randomize_(tv_efficientnet.MBConv(tv_efficientnet.MBConvConfig(*row), 0.5, nn.BatchNorm2d))
    theirs = theirs.to(DTYPE).train()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = randn(16, row[3], 5, 5)
    torch.manual_seed(0)
    expected = theirs(x.clone())
    torch.manual_seed(0)
    actual = ours(x.clone())
    torch.testing.assert_close(actual, expected, **TOL)
    # with p = 0.5 over 16 rows, some rows keep only the shortcut (block dropped) and some don't
    dropped = [torch.equal(actual[i], x[i]) for i in range(16)]
    assert any(dropped) and not all(dropped)


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_equals_torchvision_under_the_same_seed(mode):
    x = randn(64, 3, 2, 2)
    ours, theirs = StochasticDepth(0.3, mode), TVStochasticDepth(0.3, mode)
    for seed in range(5):
        torch.manual_seed(seed)
        expected = theirs(x)
        torch.manual_seed(seed)
        torch.testing.assert_close(ours(x), expected, **TOL)
    assert torch.equal(ours.eval()(x), x)
