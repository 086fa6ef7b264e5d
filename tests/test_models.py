"""helpers.models against torchvision's models, tables and published metadata as the oracles.

For every builder: torchvision's model and ours have the same module tree and
layer settings; torchvision's ``state_dict``, random in every number, loads into
ours with ``strict=True`` and both compute the same eval output, to the last bit.
The representatives of each family are also compared in float64 with
torchvision's own initialisation, and initialise like torchvision under the
same seed. Parameters and multiply-accumulates are counted on models built on
the *meta* device (shapes only, nothing allocated), so every model, VGG-19 and
EfficientNet-B7 included, is counted in a fraction of a second, and compared
with torchvision's published numbers.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from functools import partial

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import convnext as tv_convnext
from torchvision.models import efficientnet as tv_efficientnet
from torchvision.models import mobilenetv2 as tv_mobilenetv2
from torchvision.models import resnet as tv_resnet
from torchvision.models import vgg as tv_vgg
# `torchvision.models.googlenet` is also the name of the builder function: import from the module path
from torchvision.models.googlenet import Inception as TVInception
from torchvision.ops.misc import Permute as TVPermute

from helpers import count_macs, count_params
from helpers import models as M
from helpers.blocks import CNBlock, LayerNorm2d, Permute

DTYPE = torch.float64
TOL = dict(rtol=1e-10, atol=1e-12)
ALL = list(M.BUILDERS)
# the models whose torchvision build is quick enough to build ours for real as well
SMALL = ["alexnet", "googlenet", "resnet18", "resnet50", "resnext50_32x4d", "mobilenet_v2",
         "efficientnet_b0", "convnext_tiny"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small inputs gain nothing from threads, and the cores are shared: one thread, restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tv_builder(name: str):
    return torchvision.models.get_model_builder(name)


def tv_meta(name: str, **kwargs) -> nn.Module:
    """torchvision's model on the meta device: the module tree and shapes, no memory, no init cost."""
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)   # GoogLeNet's notice about its init
        return tv_builder(name)(weights=None, **kwargs)


def ours_meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return M.build(name, **kwargs)


