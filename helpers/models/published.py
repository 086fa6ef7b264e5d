"""What torchvision publishes for its ImageNet weights (accuracy, size, cost), read offline.

:func:`published` and :func:`published_metrics` read the weights' metadata that ships
with torchvision: nothing is downloaded. Compared with the course's counts in
notebooks/04_efficiency.ipynb.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional


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
