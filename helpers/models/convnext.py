"""ConvNeXt (Liu et al. 2022): a patchify stem and four stages of ConvNeXt blocks.

Introduced in notebooks/03_architectures.ipynb.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Optional, Sequence

from torch import Tensor, nn

from helpers.blocks import CNBlock, ConvNormAct, LayerNorm2d
from helpers.models._utils import NormLayer


CONVNEXT_STAGES: dict[str, tuple[tuple[int, int], ...]] = {
    # Liu et al. 2022, "A ConvNet for the 2020s", section 3: C = channels of the four
    # stages, B = blocks per stage. ConvNeXt-T: C = (96, 192, 384, 768), B = (3, 3, 9, 3),
    # the 1:1:3:1 ratio of Swin-T (section 2.2).
    "convnext_tiny": ((96, 3), (192, 3), (384, 9), (768, 3)),
    "convnext_small": ((96, 3), (192, 3), (384, 27), (768, 3)),
    "convnext_base": ((128, 3), (256, 3), (512, 27), (1024, 3)),
    "convnext_large": ((192, 3), (384, 3), (768, 27), (1536, 3)),
}
"""ConvNeXt's stages as ``(channels, depth)`` pairs by builder name."""

CONVNEXT_STOCHASTIC_DEPTH: dict[str, float] = {
    # the drop-path rates of the paper's ImageNet-1k training (Appendix A.1), torchvision's defaults
    "convnext_tiny": 0.1,
    "convnext_small": 0.4,
    "convnext_base": 0.5,
    "convnext_large": 0.5,
}


class ConvNeXt(nn.Module):
    """ConvNeXt (Liu et al. 2022): a 4x4 stride-4 "patchify" stem, stages of :class:`~helpers.blocks.CNBlock`.

    Between stages a LayerNorm and a 2x2 stride-2 convolution halve ``H, W`` and
    double the channels (section 2.6, "separate downsampling layers"); the head is
    global average pooling, LayerNorm, linear. ``stages`` holds ``(channels, depth)``
    pairs as :data:`CONVNEXT_STAGES` (torchvision's constructor takes
    ``CNBlockConfig`` objects; the modules built are the same).

    Shapes: x (Tensor[N, 3, H, W]) -> Tensor[N, num_classes].
    """

    def __init__(self, stages: Sequence[tuple[int, int]], stochastic_depth_prob: float = 0.0,
                 layer_scale: float = 1e-6, num_classes: int = 1000,
                 norm_layer: Optional[NormLayer] = None) -> None:
        super().__init__()
        if not stages or any(len(s) != 2 for s in stages):
            raise ValueError(f"stages must be a non-empty list of (channels, depth) pairs, got {stages!r}")
        if norm_layer is None:
            norm_layer = partial(LayerNorm2d, eps=1e-6)

        layers: list[nn.Module] = [
            ConvNormAct(3, stages[0][0], kernel_size=4, stride=4, padding=0, norm_layer=norm_layer,
                        activation_layer=None, bias=True)                    # (N, C0, H/4, W/4)
        ]
        total_stage_blocks = sum(depth for _, depth in stages)
        stage_block_id = 0
        for i, (channels, depth) in enumerate(stages):
            stage: list[nn.Module] = []
            for _ in range(depth):
                sd_prob = stochastic_depth_prob * stage_block_id / (total_stage_blocks - 1.0)
                stage.append(CNBlock(channels, layer_scale, sd_prob))
                stage_block_id += 1
            layers.append(nn.Sequential(*stage))
            if i + 1 < len(stages):
                layers.append(nn.Sequential(                                 # (N, C_{i+1}, H/2, W/2)
                    norm_layer(channels),
                    nn.Conv2d(channels, stages[i + 1][0], kernel_size=2, stride=2),
                ))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        last_channels = stages[-1][0]
        self.classifier = nn.Sequential(
            norm_layer(last_channels), nn.Flatten(1), nn.Linear(last_channels, num_classes)
        )

        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)            # (N, C_last, H/32, W/32)
        x = self.avgpool(x)             # (N, C_last, 1, 1)
        return self.classifier(x)       # (N, num_classes)


def _convnext(name: str, **kwargs: Any) -> ConvNeXt:
    kwargs.setdefault("stochastic_depth_prob", CONVNEXT_STOCHASTIC_DEPTH[name])
    return ConvNeXt(CONVNEXT_STAGES[name], **kwargs)


def convnext_tiny(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-T; keywords ``num_classes, stochastic_depth_prob`` (0.1), ``layer_scale, norm_layer``."""
    return _convnext("convnext_tiny", **kwargs)


def convnext_small(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-S (``stochastic_depth_prob=0.4``); keywords as :func:`convnext_tiny`."""
    return _convnext("convnext_small", **kwargs)


def convnext_base(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-B (``stochastic_depth_prob=0.5``); keywords as :func:`convnext_tiny`."""
    return _convnext("convnext_base", **kwargs)


def convnext_large(**kwargs: Any) -> ConvNeXt:
    """ConvNeXt-L (``stochastic_depth_prob=0.5``); keywords as :func:`convnext_tiny`."""
    return _convnext("convnext_large", **kwargs)