@contextmanager
def default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def randomize_norms_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random norm statistics, affine parameters, biases and layer scales: no default value hides a mistake.

    A fresh model's Batch Norm has mean 0, variance 1, γ = 1, β = 0 and ConvNeXt's
    layer scale is 1e-6; with those a wrong ``eps`` or a skipped branch barely shows.
    """
    g = torch.Generator().manual_seed(seed)

    def rand(t, low, high):
        return (torch.rand(t.shape, generator=g, dtype=t.dtype) * (high - low) + low)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(rand(m.running_mean, -0.5, 0.5))
                m.running_var.copy_(rand(m.running_var, 0.5, 1.5))
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.copy_(rand(m.weight, 0.5, 1.5))
                m.bias.copy_(rand(m.bias, -0.2, 0.2))
            elif isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.copy_(rand(m.bias, -0.1, 0.1))
        for name, p in model.named_parameters():
            if name.endswith("layer_scale"):
                p.copy_(rand(p, 0.1, 0.5))
    return model


def fill_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random values in every parameter and buffer of a model just moved off the meta device.

    Weights: uniform with He's bound ``sqrt(6 / fan_in)``; biases small; norms as
    :func:`randomize_norms_`. Cheap (uniform draws only), and every number differs.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2 and not name.endswith("layer_scale"):
                bound = (6.0 / p[0].numel()) ** 0.5
                p.uniform_(-bound, bound, generator=g)
            else:
                p.uniform_(-0.1, 0.1, generator=g)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.num_batches_tracked.zero_()
    return randomize_norms_(model, seed)


def module_names(model: nn.Module) -> list[str]:
    """Qualified names of every submodule, in order: the module tree, whatever the classes are called."""
    return [name for name, _ in model.named_modules()]


def randn(*shape, seed=1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


# --------------------------------------------------------------------------
# Published numbers
# --------------------------------------------------------------------------

def test_published_equals_the_weights_meta():
    w = torchvision.models.ResNet50_Weights.DEFAULT
    p = M.published("resnet50")
    assert p == M.Published(
        name="resnet50",
        acc1=w.meta["_metrics"]["ImageNet-1K"]["acc@1"],
        acc5=w.meta["_metrics"]["ImageNet-1K"]["acc@5"],
        params=w.meta["num_params"],
        gmacs=w.meta["_ops"],
        crop_size=w.transforms.keywords["crop_size"],
        weights=f"ResNet50_Weights.{w.name}",
    )
    assert type(p.params) is int and type(p.crop_size) is int


def test_published_picks_the_weights_asked_for():
    v1 = torchvision.models.ResNet50_Weights.IMAGENET1K_V1
    for weights in ("IMAGENET1K_V1", "ResNet50_Weights.IMAGENET1K_V1"):
        p = M.published("resnet50", weights)
        assert p.weights == "ResNet50_Weights.IMAGENET1K_V1"
        assert p.acc1 == v1.meta["_metrics"]["ImageNet-1K"]["acc@1"]
        assert p.gmacs == v1.meta["_ops"]
    # EfficientNet-B1's DEFAULT (V2) weights are measured at another crop than V1's
    b1 = torchvision.models.EfficientNet_B1_Weights
    assert M.published("efficientnet_b1").crop_size == b1.DEFAULT.transforms.keywords["crop_size"]
    assert M.published("efficientnet_b1", "IMAGENET1K_V1").crop_size == \
        b1.IMAGENET1K_V1.transforms.keywords["crop_size"]


def test_published_metrics_has_one_default_row_per_imagenet_model():
    expected = [
        n for n in torchvision.models.list_models(module=torchvision.models)
        if "ImageNet-1K" in torchvision.models.get_model_weights(n).DEFAULT.meta.get("_metrics", {})
    ]
    rows = M.published_metrics()
    assert [r.name for r in rows] == expected
    for r in rows:
        default = torchvision.models.get_model_weights(r.name).DEFAULT
        assert r.weights == f"{type(default).__name__}.{default.name}"
        assert r.params == default.meta["num_params"]
        assert r.gmacs == default.meta["_ops"]
        assert r.acc5 == default.meta["_metrics"]["ImageNet-1K"]["acc@5"]
    assert [r.name for r in M.published_metrics(["vgg16", "alexnet"])] == ["vgg16", "alexnet"]


def test_published_rejects_bad_names_and_weights():
    with pytest.raises(ValueError, match=r"name must be .*resnet50"):
        M.published("resnet51")
    with pytest.raises(ValueError, match=r"weights must be one of .*IMAGENET1K_V2"):
        M.published("resnet50", "IMAGENET1K_V9")
    with pytest.raises(TypeError, match="names"):
        M.published_metrics("resnet50")


# --------------------------------------------------------------------------
# Every builder against torchvision's
# --------------------------------------------------------------------------

def twins(name: str, dtype: torch.dtype = torch.float32, edit=lambda m: m,
          ours_kwargs: dict | None = None) -> tuple[nn.Module, nn.Module]:
    """(ours, theirs) in eval mode sharing torchvision's random float32 tensors, ours loaded strictly.

    Both are built on the meta device; torchvision's then gets real memory and
    random values (:func:`fill_`), and ours takes those very tensors
    (``assign=True``) after the strict key and shape check: one copy in memory,
    no initialisation cost. ``edit`` changes torchvision's model before it is filled.
    """
    theirs = fill_(edit(tv_meta(name)).to_empty(device="cpu")).to(dtype).eval()
    ours = ours_meta(name, **(ours_kwargs or {}))
    assert module_names(ours) == module_names(theirs)
    ours.load_state_dict(theirs.state_dict(), strict=True, assign=True)
    return ours.eval(), theirs


def leaves(model: nn.Module) -> list[tuple[str, str]]:
    """Every module without children, by name, with its repr: kernel, stride, padding, groups, eps, p...

    (a Permute's repr does not show its ``dims``: they are added.)
    """
    return [(name, repr(m), getattr(m, "dims", None))
            for name, m in model.named_modules() if not list(m.children())]


@pytest.mark.parametrize("name", ALL)
def test_builder_has_torchvisions_module_tree_state_dict_and_layer_settings(name):
    theirs, ours = tv_meta(name), ours_meta(name)
    assert module_names(ours) == module_names(theirs)
    assert leaves(ours) == leaves(theirs)
    ours.load_state_dict(theirs.state_dict(), strict=True, assign=True)   # keys and shapes


@pytest.mark.parametrize("name", ALL)
def test_builder_loads_torchvision_state_dict_and_computes_the_same_output(name):
    ours, theirs = twins(name)
    assert count_params(ours) == count_params(theirs)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = theirs(x.clone())
        actual = ours(x.clone())
    assert actual.shape == expected.shape == (2, 1000)
    # the same operations on the same tensors in the same order: equal to the last bit
    assert torch.equal(actual, expected), (actual - expected).abs().max()


def test_the_output_check_sees_a_wrong_batch_norm_eps():
    # EfficientNet-B5..B7 use eps=1e-3 where B0..B4 use PyTorch's 1e-5: the filled statistics make it show
    ours, theirs = twins("efficientnet_b0")
    wrong = ours_meta("efficientnet_b0", norm_layer=partial(nn.BatchNorm2d, eps=1e-3))
    wrong.load_state_dict(theirs.state_dict(), strict=True, assign=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))
        assert not torch.allclose(wrong.eval()(x), theirs(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "resnet50", "mobilenet_v2", "efficientnet_b0",
                                  "convnext_tiny"])
def test_builder_matches_torchvision_in_float64(name):
    torch.manual_seed(0)
    with default_dtype(DTYPE), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = tv_builder(name)(weights=None)          # torchvision's own initialisation
    theirs = randomize_norms_(theirs).eval()
    ours = ours_meta(name)
    ours.load_state_dict(theirs.state_dict(), strict=True, assign=True)
    x = randn(1, 3, 63 if name == "alexnet" else 32, 63 if name == "alexnet" else 32)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x.clone()), theirs(x.clone()), **TOL)


@pytest.mark.parametrize("name", ALL)
def test_builder_params_and_macs_equal_torchvision_and_published(name):
    ours = ours_meta(name)
    assert count_params(ours) == count_params(tv_meta(name))
    published = M.published(name)
    # torchvision's GoogLeNet weights are counted without the training-only auxiliary heads
    counted = ours_meta(name, aux_logits=False) if name == "googlenet" else ours
    assert count_params(counted) == published.params
    size = (3, published.crop_size, published.crop_size)
    assert round(count_macs(ours, size) / 1e9, 3) == published.gmacs


@pytest.mark.parametrize("name", SMALL)
def test_builder_initialises_like_torchvision_under_the_same_seed(name):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = tv_builder(name)(weights=None)
    torch.manual_seed(0)
    ours = M.build(name)
    expected, actual = theirs.state_dict(), ours.state_dict()
    assert list(actual) == list(expected)
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_zero_init_residual_zeroes_the_same_norms(name):
    torch.manual_seed(0)
    theirs = tv_builder(name)(weights=None, zero_init_residual=True)
    torch.manual_seed(0)
    ours = M.build(name, zero_init_residual=True)
    zeroed = [k for k, v in ours.state_dict().items() if k.endswith("weight") and not v.any()]
    assert zeroed == [k for k, v in theirs.state_dict().items() if k.endswith("weight") and not v.any()]
    assert len(zeroed) == sum(M.RESNET_STAGES[name][1])


def test_builder_keywords_reach_the_model():
    assert M.resnet18(num_classes=10).fc.out_features == 10
    assert M.efficientnet_b3(dropout=0.1).classifier[0].p == 0.1
    assert M.convnext_tiny(stochastic_depth_prob=0.0).features[7][2].stochastic_depth.p == 0.0
    theirs = tv_meta("resnet50", replace_stride_with_dilation=[False, True, True])
    ours = ours_meta("resnet50", replace_stride_with_dilation=[False, True, True])
    assert count_macs(ours, (3, 64, 64)) == count_macs(theirs, (3, 64, 64))


# --------------------------------------------------------------------------
# ResNet v1 (stride on the 1x1) against torchvision's model with its strides moved
# --------------------------------------------------------------------------

def move_strides_to_conv1_(model: nn.Module) -> nn.Module:
    """Turn torchvision's ResNet v1.5 into the paper's v1: each bottleneck's stride from conv2 to conv1."""
    for m in model.modules():
        if isinstance(m, tv_resnet.Bottleneck) and m.conv2.stride != (1, 1):
            m.conv1.stride, m.conv2.stride = m.conv2.stride, (1, 1)
    return model


def test_resnet50_v1_costs_what_torchvision_costs_with_strides_on_the_1x1():
    v1 = ours_meta("resnet50", stride_on_3x3=False)
    oracle = move_strides_to_conv1_(tv_meta("resnet50"))
    size = (3, 224, 224)
    assert count_macs(v1, size) == count_macs(oracle, size)
    assert count_macs(v1, size) < count_macs(ours_meta("resnet50"), size)   # the strided 1x1 reads less
    assert count_params(v1) == count_params(oracle)


def test_resnet50_v1_computes_what_torchvision_computes_with_strides_on_the_1x1():
    ours, theirs = twins("resnet50", edit=move_strides_to_conv1_,
                         ours_kwargs={"stride_on_3x3": False})
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(ours(x.clone()), theirs(x.clone()))


def test_stride_on_3x3_changes_nothing_for_basic_blocks():
    assert count_macs(ours_meta("resnet18", stride_on_3x3=False), (3, 224, 224)) == \
        count_macs(ours_meta("resnet18"), (3, 224, 224))


# --------------------------------------------------------------------------
# GoogLeNet's training outputs and the paper's 5x5 branch
# --------------------------------------------------------------------------

def test_googlenet_training_outputs_match_torchvision_with_aux_heads():
    ours, theirs = twins("googlenet", DTYPE)
    ours.train()
    theirs.train()
    x = randn(2, 3, 64, 64)
    torch.manual_seed(1)          # the same dropout masks, drawn in the same order
    expected = theirs(x.clone())
    torch.manual_seed(1)
    actual = ours(x.clone())
    assert type(actual) is M.GoogLeNetOutputs and actual._fields == expected._fields
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, **TOL)


