"""MobileNet V2 (Sandler et al. 2018): inverted residuals, the ``(t, c, n, s)`` rows of Table 2.

Introduced in notebooks/03_architectures.ipynb.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.blocks import ConvNormAct, InvertedResidual, make_divisible
from helpers.models._utils import NormLayer


MOBILENET_V2_SETTINGS: list[tuple[int, int, int, int]] = [
    # Sandler et al. 2018, "MobileNetV2", Table 2, the rows of bottlenecks:
    # t (expansion), c (output channels), n (repeats), s (stride of the first)
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]
"""MobileNet V2's inverted-residual stages as ``(t, c, n, s)`` rows."""


class MobileNetV2(nn.Module):
    """MobileNet V2 (Sandler et al. 2018, Table 2): a 3x3 stem, 17 inverted residuals, a 1x1 to 1280.

    Every channel count is multiplied by ``width_mult`` and rounded to a multiple of
    ``round_nearest`` (:func:`~helpers.blocks.make_divisible`); the last conv
    keeps at least 1280 channels. Same constructor as ``torchvision.models.MobileNetV2``.

    Shapes: x (Tensor[N, 3, H, W]) -> Tensor[N, num_classes].
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0,
                 inverted_residual_setting: Optional[Sequence[Sequence[int]]] = None,
                 round_nearest: int = 8, block: Optional[Callable[..., nn.Module]] = None,
                 norm_layer: Optional[NormLayer] = None, dropout: float = 0.2) -> None:
        super().__init__()
        if block is None:
            block = InvertedResidual
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if inverted_residual_setting is None:
            inverted_residual_setting = MOBILENET_V2_SETTINGS
        if len(inverted_residual_setting) == 0 or any(len(row) != 4 for row in inverted_residual_setting):
            raise ValueError(f"inverted_residual_setting must be a non-empty list of (t, c, n, s) rows, "
                             f"got {inverted_residual_setting!r}")

        input_channel = make_divisible(32 * width_mult, round_nearest)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features: list[nn.Module] = [
            ConvNormAct(3, input_channel, stride=2, norm_layer=norm_layer, activation_layer=nn.ReLU6)
        ]
        for t, c, n, s in inverted_residual_setting:
            output_channel = make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(block(input_channel, output_channel, stride, expand_ratio=t,
                                      norm_layer=norm_layer))
                input_channel = output_channel
        features.append(ConvNormAct(input_channel, self.last_channel, kernel_size=1,
                                    norm_layer=norm_layer, activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(self.last_channel, num_classes),
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
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)                        # (N, last_channel, H/32, W/32)
        x = F.adaptive_avg_pool2d(x, (1, 1))        # (N, last_channel, 1, 1)
        x = torch.flatten(x, 1)                     # (N, last_channel)
        return self.classifier(x)                   # (N, num_classes)


def mobilenet_v2(**kwargs: Any) -> MobileNetV2:
    """MobileNet V2; keywords as :class:`MobileNetV2` (``num_classes, width_mult, dropout``, ...)."""
    return MobileNetV2(**kwargs)
