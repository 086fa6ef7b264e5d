"""The architectures of unit 03, each one a twin of its torchvision model.

Every builder here has torchvision's name and keywords (less ``weights``: the
course builds every network from scratch and never downloads one), and returns
a module whose tree and ``state_dict`` keys are torchvision's, so
``ours.load_state_dict(torchvision_model.state_dict(), strict=True)`` works and
both compute the same output (``tests/test_models.py`` proves it, builder by builder).
The networks are assembled from the blocks of :mod:`helpers.blocks`; what makes
one architecture differ from another is a table, and the tables are written
here as the papers print them:

* :data:`VGG_CONFIGS` (Simonyan & Zisserman 2015, Table 1),
* :data:`GOOGLENET_INCEPTIONS` (Szegedy et al. 2015, Table 1),
* :data:`RESNET_STAGES` (He et al. 2016, Table 1; Xie et al. 2017; Zagoruyko & Komodakis 2016),
* :data:`MOBILENET_V2_SETTINGS` (Sandler et al. 2018, Table 2),
* :data:`EFFICIENTNET_B0_STAGES` and :data:`EFFICIENTNET_SCALING` (Tan & Le 2019, Table 1 and eq. 3),
* :data:`CONVNEXT_STAGES` (Liu et al. 2022, section 3).

:func:`published` and :func:`published_metrics` read the accuracy, size and cost
torchvision publishes for its ImageNet weights, offline, from the weights'
metadata (nothing is downloaded).

Introduced in notebooks/03_architectures.ipynb; the costs are compared in
notebooks/04_efficiency.ipynb.
"""
from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.blocks import (
    BasicBlock,
    BasicConv2d,
    Bottleneck,
    CNBlock,
    ConvNormAct,
    InceptionBlock,
    InvertedResidual,
    LayerNorm2d,
    MBConv,
    MBConvConfig,
    make_divisible,
    projection,
)

__all__ = [
    "BUILDERS",
    "CONVNEXT_STAGES",
    "CONVNEXT_STOCHASTIC_DEPTH",
    "EFFICIENTNET_B0_STAGES",
    "EFFICIENTNET_SCALING",
    "GOOGLENET_INCEPTIONS",
    "MOBILENET_V2_SETTINGS",
    "RESNET_BLOCKS",
    "RESNET_STAGES",
    "VGG_CONFIGS",
    "AlexNet",
    "ConvNeXt",
    "EfficientNet",
    "GoogLeNet",
    "GoogLeNetOutputs",
    "InceptionAux",
    "MobileNetV2",
    "Published",
    "ResNet",
    "VGG",
    "alexnet",
    "build",
    "convnext_base",
    "convnext_large",
    "convnext_small",
    "convnext_tiny",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_stages",
    "googlenet",
    "make_vgg_layers",
    "mobilenet_v2",
    "published",
    "published_metrics",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "scaled_channels",
    "scaled_depth",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "wide_resnet50_2",
    "wide_resnet101_2",
]

NormLayer = Callable[[int], nn.Module]


# --------------------------------------------------------------------------
# Published numbers, read offline from torchvision's weight metadata
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Published:
    """What torchvision publishes for one set of ImageNet-1k weights.

    * ``acc1``, ``acc5``: top-1 and top-5 accuracy (%) on the ImageNet-1k
      validation set, at ``crop_size`` (``meta["_metrics"]["ImageNet-1K"]``);
    * ``params``: number of parameters (``meta["num_params"]``);
    * ``gmacs``: billions of multiply-accumulates for one image at ``crop_size``
      (``meta["_ops"]``). torchvision's tables label this column "GFLOPS", but it
      counts one multiply-add as one operation (pytorch/vision#6936 counted it
      with a dispatch-mode counter whose convolution cost is ``out.numel() *
      C_in/groups * kh * kw``); :func:`helpers.count_macs`, which counts MACs,
      reproduces it to the last published digit for every builder of this module
      (``tests/test_models.py``), and PyTorch's ``FlopCounterMode`` reports twice it;
    * ``crop_size``: the input side the numbers were measured at;
    * ``weights``: which weights, e.g. ``"ResNet50_Weights.IMAGENET1K_V2"``.
    """

    name: str
    acc1: float
    acc5: float
    params: int
    gmacs: float
    crop_size: int
    weights: str


def _weights_enum(name: str) -> Any:
    """torchvision's weights enum for the builder ``name``, or ValueError listing the known names."""
    import torchvision

    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise ValueError(f"name must be a torchvision classification model, got {name!r}; "
                         f"known: {', '.join(known)}")
    return torchvision.models.get_model_weights(name)