def test_googlenet_paper_branch_costs_the_5x5_weights_torchvision_leaves_out():
    theirs = tv_meta("googlenet", aux_logits=False)
    # each "5x5" conv of torchvision is a 3x3: the paper's has 25 - 9 more weights per (in, out) pair
    extra = sum(m.branch3[1].conv.weight.shape[:2].numel() * (25 - 9)
                for m in theirs.modules() if isinstance(m, TVInception))
    paper = ours_meta("googlenet", aux_logits=False, branch3_kernel_size=5)
    assert count_params(paper) == count_params(theirs) + extra
    assert paper.inception3a.branch3[1].conv.kernel_size == (5, 5)


# --------------------------------------------------------------------------
# The tables are torchvision's
# --------------------------------------------------------------------------

def test_vgg_configs_are_torchvisions():
    letters = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}
    assert M.VGG_CONFIGS == {name: tv_vgg.cfgs[letter] for name, letter in letters.items()}


def test_googlenet_rows_are_torchvisions_modules():
    theirs = tv_meta("googlenet")
    rows = []
    for name, m in theirs.named_children():
        if isinstance(m, TVInception):
            rows.append((name, m.branch1.conv.in_channels, m.branch1.conv.out_channels,
                         m.branch2[0].conv.out_channels, m.branch2[1].conv.out_channels,
                         m.branch3[0].conv.out_channels, m.branch3[1].conv.out_channels,
                         m.branch4[1].conv.out_channels))
    assert M.GOOGLENET_INCEPTIONS == rows


