"""EfficientNet B0..B7 (Tan & Le 2019): B0's MBConv stages, scaled in width, depth and resolution.

Introduced in notebooks/03_architectures.ipynb; the costs are compared in
notebooks/04_efficiency.ipynb.
"""
from __future__ import annotations

import math
from dataclasses import replace
from functools import partial
from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn

from helpers.blocks import (
    ConvNormAct,
    MBConv,
    MBConvConfig,
    make_divisible,
)
from helpers.models._utils import NormLayer


EFFICIENTNET_B0_STAGES: list[MBConvConfig] = [
    # Tan & Le 2019, "EfficientNet", Table 1, stages 2 to 8 (stage 1 is the 3x3 stem
    # to 32 channels, stage 9 the 1x1 head, 4x the last channels: 1280). "MBConv6, k5x5"
    # reads expand_ratio=6, kernel=5; the stride is where the table's resolution halves.
    # MBConvConfig(expand_ratio, kernel, stride, input_channels, out_channels, num_layers)
    MBConvConfig(1, 3, 1, 32, 16, 1),
    MBConvConfig(6, 3, 2, 16, 24, 2),
    MBConvConfig(6, 5, 2, 24, 40, 2),
    MBConvConfig(6, 3, 2, 40, 80, 3),
    MBConvConfig(6, 5, 1, 80, 112, 3),
    MBConvConfig(6, 5, 2, 112, 192, 4),
    MBConvConfig(6, 3, 1, 192, 320, 1),
]
"""EfficientNet-B0's MBConv stages, the baseline every B1..B7 is scaled from."""

EFFICIENTNET_SCALING: dict[str, tuple[float, float, int, float]] = {
    # name: (width_mult, depth_mult, resolution, dropout), the hand-set table of the
    # authors' code (efficientnet_builder.py), which torchvision's builders copy. It is
    # *not* the paper's rule d = 1.2^phi, w = 1.1^phi, r = 1.15^phi rounded (section 3.3):
    # that rule gives B3 (w, d, r) = (1.33, 1.73, 341), the table (1.2, 1.4, 300).
    # The resolution is the paper's; torchvision evaluates its B2 weights at 288, not 260.
    "efficientnet_b0": (1.0, 1.0, 224, 0.2),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4),
    "efficientnet_b5": (1.6, 2.2, 456, 0.4),
    "efficientnet_b6": (1.8, 2.6, 528, 0.5),
    "efficientnet_b7": (2.0, 3.1, 600, 0.5),
}
"""EfficientNet B0..B7 as multipliers of B0 (channels, layers, input side) and the classifier's dropout."""


def scaled_depth(num_layers: int, depth_mult: float) -> int:
    """Layers of a stage after depth scaling: ``ceil(num_layers * depth_mult)``, never fewer than asked."""
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
    if isinstance(depth_mult, bool) or not isinstance(depth_mult, (int, float)) or not depth_mult > 0:
        raise ValueError(f"depth_mult must be a positive number, got {depth_mult!r}")
    return int(math.ceil(num_layers * depth_mult))


def scaled_channels(channels: int, width_mult: float) -> int:
    """Channels after width scaling: ``channels * width_mult`` rounded to a multiple of 8."""
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a positive int, got {channels!r}")
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or not width_mult > 0:
        raise ValueError(f"width_mult must be a positive number, got {width_mult!r}")
    return make_divisible(channels * width_mult, 8)


def efficientnet_stages(width_mult: float, depth_mult: float,
                        stages: Sequence[MBConvConfig] = tuple(EFFICIENTNET_B0_STAGES)) -> list[MBConvConfig]:
    """B0's stages scaled: channel counts by :func:`scaled_channels`, depths by :func:`scaled_depth`.

    (torchvision's ``MBConvConfig`` does this rounding in its constructor, which
    is why its B0 table holds the rounded numbers.)
    """
    return [replace(cnf,
                    input_channels=scaled_channels(cnf.input_channels, width_mult),
                    out_channels=scaled_channels(cnf.out_channels, width_mult),
                    num_layers=scaled_depth(cnf.num_layers, depth_mult))
            for cnf in stages]


