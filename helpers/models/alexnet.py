"""AlexNet (Krizhevsky et al. 2012), torchvision's one-tower form.

Introduced in notebooks/03_architectures.ipynb.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class AlexNet(nn.Module):
    """AlexNet (Krizhevsky, Sutskever & Hinton 2012, Fig. 2), in torchvision's one-tower form.

    Five convolutions (11x11 stride 4, 5x5, then three 3x3) with max pools,
    then three fully connected layers with dropout. torchvision follows
    Krizhevsky's later "one weird trick" paper (2014): 64, 192, 384, 256, 256
    filters in one tower, not the 96, 256, 384, 384, 256 split across two GPUs
    of the 2012 paper, and no local response normalisation.

    Shapes: x (Tensor[N, 3, H, W]), ``H, W >= 63`` -> Tensor[N, num_classes].
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),     # (N, 64, 55, 55) at 224
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                      # (N, 64, 27, 27)
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                      # (N, 192, 13, 13)
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),                      # (N, 256, 6, 6)
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)            # (N, 256, h, w)
        x = self.avgpool(x)             # (N, 256, 6, 6)
        x = torch.flatten(x, 1)         # (N, 9216)
        return self.classifier(x)       # (N, num_classes)


def alexnet(**kwargs: Any) -> AlexNet:
    """AlexNet; keywords as :class:`AlexNet` (``num_classes=1000, dropout=0.5``)."""
    return AlexNet(**kwargs)
