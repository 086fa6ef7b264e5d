"""helpers.counting against oracles: torchvision's published metadata and PyTorch's FlopCounterMode.

The expected numbers never come from our own arithmetic:

* ``Weights.meta["num_params"]`` and ``Weights.meta["_ops"]`` are what torchvision
  publishes for each pretrained weight (readable offline; no weights are downloaded),
* :class:`torch.utils.flop_counter.FlopCounterMode` counts FLOPs (2 per MAC) on a
  real forward pass with real tensors, independently of our meta-tensor pass.
"""
from __future__ import annotations


import pytest
import torch
import torchvision.models as tvm
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from helpers.counting import count_macs, count_params, macs_by_module

# The classification models the course discusses; each is compared at its DEFAULT
# weight's own crop size (efficientnet_b1..b3 are not 224).
MODELS = [
    "alexnet", "vgg11", "vgg16", "googlenet",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "wide_resnet50_2",
    "mobilenet_v2", "mobilenet_v3_large",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "convnext_tiny",
]


def published(name: str) -> tuple[dict, tuple[int, int, int]]:
    """The DEFAULT weight's metadata and its input size (3, crop, crop); nothing is downloaded."""
    weights = tvm.get_model_weights(name).DEFAULT
    crop = weights.transforms().crop_size  # building the transform downloads nothing
    return weights.meta, (3, crop[0], crop[-1])


def build_as_published(name: str, device: str = "meta") -> nn.Module:
    """The architecture a pretrained weight describes, with random (or no) values.

    Built on the meta device by default: counting needs shapes only, and skipping
    the random initialisation of 100M+ parameters (VGG) keeps the suite fast.

    GoogLeNet: ``googlenet(weights=...)`` builds the network with its two auxiliary
    classifiers (to load the checkpoint, which contains them) and then *removes*
    them (``aux1 = aux2 = None``) unless the caller asked for ``aux_logits=True``.
    ``meta["num_params"]`` (6,624,904) is therefore the count without the heads,
    while ``googlenet(weights=None)`` keeps them by default; ``aux_logits=False``
    builds what the metadata describes. (See the test below that proves it.)
    """
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    with torch.device(device):
        return tvm.get_model(name, weights=None, **kwargs)


def flop_counter_macs(model: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, int]]:
    """PyTorch's own count on a real forward: total MACs and MACs per module name (FLOPs / 2).

    Two fused CPU kernels are invisible to FlopCounterMode, so the oracle runs the
    same arithmetic unfused:
    * ``nn.TransformerEncoderLayer`` in eval mode without autograd takes a "fast path"
      (``aten._transformer_encoder_layer_fwd``) that FlopCounterMode counts as 0:
      keeping autograd on switches it off;
    * ``F.scaled_dot_product_attention`` on CPU runs
      ``aten._scaled_dot_product_flash_attention_for_cpu``, which FlopCounterMode has
      no rule for: the MATH backend runs the two ``bmm`` it stands for.
    """
    counter = FlopCounterMode(display=False)
    with counter, torch.enable_grad(), sdpa_kernel(SDPBackend.MATH):
        model(x)
    per_module = {name: sum(ops.values()) // 2 for name, ops in counter.get_flop_counts().items()}
    return counter.get_total_flops() // 2, per_module


# --------------------------------------------------------------------------- #
# count_params
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", MODELS)
def test_count_params_matches_torchvision_published_num_params(name: str) -> None:
    meta, _ = published(name)
    assert count_params(build_as_published(name)) == meta["num_params"]


def test_googlenet_published_num_params_excludes_the_auxiliary_heads() -> None:
    meta, size = published("googlenet")
    with torch.device("meta"):
        with_aux = tvm.googlenet(weights=None, aux_logits=True, init_weights=False)
    heads = count_params(with_aux.aux1) + count_params(with_aux.aux2)
    assert heads > 0
    assert count_params(with_aux) == meta["num_params"] + heads
    # In eval mode the heads do not run, so the published MACs hold with or without them.
    assert round(count_macs(with_aux, size) / 1e9, 3) == meta["_ops"]


def test_count_params_trainable_only_counts_parameters_that_require_grad() -> None:
    model = tvm.resnet18(weights=None)
    for p in model.parameters():  # a frozen backbone, a trainable head and last block
        p.requires_grad_(False)
    for p in [*model.layer4.parameters(), *model.fc.parameters()]:
        p.requires_grad_(True)
    expected = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert count_params(model, trainable_only=True) == expected
    assert count_params(model, trainable_only=True) < count_params(model)


def test_count_params_counts_a_shared_parameter_once() -> None:
    model = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 50, bias=False))
    model[1].weight = model[0].weight  # tied input/output embedding
    # Oracle: the distinct tensors in the state dict (which lists the tied one under both names).
    distinct = {id(t): t.numel() for t in model.state_dict(keep_vars=True).values()}
    assert len(model.state_dict()) == 2 and len(distinct) == 1
    assert count_params(model) == sum(distinct.values()) == 400