@pytest.mark.parametrize("name", list(M.RESNET_STAGES))
def test_resnet_stages_are_torchvisions(name):
    theirs = tv_meta(name)
    block = type(theirs.layer1[0]).__name__.lower().replace("block", "")
    assert M.RESNET_STAGES[name] == (
        {"basic": "basic", "bottleneck": "bottleneck"}[block],
        tuple(len(getattr(theirs, f"layer{i}")) for i in range(1, 5)),
        theirs.groups,
        theirs.base_width,
    )


def test_mobilenet_v2_settings_are_torchvisions():
    theirs = tv_meta("mobilenet_v2")
    rows: list[list[int]] = []
    for m in theirs.features:
        if not isinstance(m, tv_mobilenetv2.InvertedResidual):
            continue
        inp = m.conv[0][0].in_channels
        hidden = m.conv[-2].in_channels                       # the projection's input
        t, c = hidden // inp, m.out_channels
        if rows and rows[-1][1] == c:
            rows[-1][2] += 1                                  # one more repeat of the row
        else:
            rows.append([t, c, 1, m.stride])
    assert M.MOBILENET_V2_SETTINGS == [tuple(r) for r in rows]


def fields(cnf) -> tuple:
    return (cnf.expand_ratio, cnf.kernel, cnf.stride, cnf.input_channels, cnf.out_channels, cnf.num_layers)


