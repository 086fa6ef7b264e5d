"""GoogLeNet (Szegedy et al. 2015): nine Inception modules, one row of the paper's Table 1 each.

Introduced in notebooks/03_architectures.ipynb.
"""
from __future__ import annotations

from collections import namedtuple
from functools import partial
from typing import Any, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.blocks import BasicConv2d, InceptionBlock
from helpers.models._utils import _check_bool


GOOGLENET_INCEPTIONS: list[tuple[str, int, int, int, int, int, int, int]] = [
    # Szegedy et al. 2015, "Going deeper with convolutions", Table 1: the columns
    # "#1x1", "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5", "pool proj", with the
    # input channels (the previous row's four outputs added up) in front.
    # (name, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
    ("inception3a", 192, 64, 96, 128, 16, 32, 32),
    ("inception3b", 256, 128, 128, 192, 32, 96, 64),
    ("inception4a", 480, 192, 96, 208, 16, 48, 64),
    ("inception4b", 512, 160, 112, 224, 24, 64, 64),
    ("inception4c", 512, 128, 128, 256, 24, 64, 64),
    ("inception4d", 512, 112, 144, 288, 32, 64, 64),
    ("inception4e", 528, 256, 160, 320, 32, 128, 128),
    ("inception5a", 832, 256, 160, 320, 32, 128, 128),
    ("inception5b", 832, 384, 192, 384, 48, 128, 128),
]
"""GoogLeNet's nine Inception modules, one row of the paper's Table 1 each."""

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])
"""What :class:`GoogLeNet` returns in training with auxiliary heads (torchvision's field order)."""