# --------------------------------------------------------------------------- #
# count_macs against torchvision's published "GFLOPS"
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", MODELS)
def test_count_macs_matches_torchvision_published_ops(name: str) -> None:
    meta, size = published(name)
    ops = meta["_ops"]
    # _ops is published rounded to 3 decimals (15.47 is 15.470): compare at exactly that precision.
    assert round(ops, 3) == ops
    macs = count_macs(build_as_published(name), size)
    assert round(macs / 1e9, 3) == ops, f"{name} at {size}: {macs / 1e9:.6f} G, published {ops}"
    assert f"{macs / 1e9:.3f}" == f"{ops:.3f}"


# --------------------------------------------------------------------------- #
# count_macs and macs_by_module against FlopCounterMode on real tensors
# --------------------------------------------------------------------------- #
class _Products(nn.Module):
    """Matrix products outside nn.Linear: matmul, einsum, bmm and attention (what they decompose to)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 48)
        self.mix = nn.Parameter(torch.randn(16, 16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, L, 16)
        q, k, v = self.proj(x).chunk(3, dim=-1)
        scores = torch.einsum("bld,bmd->blm", q, k)
        x = torch.bmm(scores.softmax(-1), v) + torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return torch.matmul(x, self.mix)


class _OddConvs(nn.Module):
    """Convolutions the lecture's formula must also cover: grouped, dilated, strided, transposed, 1-D."""

    def __init__(self) -> None:
        super().__init__()
        self.grouped = nn.Conv2d(8, 12, 3, stride=2, padding=2, dilation=2, groups=4)
        self.up = nn.ConvTranspose2d(12, 6, 4, stride=2, padding=1, groups=3)
        self.depthwise = nn.Conv2d(6, 6, 5, padding=2, groups=6, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.depthwise(self.up(self.grouped(x)))


ORACLE_MODELS = {
    "resnet18": (lambda: tvm.resnet18(), (3, 64, 64)),
    "mobilenet_v3_small": (lambda: tvm.mobilenet_v3_small(), (3, 64, 64)),
    "convnext_tiny": (lambda: tvm.convnext_tiny(), (3, 64, 64)),
    "googlenet_with_aux_heads": (lambda: tvm.googlenet(aux_logits=True, init_weights=False), (3, 64, 64)),
    "transformer_encoder_layer": (
        lambda: nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, batch_first=True, dropout=0.0), (10, 32)),
    "multihead_attention_block": (lambda: _Products(), (12, 16)),
    "grouped_dilated_transposed_convs": (lambda: _OddConvs(), (8, 20, 20)),
}


@pytest.mark.parametrize("name", list(ORACLE_MODELS))
def test_count_macs_equals_half_of_flop_counter_mode_on_a_real_forward(name: str) -> None:
    torch.manual_seed(0)
    build, size = ORACLE_MODELS[name]
    model = build().eval()
    expected, _ = flop_counter_macs(model, torch.randn(1, *size))
    assert expected > 0
    assert count_macs(model, size) == expected


def test_macs_by_module_matches_flop_counter_mode_per_module() -> None:
    model = tvm.resnet18().eval()
    size = (3, 64, 64)
    total, per_module = flop_counter_macs(model, torch.randn(1, *size))
    ours = macs_by_module(model, size)
    # FlopCounterMode names modules "ResNet.layer1.0.conv1"; ours are named_modules() names.
    theirs = {("" if k == "ResNet" else k.removeprefix("ResNet.")): v for k, v in per_module.items() if k != "Global"}
    assert theirs, "FlopCounterMode reported no modules"
    assert ours[""] == total == count_macs(model, size)
    for name, macs in theirs.items():
        assert ours[name] == macs, name
    # Modules FlopCounterMode leaves out are those that did no products.
    assert all(ours[n] == 0 for n in ours.keys() - theirs.keys())


