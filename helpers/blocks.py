"""The building blocks of unit 02, each one a drop-in twin of its torchvision block.

Every class here has torchvision's name, constructor and module names, so a
torchvision block's ``state_dict`` loads into ours with ``strict=True`` and both
compute the same output (``tests/test_blocks.py`` proves it, block by block).
They are written to be read: one operation per line in ``forward``, the
paper's choices named in the docstrings, torchvision's quirks pointed out.

Introduced in notebooks/02_blocks.ipynb:

* section 1, VGG: :func:`conv3x3`, :func:`conv1x1`, :class:`ConvNormAct`
* section 2, Inception: :class:`BasicConv2d`, :class:`InceptionBlock`
* section 3, ResNet: :class:`BasicBlock`, :class:`Bottleneck`, :func:`projection`
* section 4, ResNeXt: :class:`Bottleneck` with ``groups=32, base_width=4``
* section 5, depthwise separable convolution: :class:`DepthwiseSeparable`
* section 6, MBConv: :class:`InvertedResidual`, :class:`SqueezeExcitation`,
  :class:`StochasticDepth`, :func:`make_divisible`, :class:`MBConvConfig`, :class:`MBConv`

Introduced in notebooks/03_architectures.ipynb, with the architectures of
:mod:`helpers.models`: ConvNeXt's :class:`CNBlock`, :class:`LayerNorm2d`, :class:`Permute`.

Shapes follow PyTorch: ``N`` batch, ``C`` channels, ``H, W`` height and width.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from helpers.shortcuts import answers

__all__ = [
    "BasicBlock",
    "BasicConv2d",
    "Bottleneck",
    "CNBlock",
    "ConvNormAct",
    "DepthwiseSeparable",
    "InceptionBlock",
    "InvertedResidual",
    "LayerNorm2d",
    "MBConv",
    "MBConvConfig",
    "Permute",
    "SqueezeExcitation",
    "StochasticDepth",
    "conv1x1",
    "conv3x3",
    "make_divisible",
    "projection",
]

NormLayer = Callable[[int], nn.Module]
"""A norm constructor called with the number of channels, e.g. ``nn.BatchNorm2d``."""


# --------------------------------------------------------------------------
# Section 1: VGG, stacks of 3x3 convolutions
# --------------------------------------------------------------------------

def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1,
            dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution, no bias, padded by ``dilation`` so that stride 1 keeps ``H, W``.

    Simonyan & Zisserman 2015 (VGG): two stacked 3x3 convolutions see a 5x5
    window, three see 7x7, with fewer weights (``2·9·C²`` against ``25·C²``) and
    a non-linearity in between. The bias is dropped because a norm layer follows.

    Introduced in notebooks/02_blocks.ipynb, section 1.
    """
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias: mixes channels at each pixel, sees nothing around it.

    Introduced in notebooks/02_blocks.ipynb, section 1.
    """
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class ConvNormAct(nn.Sequential):
    """Convolution, normalization, activation: the unit every block below is made of.

    Ioffe & Szegedy 2015 put Batch Norm between the convolution and the
    non-linearity; this is that triple as one module, equal to
    ``torchvision.ops.Conv2dNormActivation`` (children ``0`` conv, ``1`` norm,
    ``2`` activation; a ``None`` norm or activation is left out, so the indices
    of what remains shift down).

    Args:
        in_channels, out_channels, kernel_size, stride, groups, dilation: as ``nn.Conv2d``.
        padding: ``None`` pads by ``(kernel_size - 1) // 2 * dilation``, which keeps
            ``H, W`` at stride 1 for an odd kernel ("same" padding).
        norm_layer: called with ``out_channels``; ``None`` for no norm.
        activation_layer: called with ``inplace=inplace``; ``None`` for no activation.
        inplace: passed to the activation (``None``: not passed).
        bias: ``None`` gives the convolution a bias only when there is no norm
            (a norm's own shift makes a bias redundant).

    Shapes: x (Tensor[N, in_channels, H, W]) -> Tensor[N, out_channels, H_out, W_out].

    Introduced in notebooks/02_blocks.ipynb, section 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: Optional[int] = None, groups: int = 1,
                 norm_layer: Optional[NormLayer] = nn.BatchNorm2d,
                 activation_layer: Optional[Callable[..., nn.Module]] = nn.ReLU,
                 dilation: int = 1, inplace: Optional[bool] = True,
                 bias: Optional[bool] = None) -> None:
        if padding is None:
            padding = (kernel_size - 1) // 2 * dilation
        if bias is None:
            bias = norm_layer is None
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                      dilation=dilation, groups=groups, bias=bias)
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            params = {} if inplace is None else {"inplace": inplace}
            layers.append(activation_layer(**params))
        super().__init__(*layers)
        self.out_channels = out_channels