class InceptionAux(nn.Module):
    """GoogLeNet's auxiliary classifier (Szegedy et al. 2015, section 5).

    A small head on an intermediate feature map: average pool to 4x4, 1x1 conv
    to 128 channels, a 1024-unit fully connected layer, dropout, the classes.
    Its loss, weighted 0.3, adds gradient to the middle of the network in
    training; at test time it is not run. (The paper pools 5x5 with stride 3,
    which gives 4x4 at 224x224; torchvision pools adaptively to 4x4.)

    Shapes: x (Tensor[N, in_channels, H, W]) -> Tensor[N, num_classes].
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = F.adaptive_avg_pool2d(x, (4, 4))    # (N, in_channels, 4, 4)
        x = self.conv(x)                        # (N, 128, 4, 4)
        x = torch.flatten(x, 1)                 # (N, 2048)
        x = F.relu(self.fc1(x), inplace=True)   # (N, 1024)
        x = self.dropout(x)
        return self.fc2(x)                      # (N, num_classes)


class GoogLeNet(nn.Module):
    """GoogLeNet, or Inception v1 (Szegedy et al. 2015, Table 1 and Fig. 3).

    A stem of plain convolutions, then the nine Inception modules of
    :data:`GOOGLENET_INCEPTIONS` with max pools between the groups 3, 4 and 5,
    global average pooling, dropout and one linear layer. Two auxiliary heads
    (:class:`InceptionAux`) after ``inception4a`` and ``inception4d`` run in
    training only; with them, training returns a :data:`GoogLeNetOutputs`.

    Where it differs from the paper, as torchvision's does: Batch Norm in every
    convolution (:class:`~helpers.blocks.BasicConv2d`), no local response
    normalisation, and a 3x3 where the paper's "5x5" branch is (pass
    ``branch3_kernel_size=5`` for the paper's; torchvision's weights need 3).
    ``transform_input=True`` re-normalises an ImageNet-normalised input to the
    ``[-1, 1]`` range the ported weights were trained on. ``init_weights`` ``None``
    (torchvision's default, which warns of a future change) or ``True`` draws
    torchvision's truncated normal weights; ``False`` keeps PyTorch's defaults.

    Shapes: x (Tensor[N, 3, H, W]) -> Tensor[N, num_classes].
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True, transform_input: bool = False,
                 init_weights: Optional[bool] = None, dropout: float = 0.2, dropout_aux: float = 0.7,
                 *, branch3_kernel_size: int = 3) -> None:
        super().__init__()
        if branch3_kernel_size not in (3, 5):
            raise ValueError(f"branch3_kernel_size must be 3 (torchvision) or 5 (the paper), "
                             f"got {branch3_kernel_size!r}")
        self.aux_logits = _check_bool("aux_logits", aux_logits)
        self.transform_input = _check_bool("transform_input", transform_input)

        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        rows = {row[0]: row[1:] for row in GOOGLENET_INCEPTIONS}
        inception = partial(InceptionBlock, branch3_kernel_size=branch3_kernel_size)

        self.inception3a = inception(*rows["inception3a"])
        self.inception3b = inception(*rows["inception3b"])
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = inception(*rows["inception4a"])
        self.inception4b = inception(*rows["inception4b"])
        self.inception4c = inception(*rows["inception4c"])
        self.inception4d = inception(*rows["inception4d"])
        self.inception4e = inception(*rows["inception4e"])
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = inception(*rows["inception5a"])
        self.inception5b = inception(*rows["inception5b"])

        if aux_logits:
            self.aux1: Optional[InceptionAux] = InceptionAux(512, num_classes, dropout=dropout_aux)
            self.aux2: Optional[InceptionAux] = InceptionAux(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

        if init_weights is None or init_weights:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    def _transform_input(self, x: Tensor) -> Tensor:
        """ImageNet normalisation ``(x - mean) / std`` undone and redone as ``(x - 0.5) / 0.5``."""
        if not self.transform_input:
            return x
        x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
        x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
        x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
        return torch.cat((x_ch0, x_ch1, x_ch2), 1)

    def forward(self, x: Tensor) -> Union[Tensor, GoogLeNetOutputs]:
        x = self._transform_input(x)    # (N, 3, 224, 224), shapes below at 224
        x = self.conv1(x)               # (N, 64, 112, 112)
        x = self.maxpool1(x)            # (N, 64, 56, 56)
        x = self.conv2(x)               # (N, 64, 56, 56)
        x = self.conv3(x)               # (N, 192, 56, 56)
        x = self.maxpool2(x)            # (N, 192, 28, 28)

        x = self.inception3a(x)         # (N, 256, 28, 28)
        x = self.inception3b(x)         # (N, 480, 28, 28)
        x = self.maxpool3(x)            # (N, 480, 14, 14)
        x = self.inception4a(x)         # (N, 512, 14, 14)
        training_aux = self.training and self.aux1 is not None and self.aux2 is not None
        aux1 = self.aux1(x) if training_aux else None
        x = self.inception4b(x)         # (N, 512, 14, 14)
        x = self.inception4c(x)         # (N, 512, 14, 14)
        x = self.inception4d(x)         # (N, 528, 14, 14)
        aux2 = self.aux2(x) if training_aux else None
        x = self.inception4e(x)         # (N, 832, 14, 14)
        x = self.maxpool4(x)            # (N, 832, 7, 7)
        x = self.inception5a(x)         # (N, 832, 7, 7)
        x = self.inception5b(x)         # (N, 1024, 7, 7)

        x = self.avgpool(x)             # (N, 1024, 1, 1)
        x = torch.flatten(x, 1)         # (N, 1024)
        x = self.dropout(x)
        x = self.fc(x)                  # (N, num_classes)
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


def googlenet(**kwargs: Any) -> GoogLeNet:
    """GoogLeNet with torchvision's defaults without weights: auxiliary heads on, ``transform_input=False``.

    Keywords as :class:`GoogLeNet`. torchvision's published parameter count
    (6,624,904) is that of the network without its auxiliary heads
    (``aux_logits=False``), which its pretrained model drops after loading.
    """
    return GoogLeNet(**kwargs)
