"""Argument checks shared by the helpers: one clear ``ValueError`` per broken rule.

Every public helper accepts a size as an ``int`` or an ``(h, w)`` pair, the way
``nn.Conv2d`` does, and answers in the same form.
"""
from __future__ import annotations

from typing import Sequence, Union

IntOrPair = Union[int, Sequence[int]]


def is_pair(value: object) -> bool:
    """True for a two-element tuple or list (the ``(h, w)`` form)."""
    return isinstance(value, (tuple, list)) and len(value) == 2


def check_int(name: str, value: object, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming ``name`` and the rule."""
    # bool is an int subclass; True as a kernel size is always a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np  # numpy integers are fine
            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except (ImportError, TypeError):
            raise ValueError(f"{name} must be an int, got {value!r} ({type(value).__name__})") from None
    if minimum is not None and value < minimum:
        rule = "positive" if minimum == 1 else "non-negative" if minimum == 0 else f">= {minimum}"
        raise ValueError(f"{name} must be {rule}, got {value}")
    return value


def to_pair(name: str, value: IntOrPair, minimum: int | None = None) -> tuple[int, int]:
    """``3 -> (3, 3)``, ``(3, 5) -> (3, 5)``; each element checked with :func:`check_int`."""
    if is_pair(value):
        h, w = value  # type: ignore[misc]
        return check_int(f"{name}[0]", h, minimum), check_int(f"{name}[1]", w, minimum)
    if isinstance(value, (tuple, list)):
        raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
    v = check_int(name, value, minimum)
    return v, v


def any_pair(*values: object) -> bool:
    """True when any argument was given in ``(h, w)`` form: the answer is then a pair too."""
    return any(is_pair(v) for v in values)
