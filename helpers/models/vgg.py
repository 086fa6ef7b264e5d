"""VGG (Simonyan & Zisserman 2015): stacks of 3x3 convolutions, configured by the paper's Table 1.

Introduced in notebooks/03_architectures.ipynb.
"""
from __future__ import annotations

from typing import Any, Sequence, Union

import torch
from torch import Tensor, nn


VGG_CONFIGS: dict[str, list[Union[int, str]]] = {
    # Simonyan & Zisserman 2015, Table 1: an int is a 3x3 conv (padding 1) with that
    # many filters, "M" a 2x2 max pool with stride 2. Columns A, B, D, E of the table.
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],                    # A
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],           # B
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],                                                               # D
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],                                                          # E
}
"""VGG's configurations by builder name, as the columns of the paper's Table 1."""


def make_vgg_layers(cfg: Sequence[Union[int, str]], batch_norm: bool = False) -> nn.Sequential:
    """VGG's ``features``: one flat Sequential of conv, [BN,] ReLU per int and a pool per ``"M"``.

    Flat (not one :class:`~helpers.blocks.ConvNormAct` per layer) because
    torchvision's VGG is flat, and its ``state_dict`` keys (``features.0.weight``) say so.
    The convolutions keep their bias even before a Batch Norm, as torchvision's do.
    """
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))     # halves H, W
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"cfg entries must be positive ints or 'M', got {v!r}")
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG (Simonyan & Zisserman 2015): stacks of 3x3 convolutions, then three fully connected layers.

    The classifier of the paper's Table 1 (4096, 4096, classes) after an adaptive
    average pool to 7x7, which lets torchvision's VGG take any input of at least
    32x32 (at 224x224 the pool changes nothing).

    Shapes: x (Tensor[N, 3, H, W]) -> Tensor[N, num_classes].
    """

    def __init__(self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)            # (N, 512, H/32, W/32)
        x = self.avgpool(x)             # (N, 512, 7, 7)
        x = torch.flatten(x, 1)         # (N, 25088)
        return self.classifier(x)       # (N, num_classes)


def _vgg(name: str, batch_norm: bool, **kwargs: Any) -> VGG:
    return VGG(make_vgg_layers(VGG_CONFIGS[name], batch_norm=batch_norm), **kwargs)


def vgg11(**kwargs: Any) -> VGG:
    """VGG-11, configuration A; keywords as :class:`VGG` (``num_classes, init_weights, dropout``)."""
    return _vgg("vgg11", False, **kwargs)


def vgg11_bn(**kwargs: Any) -> VGG:
    """VGG-11 with Batch Norm after each convolution (not in the paper, which predates it)."""
    return _vgg("vgg11", True, **kwargs)


def vgg13(**kwargs: Any) -> VGG:
    """VGG-13, configuration B; keywords as :class:`VGG`."""
    return _vgg("vgg13", False, **kwargs)


def vgg13_bn(**kwargs: Any) -> VGG:
    """VGG-13 with Batch Norm after each convolution."""
    return _vgg("vgg13", True, **kwargs)


def vgg16(**kwargs: Any) -> VGG:
    """VGG-16, configuration D; keywords as :class:`VGG`."""
    return _vgg("vgg16", False, **kwargs)


def vgg16_bn(**kwargs: Any) -> VGG:
    """VGG-16 with Batch Norm after each convolution."""
    return _vgg("vgg16", True, **kwargs)


def vgg19(**kwargs: Any) -> VGG:
    """VGG-19, configuration E; keywords as :class:`VGG`."""
    return _vgg("vgg19", False, **kwargs)


def vgg19_bn(**kwargs: Any) -> VGG:
    """VGG-19 with Batch Norm after each convolution."""
    return _vgg("vgg19", True, **kwargs)