class EfficientNet(nn.Module):
    """EfficientNet (Tan & Le 2019, Table 1): 3x3 stem, stages of :class:`~helpers.blocks.MBConv`, 1x1 head.

    ``inverted_residual_setting`` lists the stages, already scaled (see
    :func:`efficientnet_stages`); only a stage's first block has its stride and
    input channels. The stochastic depth probability grows linearly with the
    block's index, from 0 to ``stochastic_depth_prob`` (Huang et al. 2016).
    Same constructor as ``torchvision.models.EfficientNet`` for its V1 models.

    Shapes: x (Tensor[N, 3, H, W]) -> Tensor[N, num_classes].
    """

    def __init__(self, inverted_residual_setting: Sequence[MBConvConfig], dropout: float,
                 stochastic_depth_prob: float = 0.2, num_classes: int = 1000,
                 norm_layer: Optional[NormLayer] = None, last_channel: Optional[int] = None) -> None:
        super().__init__()
        if not inverted_residual_setting:
            raise ValueError("inverted_residual_setting must not be empty")
        if not all(isinstance(cnf, MBConvConfig) for cnf in inverted_residual_setting):
            raise TypeError("inverted_residual_setting must be a list of helpers.blocks.MBConvConfig")
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d

        firstconv_output_channels = inverted_residual_setting[0].input_channels
        layers: list[nn.Module] = [
            ConvNormAct(3, firstconv_output_channels, kernel_size=3, stride=2, norm_layer=norm_layer,
                        activation_layer=nn.SiLU)
        ]
        total_stage_blocks = sum(cnf.num_layers for cnf in inverted_residual_setting)
        stage_block_id = 0
        for cnf in inverted_residual_setting:
            stage: list[nn.Module] = []
            for i in range(cnf.num_layers):
                block_cnf = cnf if i == 0 else replace(cnf, input_channels=cnf.out_channels, stride=1)
                sd_prob = stochastic_depth_prob * float(stage_block_id) / total_stage_blocks
                stage.append(MBConv(block_cnf, sd_prob, norm_layer))
                stage_block_id += 1
            layers.append(nn.Sequential(*stage))

        lastconv_input_channels = inverted_residual_setting[-1].out_channels
        lastconv_output_channels = last_channel if last_channel is not None else 4 * lastconv_input_channels
        layers.append(ConvNormAct(lastconv_input_channels, lastconv_output_channels, kernel_size=1,
                                  norm_layer=norm_layer, activation_layer=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, inplace=True),
            nn.Linear(lastconv_output_channels, num_classes),
        )

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                init_range = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -init_range, init_range)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)            # (N, 4 * last stage's channels, H/32, W/32)
        x = self.avgpool(x)             # (N, C, 1, 1)
        x = torch.flatten(x, 1)         # (N, C)
        return self.classifier(x)       # (N, num_classes)


def _efficientnet(name: str, **kwargs: Any) -> EfficientNet:
    width_mult, depth_mult, _, dropout = EFFICIENTNET_SCALING[name]
    if name in ("efficientnet_b5", "efficientnet_b6", "efficientnet_b7") and kwargs.get("norm_layer") is None:
        # torchvision ported these from the TensorFlow weights, whose Batch Norm has eps=1e-3
        kwargs["norm_layer"] = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
    return EfficientNet(efficientnet_stages(width_mult, depth_mult), kwargs.pop("dropout", dropout), **kwargs)


def efficientnet_b0(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B0; keywords ``num_classes``, ``dropout``, ``stochastic_depth_prob``, ``norm_layer``."""
    return _efficientnet("efficientnet_b0", **kwargs)


def efficientnet_b1(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B1: B0 with 1.1x the layers; keywords as :func:`efficientnet_b0`."""
    return _efficientnet("efficientnet_b1", **kwargs)


def efficientnet_b2(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B2; keywords as :func:`efficientnet_b0`."""
    return _efficientnet("efficientnet_b2", **kwargs)


def efficientnet_b3(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B3; keywords as :func:`efficientnet_b0`."""
    return _efficientnet("efficientnet_b3", **kwargs)


def efficientnet_b4(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B4; keywords as :func:`efficientnet_b0`."""
    return _efficientnet("efficientnet_b4", **kwargs)


def efficientnet_b5(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B5 (Batch Norm with ``eps=1e-3, momentum=0.01`` as torchvision's); keywords as B0."""
    return _efficientnet("efficientnet_b5", **kwargs)


def efficientnet_b6(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B6 (Batch Norm with ``eps=1e-3, momentum=0.01``); keywords as B0."""
    return _efficientnet("efficientnet_b6", **kwargs)


def efficientnet_b7(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B7 (Batch Norm with ``eps=1e-3, momentum=0.01``); keywords as B0."""
    return _efficientnet("efficientnet_b7", **kwargs)