def test_efficientnet_b0_stages_are_torchvisions():
    theirs, last_channel = tv_efficientnet._efficientnet_conf("efficientnet_b0",
                                                              width_mult=1.0, depth_mult=1.0)
    assert last_channel is None                                    # the head is 4x the last stage
    assert [fields(c) for c in M.EFFICIENTNET_B0_STAGES] == [fields(c) for c in theirs]


def spy_scaling(monkeypatch, name: str) -> tuple[float, float, float]:
    """(width_mult, depth_mult, dropout) torchvision's builder uses, recorded as it runs."""
    seen = {}
    real_conf = tv_efficientnet._efficientnet_conf

    def conf(arch, **kwargs):
        seen.update(kwargs)
        return real_conf(arch, **kwargs)

    monkeypatch.setattr(tv_efficientnet, "_efficientnet_conf", conf)
    model = tv_meta(name)
    return seen["width_mult"], seen["depth_mult"], model.classifier[0].p


@pytest.mark.parametrize("name", list(M.EFFICIENTNET_SCALING))
def test_efficientnet_scaling_is_torchvisions(monkeypatch, name):
    width_mult, depth_mult, resolution, dropout = M.EFFICIENTNET_SCALING[name]
    assert (width_mult, depth_mult, dropout) == spy_scaling(monkeypatch, name)
    theirs, _ = tv_efficientnet._efficientnet_conf(name, width_mult=width_mult, depth_mult=depth_mult)
    assert [fields(c) for c in M.efficientnet_stages(width_mult, depth_mult)] == [fields(c) for c in theirs]
    crop = M.published(name).crop_size
    if name == "efficientnet_b2":
        assert (resolution, crop) == (260, 288)     # the paper's B2 side; torchvision's weights use 288
    else:
        assert resolution == crop


@pytest.mark.parametrize("name", list(M.CONVNEXT_STAGES))
def test_convnext_stages_are_torchvisions(name):
    theirs = tv_meta(name)
    stages = tuple((stage[0].block[0].in_channels, len(stage)) for stage in theirs.features[1::2])
    assert M.CONVNEXT_STAGES[name] == stages
    assert M.CONVNEXT_STOCHASTIC_DEPTH[name] == pytest.approx(
        theirs.features[-1][-1].stochastic_depth.p)                 # the last block gets the full rate


def test_scaled_depth_and_channels_round_as_torchvision():
    for n in range(1, 6):
        for mult in (1.0, 1.1, 1.2, 1.4, 1.8, 2.2, 2.6, 3.1, 0.5):
            assert M.scaled_depth(n, mult) == tv_efficientnet.MBConvConfig.adjust_depth(n, mult)
    for c in (16, 20, 24, 32, 40, 80, 112, 192, 320, 1280):
        for mult in (0.25, 0.5, 1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0):
            assert M.scaled_channels(c, mult) == tv_efficientnet._MBConvConfig.adjust_channels(c, mult)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

