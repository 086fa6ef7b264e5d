"""The architectures of unit 03, each one a twin of its torchvision model.

Every builder here has torchvision's name and keywords (less ``weights``: the
course builds every network from scratch and never downloads one), and returns
a module whose tree and ``state_dict`` keys are torchvision's, so
``ours.load_state_dict(torchvision_model.state_dict(), strict=True)`` works and
both compute the same output (``tests/test_models.py`` proves it, builder by builder).
The networks are assembled from the blocks of :mod:`helpers.blocks`; what makes
one architecture differ from another is a table, and the tables are written
here as the papers print them, one file per family as in torchvision
(``helpers/models/resnet.py`` holds ResNet, its table and its builders):

* :data:`VGG_CONFIGS` (Simonyan & Zisserman 2015, Table 1),
* :data:`LENET5_C3_TABLE` (LeCun et al. 1998, Table I; LeNet-5 has no torchvision twin),
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

from typing import Any, Callable

from torch import nn

from helpers.models.alexnet import AlexNet, alexnet
from helpers.models.convnext import (
    CONVNEXT_STAGES,
    CONVNEXT_STOCHASTIC_DEPTH,
    ConvNeXt,
    convnext_base,
    convnext_large,
    convnext_small,
    convnext_tiny,
)
from helpers.models.efficientnet import (
    EFFICIENTNET_B0_STAGES,
    EFFICIENTNET_SCALING,
    EfficientNet,
    efficientnet_b0,
    efficientnet_b1,
    efficientnet_b2,
    efficientnet_b3,
    efficientnet_b4,
    efficientnet_b5,
    efficientnet_b6,
    efficientnet_b7,
    efficientnet_stages,
    scaled_channels,
    scaled_depth,
)
from helpers.models.googlenet import GOOGLENET_INCEPTIONS, GoogLeNet, GoogLeNetOutputs, InceptionAux, googlenet
from helpers.models.lenet import LENET5_C3_TABLE, LeNet5, lenet5, lenet5_layer_params
from helpers.models.mobilenetv2 import MOBILENET_V2_SETTINGS, MobileNetV2, mobilenet_v2
from helpers.models.published import Published, published, published_metrics
from helpers.models.resnet import (
    RESNET_BLOCKS,
    RESNET_STAGES,
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnext50_32x4d,
    resnext101_32x8d,
    resnext101_64x4d,
    wide_resnet50_2,
    wide_resnet101_2,
)
from helpers.models.vgg import (
    VGG,
    VGG_CONFIGS,
    make_vgg_layers,
    vgg11,
    vgg11_bn,
    vgg13,
    vgg13_bn,
    vgg16,
    vgg16_bn,
    vgg19,
    vgg19_bn,
)

__all__ = [
    "BUILDERS",
    "CONVNEXT_STAGES",
    "CONVNEXT_STOCHASTIC_DEPTH",
    "EFFICIENTNET_B0_STAGES",
    "EFFICIENTNET_SCALING",
    "GOOGLENET_INCEPTIONS",
    "LENET5_C3_TABLE",
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
    "LeNet5",
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
    "lenet5",
    "lenet5_layer_params",
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
"""Every builder of this package by its (torchvision) name."""


def build(name: str, **kwargs: Any) -> nn.Module:
    """``BUILDERS[name](**kwargs)``, with an error that lists the known names."""
    if not isinstance(name, str) or name not in BUILDERS:
        raise ValueError(f"name must be one of {', '.join(BUILDERS)}; got {name!r}")
    if "weights" in kwargs:
        raise TypeError("weights: the course builds every model from scratch (no pretrained "
                        "weights); load a state_dict into it instead")
    return BUILDERS[name](**kwargs)
