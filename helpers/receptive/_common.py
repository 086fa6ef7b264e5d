"""What the tracer and the gradient measurement share: the checked input size, eval mode, op names."""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from helpers._args import check_int


def _check_input_size(input_size: object) -> tuple[int, int, int]:
    """``(C, H, W)`` of one image, each a positive int."""
    if not isinstance(input_size, (tuple, list)) or len(input_size) != 3:
        raise ValueError(f"input_size must be (C, H, W) for one image, without the batch dim, got {input_size!r}")
    c, h, w = (check_int(f"input_size[{i}]", v, 1) for i, v in enumerate(input_size))
    return c, h, w


def _op_name(func: Callable[..., Any]) -> str:
    """``'conv2d'`` for ``F.conv2d``, ``torch.conv2d`` and ``Tensor.conv2d`` alike."""
    name = getattr(func, "__name__", None) or repr(func)
    if name == "__get__":  # property access: Tensor.mT, Tensor.shape, ...
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    return name.split(".")[0]  # torch.ops overloads: 'add.Tensor'


def _digit(name: str) -> int:
    """``2`` for ``'max_pool2d_with_indices'``: how many trailing dims the op slides over."""
    return int(next(ch for ch in name if ch.isdigit()))


def _ntuple(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value) if len(value) == n else tuple(int(value[0]) for _ in range(n))
    return tuple(int(value) for _ in range(n))


class _EvalMode:
    """``module.eval()`` for the duration, then every submodule's own flag back."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.flags = [(m, m.training) for m in module.modules()]

    def __enter__(self) -> None:
        self.module.eval()

    def __exit__(self, *exc: object) -> None:
        for m, flag in self.flags:
            m.training = flag