def published(name: str, weights: str = "DEFAULT") -> Published:
    """The published numbers of torchvision's ``name`` model with ``weights`` (no download).

    ``weights`` is a member of the model's weights enum by name (``"IMAGENET1K_V1"``,
    or with its enum prefix ``"ResNet50_Weights.IMAGENET1K_V1"``), or ``"DEFAULT"``
    for the best ones torchvision ships.

    >>> published("resnet50").gmacs
    4.089
    """
    enum = _weights_enum(name)
    if not isinstance(weights, str):
        raise TypeError(f"weights must be a str, got {type(weights).__name__}")
    member = weights.split(".")[-1] if weights.startswith(enum.__name__ + ".") else weights
    if member != "DEFAULT" and member not in enum.__members__:
        raise ValueError(f"weights must be one of {['DEFAULT', *enum.__members__]} for {name}, "
                         f"got {weights!r}")
    w = enum[member]
    metrics = w.meta.get("_metrics", {}).get("ImageNet-1K")
    if metrics is None:
        raise ValueError(f"weights {type(w).__name__}.{w.name} have no ImageNet-1K metrics")
    return Published(
        name=name,
        acc1=float(metrics["acc@1"]),
        acc5=float(metrics["acc@5"]),
        params=int(w.meta["num_params"]),
        gmacs=float(w.meta["_ops"]),
        # the preset transform is a functools.partial: its keywords hold the crop size, no need to build it
        crop_size=int(w.transforms.keywords["crop_size"]),
        weights=f"{type(w).__name__}.{w.name}",
    )


def published_metrics(names: Optional[Iterable[str]] = None) -> list[Published]:
    """One :class:`Published` row per model, each with its DEFAULT weights.

    ``names=None`` lists every torchvision classification model that has
    ImageNet-1k weights, in torchvision's (alphabetical) order.
    """
    import torchvision

    if names is None:
        names = [n for n in torchvision.models.list_models(module=torchvision.models)
                 if "ImageNet-1K" in _weights_enum(n).DEFAULT.meta.get("_metrics", {})]
    elif isinstance(names, str):
        raise TypeError(f"names must be an iterable of model names, not one str; "
                        f"write [{names!r}]")
    return [published(n) for n in names]


# --------------------------------------------------------------------------
# Small checks shared by the builders
# --------------------------------------------------------------------------

def _fix(kwargs: dict[str, Any], key: str, value: Any, name: str) -> None:
    """Set ``kwargs[key] = value``: the architecture ``name`` is defined by it; another value is an error."""
    if key in kwargs and kwargs[key] != value:
        raise ValueError(f"{key}: {name} is defined by {key}={value!r}, got {key}={kwargs[key]!r}")
    kwargs[key] = value


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r} ({type(value).__name__})")
    return value


# --------------------------------------------------------------------------
# AlexNet (Krizhevsky et al. 2012)
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# VGG (Simonyan & Zisserman 2015)
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# GoogLeNet (Szegedy et al. 2015)
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# ResNet (He et al. 2016), ResNeXt (Xie et al. 2017), Wide ResNet (Zagoruyko & Komodakis 2016)
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# MobileNet V2 (Sandler et al. 2018)
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# EfficientNet (Tan & Le 2019)
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# ConvNeXt (Liu et al. 2022)
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# By name
# --------------------------------------------------------------------------

BUILDERS: dict[str, Callable[..., nn.Module]] = {
    fn.__name__: fn
    for fn in (
        alexnet,
        vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn,
        googlenet,
        resnet18, resnet34, resnet50, resnet101, resnet152,
        resnext50_32x4d, resnext101_32x8d, resnext101_64x4d, wide_resnet50_2, wide_resnet101_2,
        mobilenet_v2,
        efficientnet_b0, efficientnet_b1, efficientnet_b2, efficientnet_b3,
        efficientnet_b4, efficientnet_b5, efficientnet_b6, efficientnet_b7,
        convnext_tiny, convnext_small, convnext_base, convnext_large,
    )
}
"""Every builder of this module by its (torchvision) name."""


def build(name: str, **kwargs: Any) -> nn.Module:
    """``BUILDERS[name](**kwargs)``, with an error that lists the known names."""
    if not isinstance(name, str) or name not in BUILDERS:
        raise ValueError(f"name must be one of {', '.join(BUILDERS)}; got {name!r}")
    if "weights" in kwargs:
        raise TypeError("weights: the course builds every model from scratch (no pretrained "
                        "weights); load a state_dict into it instead")
    return BUILDERS[name](**kwargs)