def test_build_rejects_unknown_names_and_weights():
    with pytest.raises(ValueError, match=r"name must be one of .*resnet50.*got 'resnet51'"):
        M.build("resnet51")
    with pytest.raises(TypeError, match="weights"):
        M.build("resnet18", weights="DEFAULT")
    assert isinstance(M.build("resnet18", num_classes=3), M.ResNet)


def test_builders_reject_bad_arguments_naming_them():
    with pytest.raises(ValueError, match=r"groups: resnext50_32x4d is defined by groups=32"):
        M.resnext50_32x4d(groups=16)
    with pytest.raises(ValueError, match="replace_stride_with_dilation"):
        M.resnet50(replace_stride_with_dilation=[True])
    with pytest.raises(TypeError, match="stride_on_3x3 must be a bool"):
        M.resnet50(stride_on_3x3="v1")
    with pytest.raises(ValueError, match="branch3_kernel_size"):
        M.googlenet(branch3_kernel_size=7)
    with pytest.raises(ValueError, match=r"num_layers must be a positive int"):
        M.scaled_depth(0, 1.2)
    with pytest.raises(ValueError, match=r"depth_mult must be a positive number"):
        M.scaled_depth(2, -1.0)
    with pytest.raises(ValueError, match=r"width_mult must be a positive number"):
        M.scaled_channels(32, "2")
    with pytest.raises(ValueError, match="cfg entries must be positive ints or 'M'"):
        M.make_vgg_layers([64, "X"])
    with pytest.raises(ValueError, match="inverted_residual_setting"):
        M.mobilenet_v2(inverted_residual_setting=[(6, 24, 2)])
    with pytest.raises(ValueError, match=r"stages must be .*\(channels, depth\)"):
        M.ConvNeXt([(96, 3, 1)])
    with pytest.raises(TypeError, match="unexpected keyword argument 'num_class'"):
        M.vgg11(num_class=10)


# --------------------------------------------------------------------------
# The ConvNeXt blocks added to helpers.blocks
# --------------------------------------------------------------------------

def test_permute_is_torchvisions():
    x = randn(2, 3, 4, 5)
    torch.testing.assert_close(Permute([0, 2, 3, 1])(x), TVPermute([0, 2, 3, 1])(x), rtol=0, atol=0)


def test_layernorm2d_normalises_each_pixel_like_torchvisions():
    theirs = randomize_norms_(tv_convnext.LayerNorm2d(6, eps=1e-6).to(DTYPE))
    ours = LayerNorm2d(6, eps=1e-6).to(DTYPE)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = randn(2, 6, 3, 4)
    torch.testing.assert_close(ours(x), theirs(x), **TOL)
    # and it is nn.LayerNorm on channels-last pixels
    plain = nn.LayerNorm(6, eps=1e-6).to(DTYPE)
    plain.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(ours(x), plain(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), **TOL)


@pytest.mark.parametrize("train", [False, True])
def test_cnblock_is_torchvisions(train):
    theirs = randomize_norms_(tv_convnext.CNBlock(8, layer_scale=1e-6, stochastic_depth_prob=0.5).to(DTYPE))
    ours = CNBlock(8, layer_scale=1e-6, stochastic_depth_prob=0.5).to(DTYPE)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert module_names(ours) == module_names(theirs)
    theirs.train(train)
    ours.train(train)
    x = randn(4, 8, 5, 5)
    torch.manual_seed(2)
    expected = theirs(x.clone())
    torch.manual_seed(2)
    actual = ours(x.clone())
    torch.testing.assert_close(actual, expected, **TOL)
    assert not torch.equal(actual, x)


def test_cnblock_uses_a_given_norm_layer():
    block = CNBlock(8, 1e-6, 0.0, norm_layer=partial(nn.LayerNorm, eps=1e-3))
    assert block.block[2].eps == 1e-3