# --------------------------------------------------------------------------
# Section 2: Inception, four branches side by side
# --------------------------------------------------------------------------

class BasicConv2d(nn.Module):
    """GoogLeNet's convolution unit: conv (no bias), Batch Norm with ``eps=0.001``, ReLU.

    Szegedy et al. 2015 had no Batch Norm (it came a few months later);
    torchvision's GoogLeNet adds it, with TensorFlow's ``eps=0.001`` rather than
    PyTorch's default ``1e-5``. Children are named ``conv`` and ``bn`` as in
    ``torchvision.models.googlenet.BasicConv2d``.

    Shapes: x (Tensor[N, in_channels, H, W]) -> Tensor[N, out_channels, H_out, W_out].

    Introduced in notebooks/02_blocks.ipynb, section 2.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        x = self.bn(x)
        return F.relu(x, inplace=True)


class InceptionBlock(nn.Module):
    """The Inception module of GoogLeNet (Szegedy et al. 2015, "Going deeper with convolutions", Fig. 2b).

    Four branches look at the same input at different scales and their outputs
    are concatenated along the channels:

    * ``branch1``: 1x1 conv to ``ch1x1``;
    * ``branch2``: 1x1 "reduce" to ``ch3x3red``, then 3x3 to ``ch3x3``;
    * ``branch3``: 1x1 "reduce" to ``ch5x5red``, then 5x5 to ``ch5x5`` *in the paper*;
    * ``branch4``: 3x3 max pool (stride 1), then 1x1 "pool projection" to ``pool_proj``.

    The 1x1 reductions are the point: they make the 3x3 and 5x5 affordable.

    torchvision's ``Inception`` uses a **3x3** in branch3 where the paper has a 5x5
    (a known bug kept for its pretrained weights, pytorch/vision#906). The
    default ``branch3_kernel_size=3`` matches torchvision; ``branch3_kernel_size=5``
    builds the paper's block (padding 2 keeps ``H, W``).

    Shapes: x (Tensor[N, in_channels, H, W]) ->
    Tensor[N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W].

    Introduced in notebooks/02_blocks.ipynb, section 2.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, branch3_kernel_size: int = 3) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=branch3_kernel_size,
                        padding=(branch3_kernel_size - 1) // 2),
        )
        self.branch4 = nn.Sequential(
            # stride 1 and padding 1: the pool keeps H, W (torchvision's ceil_mode changes nothing here)
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        branch1 = self.branch1(x)                                    # (N, ch1x1, H, W)
        branch2 = self.branch2(x)                                    # (N, ch3x3, H, W)
        branch3 = self.branch3(x)                                    # (N, ch5x5, H, W)
        branch4 = self.branch4(x)                                    # (N, pool_proj, H, W)
        return torch.cat([branch1, branch2, branch3, branch4], 1)    # (N, sum of the four, H, W)


# --------------------------------------------------------------------------
# Sections 3 and 4: ResNet and ResNeXt, learn a residual
# --------------------------------------------------------------------------

def projection(inplanes: int, outplanes: int, stride: int = 1,
               norm_layer: Optional[NormLayer] = None) -> nn.Sequential:
    """The projection shortcut: 1x1 conv (with the block's stride) and a norm.

    He et al. 2016, option (B): when a block changes the number of channels or
    the resolution, ``x`` cannot be added to the block's output as it is, so it
    is projected by a strided 1x1 convolution. This is the ``downsample`` that
    torchvision's ``ResNet._make_layer`` passes to a block's first layer when
    ``stride != 1 or inplanes != planes * block.expansion``.

    Shapes: x (Tensor[N, inplanes, H, W]) -> Tensor[N, outplanes, H_out, W_out].

    Introduced in notebooks/02_blocks.ipynb, section 3.
    """
    if norm_layer is None:
        norm_layer = nn.BatchNorm2d
    return nn.Sequential(conv1x1(inplanes, outplanes, stride), norm_layer(outplanes))


@answers("02_blocks/q3_basic_block", "02_blocks/q3_bottleneck", "03_architectures/q8_residual")
class BasicBlock(nn.Module):
    """The residual block of ResNet-18/34 (He et al. 2016, "Deep residual learning", Fig. 2).

    ``out = relu(F(x) + x)`` with ``F`` = 3x3 conv, BN, ReLU, 3x3 conv, BN. The
    block only has to learn the residual ``F(x) = H(x) - x``; an identity is
    ``F = 0``, easy to reach, which is why very deep stacks still train.
    The stride sits on ``conv1``; when it is not 1, or the channels change, the
    caller passes a ``downsample`` (see :func:`projection`) for the shortcut.

    Same constructor as ``torchvision.models.resnet.BasicBlock``, which accepts
    ``groups`` and ``base_width`` only at their defaults and no dilation.

    Shapes: x (Tensor[N, inplanes, H, W]) -> Tensor[N, planes, H/stride, W/stride].

    Introduced in notebooks/02_blocks.ipynb, section 3.
    """

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, groups: int = 1, base_width: int = 64,
                 dilation: int = 1, norm_layer: Optional[NormLayer] = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x

        out = self.conv1(x)              # (N, planes, H/stride, W/stride)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)            # (N, planes, H/stride, W/stride)
        out = self.bn2(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out += identity                  # the shortcut: F(x) + x
        out = self.relu(out)
        return out


@answers("02_blocks/q3_basic_block", "02_blocks/q3_bottleneck")
class Bottleneck(nn.Module):
    """The bottleneck residual block of ResNet-50/101/152 and of ResNeXt.

    He et al. 2016, "Deep residual learning", Fig. 5: 1x1 conv reduces the
    channels to ``width``, 3x3 conv works at that width, 1x1 conv expands to
    ``planes * 4``; ``out = relu(F(x) + x)`` as in :class:`BasicBlock`.

    ResNeXt (Xie et al. 2017, "Aggregated residual transformations", Fig. 3c)
    is the same block with a grouped 3x3: ``groups`` is the cardinality and
    ``base_width`` the width of one group at ``planes = 64``, so
    ``width = int(planes * base_width / 64) * groups``; ResNeXt-50 32x4d is
    ``groups=32, base_width=4``. Wide ResNet is ``base_width=128``.

    Where the stride goes: torchvision (like most modern code) puts it on the
    3x3 ``conv2`` — "ResNet v1.5", the default ``stride_on_3x3=True``. The paper
    put it on the first 1x1 ``conv1`` (``stride_on_3x3=False``): same weights,
    same output shape, but a strided 1x1 reads one pixel in ``stride²`` and the
    others never reach the residual branch; v1.5 is more accurate for it.

    Same constructor as ``torchvision.models.resnet.Bottleneck`` plus the
    keyword ``stride_on_3x3``.

    Shapes: x (Tensor[N, inplanes, H, W]) -> Tensor[N, planes * 4, H_out, W_out],
    ``H_out = (H - 1) // stride + 1`` wherever the stride sits.

    Introduced in notebooks/02_blocks.ipynb, section 3 (ResNeXt: section 4).
    """

    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, groups: int = 1, base_width: int = 64,
                 dilation: int = 1, norm_layer: Optional[NormLayer] = None, *,
                 stride_on_3x3: bool = True) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        stride_1x1, stride_3x3 = (1, stride) if stride_on_3x3 else (stride, 1)
        self.conv1 = conv1x1(inplanes, width, stride_1x1)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride_3x3, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x

        out = self.conv1(x)              # (N, width, H, W), or H/stride with stride_on_3x3=False
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)            # (N, width, H/stride, W/stride)
        out = self.bn2(out)
        out = self.relu(out)

        out = self.conv3(out)            # (N, planes * 4, H/stride, W/stride)
        out = self.bn3(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out += identity
        out = self.relu(out)
        return out


# --------------------------------------------------------------------------
# Section 5: depthwise separable convolution
# --------------------------------------------------------------------------

@answers("02_blocks/q5_block")
class DepthwiseSeparable(nn.Module):
    """MobileNet's block (Howard et al. 2017, "MobileNets", Fig. 3 right).

    A 3x3 convolution is split in two: a *depthwise* 3x3 (``groups = C``, one
    filter per channel, filters space) and a *pointwise* 1x1 (mixes channels),
    each followed by Batch Norm and ReLU. Weights drop from ``9·C·O`` to
    ``9·C + C·O``, a ratio of ``1/O + 1/9``; the multiply-adds drop by the same
    ratio. torchvision has no MobileNet V1; the tests compare this block with the
    same six ``torch.nn`` modules in a plain ``nn.Sequential``.

    Shapes: x (Tensor[N, in_channels, H, W]) -> Tensor[N, out_channels, H_out, W_out].

    Introduced in notebooks/02_blocks.ipynb, section 5.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 norm_layer: Optional[NormLayer] = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.depthwise = ConvNormAct(in_channels, in_channels, kernel_size=3, stride=stride,
                                     groups=in_channels, norm_layer=norm_layer)
        self.pointwise = ConvNormAct(in_channels, out_channels, kernel_size=1, norm_layer=norm_layer)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        x = self.depthwise(x)            # (N, in_channels, H_out, W_out): space, channel by channel
        return self.pointwise(x)         # (N, out_channels, H_out, W_out): channels, pixel by pixel


# --------------------------------------------------------------------------
# Section 6: inverted residuals and MBConv
# --------------------------------------------------------------------------

@answers("02_blocks/q6_inverted_residual")
class InvertedResidual(nn.Module):
    """MobileNet V2's block (Sandler et al. 2018, "MobileNetV2", Table 1 and Fig. 3b).

    Inverted against ResNet's bottleneck: a 1x1 *expands* the thin input by
    ``expand_ratio`` (the paper's ``t``), a depthwise 3x3 filters the wide
    tensor, a 1x1 *projects* back down with **no** activation ("linear
    bottleneck": a ReLU on few channels destroys information). ReLU6 elsewhere.
    The shortcut joins the thin ends, only when ``stride == 1 and inp == oup``.
    With ``expand_ratio == 1`` there is no expansion conv.

    Same constructor and children as ``torchvision.models.mobilenetv2.InvertedResidual``:
    ``conv`` is a Sequential of [expand ConvNormAct,] depthwise ConvNormAct,
    1x1 conv, norm.

    Shapes: x (Tensor[N, inp, H, W]) -> Tensor[N, oup, H_out, W_out].

    Introduced in notebooks/02_blocks.ipynb, section 6.
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: float,
                 norm_layer: Optional[NormLayer] = None) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride should be 1 or 2 instead of {stride}")
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup

        layers: list[nn.Module] = []
        if expand_ratio != 1:
            # pointwise expansion
            layers.append(ConvNormAct(inp, hidden_dim, kernel_size=1, norm_layer=norm_layer,
                                      activation_layer=nn.ReLU6))
        layers.extend([
            # depthwise
            ConvNormAct(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim,
                        norm_layer=norm_layer, activation_layer=nn.ReLU6),
            # pointwise projection, linear
            conv1x1(hidden_dim, oup),
            norm_layer(oup),
        ])
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: Tensor) -> Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


@answers("02_blocks/q6_se")
class SqueezeExcitation(nn.Module):
    """Squeeze-and-Excitation (Hu et al. 2018, "Squeeze-and-Excitation networks", Fig. 1, eq. 2-3).

    Reweights the channels by what the whole image contains: *squeeze* each
    channel to its mean, *excite* with a two-layer bottleneck MLP
    ``s = σ(W2 δ(W1 z))``, multiply each channel by its ``s`` in ``(0, 1)``.
    The MLP's layers are 1x1 convolutions with bias (``fc1``, ``fc2``), as in
    ``torchvision.ops.SqueezeExcitation``; ``activation`` is ``δ`` and
    ``scale_activation`` is ``σ``.

    Shapes: x (Tensor[N, C, H, W]) -> Tensor[N, C, H, W], ``C = input_channels``.

    Introduced in notebooks/02_blocks.ipynb, section 6.
    """

    def __init__(self, input_channels: int, squeeze_channels: int,
                 activation: Callable[..., nn.Module] = nn.ReLU,
                 scale_activation: Callable[..., nn.Module] = nn.Sigmoid) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.avgpool(x)                  # (N, C, 1, 1): squeeze
        scale = self.fc1(scale)                  # (N, squeeze_channels, 1, 1)
        scale = self.activation(scale)
        scale = self.fc2(scale)                  # (N, C, 1, 1)
        scale = self.scale_activation(scale)     # (N, C, 1, 1): excitation, one weight per channel
        return scale * x                         # (N, C, H, W)


class StochasticDepth(nn.Module):
    """Stochastic depth (Huang et al. 2016): in training, drop a residual branch at random.

    ``mode="row"`` zeroes the branch for each sample with probability ``p`` and
    scales the survivors by ``1 / (1 - p)`` (so the expectation is unchanged);
    ``mode="batch"`` draws once for the whole batch. In eval mode, the identity.
    Draws its mask exactly as ``torchvision.ops.StochasticDepth`` does, so under
    the same seed both drop the same rows.

    Shapes: x (Tensor[N, ...]) -> Tensor[N, ...].

    Introduced in notebooks/02_blocks.ipynb, section 6.
    """

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
        if mode not in ("batch", "row"):
            raise ValueError(f"mode has to be either 'batch' or 'row', but got {mode}")
        self.p = p
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival_rate = 1.0 - self.p
        if self.mode == "row":
            size = [x.shape[0]] + [1] * (x.dim() - 1)    # (N, 1, 1, 1): one draw per sample
        else:
            size = [1] * x.dim()                         # (1, 1, 1, 1): one draw for the batch
        keep = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival_rate)
        if survival_rate > 0.0:
            keep.div_(survival_rate)
        return x * keep

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


