"""Small checks shared by the builders of :mod:`helpers.models`: keywords an architecture fixes, bools."""
from __future__ import annotations

from typing import Any, Callable

from torch import nn


NormLayer = Callable[[int], nn.Module]
"""A normalisation layer's constructor: ``norm_layer(num_features)``, e.g. ``nn.BatchNorm2d``."""


def _fix(kwargs: dict[str, Any], key: str, value: Any, name: str) -> None:
    """Set ``kwargs[key] = value``: the architecture ``name`` is defined by it; another value is an error."""
    if key in kwargs and kwargs[key] != value:
        raise ValueError(f"{key}: {name} is defined by {key}={value!r}, got {key}={kwargs[key]!r}")
    kwargs[key] = value


def _check_bool(name: str, value: object) -> bool:
    """``value``, or TypeError naming ``name`` when it is not a bool (1 and 0 are refused too)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r} ({type(value).__name__})")
    return value
