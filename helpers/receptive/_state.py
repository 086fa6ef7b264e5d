"""What the tracer attaches to each tensor derived from the input: per axis, its dim, stride and span.

The state is the closed form's ``(r, S, P)`` written as the input pixels ``[lo, hi]`` that
output index 0 sees, so that paths can be united (residual adds, concatenations).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from torch import Tensor

from helpers.receptive.closed_form import ReceptiveField, _answer

if TYPE_CHECKING:  # Rule names the tracer's type; the tracer imports this file
    from helpers.receptive.tracer import _Tracer


_AXIS_NAMES = ("H", "W")


@dataclass(frozen=True)
class _Axis:
    """One spatial axis (H or W) of a traced tensor.

    ``dim`` is the tensor dim that holds it: ``None`` once the axis was reduced or
    merged away (global), or when a one-pixel map was squeezed out (nothing left to
    mix along it). Output index 0 along the axis sees input pixels ``[lo, hi]``;
    index ``j`` sees ``[lo + j*stride, hi + j*stride]``.
    """

    dim: Optional[int]
    stride: int
    lo: int
    hi: int
    glob: bool = False

    def globalized(self) -> "_Axis":
        return replace(self, dim=None, glob=True)

    def window(self, kernel_eff: int, stride: int, padding: int) -> "_Axis":
        """The Distill recurrence in ``[lo, hi]`` form: map index 0 sees map ``[-p, -p + k_eff - 1]``."""
        return replace(
            self,
            lo=self.lo - padding * self.stride,
            hi=self.hi + (kernel_eff - 1 - padding) * self.stride,
            stride=self.stride * stride,
        )


_State = tuple[_Axis, _Axis]  # (H, W)


class _Unsupported(ValueError):
    """An op the tracer cannot follow: a clear error beats a silently wrong number."""


def _unsupported(op: str, why: str) -> _Unsupported:
    return _Unsupported(f"receptive_field: cannot follow '{op}': {why}")


def _is_global(state: _State) -> bool:
    return all(a.glob for a in state)


def _globalize(state: _State) -> _State:
    return tuple(a.globalized() for a in state)  # type: ignore[return-value]


def _map_axes(state: _State, move: Callable[[int, _Axis], _Axis]) -> _State:
    """Apply ``move(axis_number, axis)`` to the axes that still sit at a tensor dim."""
    return tuple(a if a.glob or a.dim is None else move(k, a) for k, a in enumerate(state))  # type: ignore


def _union(states: Sequence[_State], op: str) -> _State:
    """Several paths into one tensor: every output sees what any path sees.

    ``lo = min``, ``hi = max``: for centred paths that is the largest field; for
    unaligned paths it is exactly the support the gradient measures. A global path
    makes the result global (squeeze-excitation's ``x * scale``).
    """
    if len(states) == 1:
        return states[0]
    return tuple(_union_axis([s[k] for s in states], op, _AXIS_NAMES[k]) for k in range(2))  # type: ignore


def _union_axis(axes: Sequence[_Axis], op: str, name: str) -> _Axis:
    live = [a for a in axes if not a.glob]
    if len(live) < len(axes):
        return (live[0] if live else axes[0]).globalized()
    strides = sorted({a.stride for a in live})
    if len(strides) > 1:
        raise _unsupported(op, f"it merges paths with different strides along {name} {strides}")
    dims = {a.dim for a in live}
    if len(dims) > 1:
        where = sorted(dims, key=str)
        raise _unsupported(op, f"it merges paths whose {name} axes sit at different tensor dims {where}")
    return replace(live[0], lo=min(a.lo for a in live), hi=max(a.hi for a in live))


def _to_answer(state: _State, input_hw: tuple[int, int]) -> ReceptiveField:
    axes = [(n, 0, 0) if a.glob else (a.hi - a.lo + 1, a.stride, -a.lo) for a, n in zip(state, input_hw)]
    return _answer(axes, _is_global(state))


@dataclass
class _Call:
    """One intercepted op: its arguments, its stateful inputs and its tensor outputs."""

    name: str
    func: Callable[..., Any]
    args: tuple
    kwargs: dict
    inputs: list[tuple[Tensor, _State]]
    outputs: list[Tensor]

    def arg(self, pos: int, key: str, default: Any = None) -> Any:
        if key in self.kwargs:
            return self.kwargs[key]
        return self.args[pos] if len(self.args) > pos else default

    @property
    def x(self) -> Tensor:
        return self.args[0]


Rule = Callable[["_Tracer", _Call], None]