def test_fused_cpu_attention_counts_as_its_two_matrix_products() -> None:
    """On real CPU tensors SDPA is one fused kernel; our rule for it must match the unfused bmm's."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from helpers.counting import _MacCounter, _Trace

    class Ops(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(str(func))
            return func(*args, **(kwargs or {}))

    q, k, v = torch.randn(2, 4, 10, 8), torch.randn(2, 4, 12, 8), torch.randn(2, 4, 12, 8)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    fused, ops = _Trace(), Ops()
    with ops, _MacCounter(fused):
        sdpa(q, k, v)
    assert any("_scaled_dot_product_" in n for n in ops.names), f"no fused kernel ran: {ops.names}"
    oracle = FlopCounterMode(display=False)
    with oracle, sdpa_kernel(SDPBackend.MATH):
        sdpa(q, k, v)
    assert fused.total == oracle.get_total_flops() // 2 > 0


CONVS = {
    "3x3_same": dict(in_channels=3, out_channels=16, kernel_size=3, padding=1),
    "7x7_stride2": dict(in_channels=3, out_channels=64, kernel_size=7, stride=2, padding=3, bias=False),
    "1x1": dict(in_channels=32, out_channels=8, kernel_size=1),
    "grouped": dict(in_channels=32, out_channels=64, kernel_size=3, groups=4),
    "depthwise": dict(in_channels=32, out_channels=32, kernel_size=3, groups=32, padding=1),
    "dilated_strided": dict(in_channels=8, out_channels=8, kernel_size=3, dilation=2, stride=2),
    "rectangular": dict(in_channels=4, out_channels=6, kernel_size=(1, 5), padding=(0, 2)),
}


@pytest.mark.parametrize("case", list(CONVS))
def test_conv2d_macs_follow_the_lecture_formula_as_flop_counter_mode_confirms(case: str) -> None:
    conv = nn.Conv2d(**CONVS[case])
    size = (conv.in_channels, 23, 19)
    expected, _ = flop_counter_macs(conv, x := torch.randn(1, *size))
    # The lecture's formula, with H_out, W_out read off a real forward pass.
    _, c_out, h_out, w_out = conv(x).shape
    kh, kw = conv.kernel_size
    lecture = conv.in_channels // conv.groups * kh * kw * h_out * w_out * c_out
    assert lecture == expected
    assert macs_by_module(conv, size)[""] == expected


@pytest.mark.parametrize("shape", [(20,), (7, 20), (3, 5, 20)], ids=["vector", "sequence", "grid"])
def test_linear_macs_are_in_times_out_per_position_as_flop_counter_mode_confirms(shape) -> None:
    linear = nn.Linear(20, 30)
    expected, _ = flop_counter_macs(linear, torch.randn(1, *shape))
    positions = torch.Size(shape[:-1]).numel()
    assert 20 * 30 * positions == expected
    assert macs_by_module(linear, shape)[""] == expected


# --------------------------------------------------------------------------- #
# Contract: the caller's module untouched, bad input rejected, fast
# --------------------------------------------------------------------------- #
def test_count_macs_leaves_the_module_its_weights_mode_and_hooks_untouched() -> None:
    model = tvm.googlenet(aux_logits=True, init_weights=False)  # aux heads: training-only branch
    model.train()
    model.inception3a.eval()  # a mixed mode must come back as it was
    modes = {n: m.training for n, m in model.named_modules()}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tensors = {k: v for k, v in model.state_dict(keep_vars=True).items()}
    seen: list[torch.device] = []  # the caller's own hook, e.g. one keeping feature maps for a plot
    model.conv1.register_forward_hook(lambda m, args, out: seen.append(out.device))

    meta, size = published("googlenet")
    assert round(count_macs(model, size) / 1e9, 3) == meta["_ops"]  # counted in eval mode

    assert {n: m.training for n, m in model.named_modules()} == modes
    after = model.state_dict(keep_vars=True)
    assert all(after[k] is tensors[k] and after[k].device.type == "cpu" for k in tensors)
    assert all(torch.equal(after[k], before[k]) for k in before)  # BN statistics included
    assert seen == []  # the caller's hook never saw a meta tensor...
    model.eval()(torch.randn(1, 3, 32, 32))
    assert seen == [torch.device("cpu")]  # ...and still works afterwards, ours are gone:
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules() if m is not model.conv1)
    assert len(model.conv1._forward_hooks) == 1 and not model.conv1._forward_pre_hooks


@pytest.mark.parametrize(
    "bad",
    [224, "3x224x224", (), None, (3, 0, 224), (3, -1, 224), (3.0, 224, 224), (3, True, 4),
     (1, 3, 224, 224),  # batch dimension included: a 5-D input for Conv2d
     (1, 224, 224)],  # wrong channel count
)
def test_count_macs_rejects_a_bad_input_size_naming_it(bad) -> None:
    with torch.device("meta"):
        model = tvm.resnet18()
    with pytest.raises(ValueError, match="input_size"):
        count_macs(model, bad)
    with pytest.raises(ValueError, match="input_size"):
        macs_by_module(model, bad)


def test_count_macs_rejects_a_non_module() -> None:
    with pytest.raises(ValueError, match="module"):
        count_macs(lambda x: x, (3, 8, 8))  # type: ignore[arg-type]