def make_divisible(v: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Round a channel count to the nearest multiple of ``divisor``, losing at most 10%.

    From the MobileNet TensorFlow code (Sandler et al. 2018) and reused by
    EfficientNet: hardware likes channel counts that are multiples of 8.

    Introduced in notebooks/02_blocks.ipynb, section 6.
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:    # rounding down must not lose more than 10%
        new_v += divisor
    return new_v


@dataclass(frozen=True)
class MBConvConfig:
    """One row of EfficientNet-B0's architecture (Tan & Le 2019, "EfficientNet", Table 1).

    ``expand_ratio`` is the "MBConv6" of the table, ``kernel`` its "k3x3"/"k5x5",
    ``num_layers`` the row's number of repeats (only the first of them has
    ``stride`` and ``input_channels``; the builder of the network uses it).

    Unlike ``torchvision.models.efficientnet.MBConvConfig``, this one stores the
    numbers as given: torchvision's rounds ``input_channels`` and ``out_channels``
    to multiples of 8 even at ``width_mult=1.0`` (20 becomes 24).

    Introduced in notebooks/02_blocks.ipynb, section 6.
    """

    expand_ratio: float
    kernel: int
    stride: int
    input_channels: int
    out_channels: int
    num_layers: int

    @staticmethod
    def adjust_channels(channels: int, width_mult: float) -> int:
        """``channels * width_mult`` rounded by :func:`make_divisible` to a multiple of 8."""
        return make_divisible(channels * width_mult, 8)


@answers("02_blocks/q6_inverted_residual")
class MBConv(nn.Module):
    """EfficientNet's block: the mobile inverted bottleneck with squeeze-and-excitation.

    Tan & Le 2019 ("EfficientNet", Table 1) build on MnasNet's MBConv: the
    :class:`InvertedResidual` of Sandler et al. 2018, with a ``kernel`` x ``kernel``
    depthwise, SiLU (swish) in place of ReLU6, a :class:`SqueezeExcitation`
    (Hu et al. 2018) on the expanded tensor that squeezes to
    ``max(1, input_channels // 4)`` channels, and :class:`StochasticDepth`
    on the residual branch. Children of ``block``: [expand 1x1,] depthwise,
    SE, project 1x1 (no activation), as ``torchvision.models.efficientnet.MBConv``;
    the expansion is left out when ``make_divisible(input_channels * expand_ratio)``
    equals ``input_channels``.

    Args:
        cnf: the row of the table (:class:`MBConvConfig`).
        stochastic_depth_prob: probability of dropping the residual branch in training.
        norm_layer: ``None`` for ``nn.BatchNorm2d``.
        se_layer: called as ``se_layer(expanded, squeeze, activation=...)``; ``None``
            for no SE: an ``nn.Identity`` then holds its place, so the later
            children keep their indices (and torchvision's block built with an
            identity ``se_layer`` loads).

    Shapes: x (Tensor[N, input_channels, H, W]) -> Tensor[N, out_channels, H_out, W_out].

    Introduced in notebooks/02_blocks.ipynb, section 6.
    """

    def __init__(self, cnf: MBConvConfig, stochastic_depth_prob: float,
                 norm_layer: Optional[NormLayer] = None,
                 se_layer: Optional[Callable[..., nn.Module]] = SqueezeExcitation) -> None:
        super().__init__()
        if not 1 <= cnf.stride <= 2:
            raise ValueError("illegal stride value")
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels

        layers: list[nn.Module] = []
        expanded_channels = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        if expanded_channels != cnf.input_channels:
            # expand
            layers.append(ConvNormAct(cnf.input_channels, expanded_channels, kernel_size=1,
                                      norm_layer=norm_layer, activation_layer=nn.SiLU))
        # depthwise
        layers.append(ConvNormAct(expanded_channels, expanded_channels, kernel_size=cnf.kernel,
                                  stride=cnf.stride, groups=expanded_channels,
                                  norm_layer=norm_layer, activation_layer=nn.SiLU))
        # squeeze and excitation
        squeeze_channels = max(1, cnf.input_channels // 4)
        if se_layer is None:
            layers.append(nn.Identity())
        else:
            layers.append(se_layer(expanded_channels, squeeze_channels,
                                   activation=partial(nn.SiLU, inplace=True)))
        # project, linear
        layers.append(ConvNormAct(expanded_channels, cnf.out_channels, kernel_size=1,
                                  norm_layer=norm_layer, activation_layer=None))

        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.out_channels = cnf.out_channels

    def forward(self, x: Tensor) -> Tensor:
        result = self.block(x)                            # (N, out_channels, H_out, W_out)
        if self.use_res_connect:
            result = self.stochastic_depth(result)
            result += x
        return result


# --------------------------------------------------------------------------
# ConvNeXt (unit 03): a ResNet block redrawn with a Transformer's habits
# --------------------------------------------------------------------------

class Permute(nn.Module):
    """Reorder the dimensions of a tensor, as a module (so it can sit in an ``nn.Sequential``).

    ConvNeXt's block moves channels last for its LayerNorm and its two linear
    layers, then back. Same as ``torchvision.ops.misc.Permute``.

    Shapes: x (Tensor[...]) -> ``x.permute(*dims)``.

    Introduced in notebooks/03_architectures.ipynb (ConvNeXt).
    """

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = list(dims)

    def forward(self, x: Tensor) -> Tensor:
        return torch.permute(x, self.dims)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a channels-first image, each pixel on its own.

    Liu et al. 2022 ("A ConvNet for the 2020s", section 2.6) swap Batch Norm for
    Layer Norm; on an ``(N, C, H, W)`` tensor that means normalising the ``C``
    numbers of each pixel, which ``nn.LayerNorm(C)`` does once ``C`` is the last
    dimension. Same parameters (``weight``, ``bias`` of shape ``(C,)``) and output as
    ``torchvision.models.convnext.LayerNorm2d``.

    Shapes: x (Tensor[N, C, H, W]) -> Tensor[N, C, H, W].

    Introduced in notebooks/03_architectures.ipynb (ConvNeXt).
    """

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)                       # (N, H, W, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)                    # (N, C, H, W)


@answers("03_architectures/q6_block")
class CNBlock(nn.Module):
    """The ConvNeXt block (Liu et al. 2022, "A ConvNet for the 2020s", Fig. 4 right).

    A residual block whose branch is: depthwise 7x7 conv (with bias), LayerNorm,
    1x1 expanding 4x, GELU, 1x1 back down; the 1x1s are ``nn.Linear`` layers on
    channels-last pixels, which is the same product. Each step is one of the
    paper's "modernisations" of a ResNet block: the large depthwise kernel
    (section 2.4), the inverted bottleneck of MobileNet V2 (2.3), fewer norms and
    activations, LayerNorm for Batch Norm and GELU for ReLU (2.6). The branch is
    scaled per channel by ``layer_scale`` (Touvron et al. 2021, initialised at
    1e-6, so each block starts near the identity) and dropped at random by
    :class:`StochasticDepth` in training.

    Same constructor and children as ``torchvision.models.convnext.CNBlock``.

    Shapes: x (Tensor[N, dim, H, W]) -> Tensor[N, dim, H, W].

    Introduced in notebooks/03_architectures.ipynb (ConvNeXt).
    """

    def __init__(self, dim: int, layer_scale: float, stochastic_depth_prob: float,
                 norm_layer: Optional[Callable[..., nn.Module]] = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True),   # (N, dim, H, W)
            Permute([0, 2, 3, 1]),                                                  # (N, H, W, dim)
            norm_layer(dim),
            nn.Linear(dim, 4 * dim),                                                # (N, H, W, 4*dim)
            nn.GELU(),
            nn.Linear(4 * dim, dim),                                                # (N, H, W, dim)
            Permute([0, 3, 1, 2]),                                                  # (N, dim, H, W)
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")

    def forward(self, x: Tensor) -> Tensor:
        result = self.layer_scale * self.block(x)       # (N, dim, H, W), scaled per channel
        result = self.stochastic_depth(result)
        result += x
        return result
