"""ResNet (He et al. 2016), ResNeXt (Xie et al. 2017) and Wide ResNet (Zagoruyko & Komodakis 2016).

Introduced in notebooks/03_architectures.ipynb.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from helpers.blocks import BasicBlock, Bottleneck, projection
from helpers.models._utils import NormLayer, _check_bool, _fix


RESNET_STAGES: dict[str, tuple[str, tuple[int, int, int, int], int, int]] = {
    # name: (block, blocks in conv2_x .. conv5_x, groups, width_per_group)
    # He et al. 2016, "Deep residual learning", Table 1: 18 and 34 layers stack
    # basic blocks, 50, 101 and 152 bottlenecks.
    "resnet18": ("basic", (2, 2, 2, 2), 1, 64),
    "resnet34": ("basic", (3, 4, 6, 3), 1, 64),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 1, 64),
    "resnet101": ("bottleneck", (3, 4, 23, 3), 1, 64),
    "resnet152": ("bottleneck", (3, 8, 36, 3), 1, 64),
    # Xie et al. 2017, "Aggregated residual transformations" (ResNeXt), Table 1:
    # "32x4d" is cardinality 32 (groups) of width 4 (channels per group in conv2_x).
    "resnext50_32x4d": ("bottleneck", (3, 4, 6, 3), 32, 4),
    "resnext101_32x8d": ("bottleneck", (3, 4, 23, 3), 32, 8),
    "resnext101_64x4d": ("bottleneck", (3, 4, 23, 3), 64, 4),
    # Zagoruyko & Komodakis 2016, "Wide residual networks": the bottleneck's inner
    # width doubled (128 for 64), its output channels unchanged.
    "wide_resnet50_2": ("bottleneck", (3, 4, 6, 3), 1, 128),
    "wide_resnet101_2": ("bottleneck", (3, 4, 23, 3), 1, 128),
}
"""ResNet-family depths and widths by builder name."""

RESNET_BLOCKS: dict[str, type[Union[BasicBlock, Bottleneck]]] = {"basic": BasicBlock,
                                                                  "bottleneck": Bottleneck}
"""The block a :data:`RESNET_STAGES` row names."""


class ResNet(nn.Module):
    """ResNet (He et al. 2016, Table 1): a stem, four stages of residual blocks, a linear classifier.

    The stem is a 7x7 stride-2 convolution and a 3x3 stride-2 max pool (``H/4``);
    stages ``layer1`` .. ``layer4`` have 64, 128, 256, 512 "planes" (times the
    block's ``expansion`` at their output) and each but the first halves ``H, W``
    in its first block, whose shortcut is then a :func:`~helpers.blocks.projection`.

    Args:
        block, layers, num_classes, zero_init_residual, groups, width_per_group,
        replace_stride_with_dilation, norm_layer: as ``torchvision.models.ResNet``.
        stride_on_3x3: where a :class:`~helpers.blocks.Bottleneck` puts its stride:
            ``True`` on the 3x3 (torchvision, "ResNet v1.5"), ``False`` on the first
            1x1 (the paper's v1). A :class:`~helpers.blocks.BasicBlock` has only 3x3s,
            so there it changes nothing.

    Shapes: x (Tensor[N, 3, H, W]) -> Tensor[N, num_classes].
    """

    def __init__(self, block: type[Union[BasicBlock, Bottleneck]], layers: Sequence[int],
                 num_classes: int = 1000, zero_init_residual: bool = False, groups: int = 1,
                 width_per_group: int = 64, replace_stride_with_dilation: Optional[Sequence[bool]] = None,
                 norm_layer: Optional[NormLayer] = None, *, stride_on_3x3: bool = True) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(f"replace_stride_with_dilation must be None or 3 bools (one per strided "
                             f"stage), got {replace_stride_with_dilation!r}")
        if len(layers) != 4:
            raise ValueError(f"layers must give the number of blocks of the 4 stages, got {layers!r}")
        self._norm_layer = norm_layer
        self._stride_on_3x3 = _check_bool("stride_on_3x3", stride_on_3x3)
        self.inplanes = 64
        self.dilation = 1
        self.groups = groups
        self.base_width = width_per_group

        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        dilate = replace_stride_with_dilation
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, dilate=dilate[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, dilate=dilate[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, dilate=dilate[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            # Goyal et al. 2017: the last BN of each branch starts at 0, so each block starts as the identity.
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block: type[Union[BasicBlock, Bottleneck]], planes: int, blocks: int,
                    stride: int = 1, dilate: bool = False) -> nn.Sequential:
        """One stage: ``blocks`` blocks, the first one strided (or dilated) and projected if needed."""
        norm_layer = self._norm_layer
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = projection(self.inplanes, planes * block.expansion, stride, norm_layer)
        extra = {"stride_on_3x3": self._stride_on_3x3} if issubclass(block, Bottleneck) else {}

        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width,
                        previous_dilation, norm_layer, **extra)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                                dilation=self.dilation, norm_layer=norm_layer, **extra))
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)               # (N, 64, H/2, W/2)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)             # (N, 64, H/4, W/4)

        x = self.layer1(x)              # (N, 64 * e, H/4, W/4), e = block.expansion
        x = self.layer2(x)              # (N, 128 * e, H/8, W/8)
        x = self.layer3(x)              # (N, 256 * e, H/16, W/16)
        x = self.layer4(x)              # (N, 512 * e, H/32, W/32)

        x = self.avgpool(x)             # (N, 512 * e, 1, 1)
        x = torch.flatten(x, 1)         # (N, 512 * e)
        return self.fc(x)               # (N, num_classes)


def _resnet(name: str, stride_on_3x3: bool, **kwargs: Any) -> ResNet:
    block_name, layers, groups, width_per_group = RESNET_STAGES[name]
    if groups != 1 or width_per_group != 64:
        # the name fixes them (as torchvision's builders do); plain ResNets take them as keywords
        _fix(kwargs, "groups", groups, name)
        _fix(kwargs, "width_per_group", width_per_group, name)
    return ResNet(RESNET_BLOCKS[block_name], list(layers), stride_on_3x3=stride_on_3x3, **kwargs)


def resnet18(*, stride_on_3x3: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-18; keywords as :class:`ResNet` (``num_classes``, ``zero_init_residual``, ...)."""
    return _resnet("resnet18", stride_on_3x3, **kwargs)


def resnet34(*, stride_on_3x3: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-34; keywords as :class:`ResNet`."""
    return _resnet("resnet34", stride_on_3x3, **kwargs)


def resnet50(*, stride_on_3x3: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-50; ``stride_on_3x3=False`` for the paper's v1. Keywords as :class:`ResNet`."""
    return _resnet("resnet50", stride_on_3x3, **kwargs)


def resnet101(*, stride_on_3x3: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-101; keywords as :class:`ResNet`."""
    return _resnet("resnet101", stride_on_3x3, **kwargs)


def resnet152(*, stride_on_3x3: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-152; keywords as :class:`ResNet`."""
    return _resnet("resnet152", stride_on_3x3, **kwargs)


def resnext50_32x4d(*, stride_on_3x3: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-50 32x4d: ResNet-50 with grouped 3x3s, 32 groups of 4 channels in the first stage."""
    return _resnet("resnext50_32x4d", stride_on_3x3, **kwargs)


def resnext101_32x8d(*, stride_on_3x3: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-101 32x8d; keywords as :class:`ResNet`."""
    return _resnet("resnext101_32x8d", stride_on_3x3, **kwargs)


def resnext101_64x4d(*, stride_on_3x3: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-101 64x4d; keywords as :class:`ResNet`."""
    return _resnet("resnext101_64x4d", stride_on_3x3, **kwargs)


def wide_resnet50_2(*, stride_on_3x3: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-50-2: ResNet-50 with each bottleneck's inner width doubled."""
    return _resnet("wide_resnet50_2", stride_on_3x3, **kwargs)


def wide_resnet101_2(*, stride_on_3x3: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-101-2; keywords as :class:`ResNet`."""
    return _resnet("wide_resnet101_2", stride_on_3x3, **kwargs)
