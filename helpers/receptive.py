"""What does a feature see? Receptive fields, computed and measured.

Introduced in notebooks/01_layers.ipynb, section 2.

Everything here follows Araujo, Norris & Sim, "Computing Receptive Fields of
Convolutional Neural Networks", Distill 2019 (https://distill.pub/2019/computing-receptive-fields/).
A feature's receptive field is described by three numbers per spatial axis:

* its **size** ``r``: how many input pixels it sees;
* the **effective stride** ``S`` (the "jump"): how far, in input pixels, the fields
  of two neighbouring output features are apart;
* the **effective padding** ``P``: how far the first feature's field starts before
  the first input pixel.

Output feature ``i`` sees input pixels ``[i*S - P, i*S - P + r - 1]``. For a chain of
layers ``(k, s, p, d)`` the paper's recurrences are, from the input on::

    k_eff = d * (k - 1) + 1
    r    += (k_eff - 1) * S
    P    += p * S
    S    *= s

Three ways in:

* :func:`receptive_field` on a list of ``(kernel_size, stride, padding[, dilation])``
  tuples applies those recurrences;
* :func:`receptive_field` on any ``nn.Module`` follows the forward pass (branches,
  residual adds, concatenations, channels-last blocks, attention) on meta tensors,
  so it costs no arithmetic; :func:`receptive_fields_by_module` gives every
  submodule's field from the same pass;
* :func:`empirical_receptive_field` *measures* the field by back-propagating from one
  output feature to the input (:func:`gradient_map` returns the map for figures).
  The two agree on every network the tests try, which is the point of having both.

Receptive fields are those **at inference**: batch norm is per-channel (pointwise),
dropout and stochastic depth are identities.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from helpers._args import IntOrPair, check_int, is_pair, to_pair

__all__ = [
    "ReceptiveField",
    "empirical_receptive_field",
    "gradient_map",
    "gradient_maps",
    "receptive_field",
    "receptive_fields_by_module",
]

Size = Union[int, tuple[int, int]]
Layer = Sequence[IntOrPair]  # (kernel_size, stride, padding[, dilation])
Index = Union[int, tuple[int, int]]


# --------------------------------------------------------------------------------------
# The answer
# --------------------------------------------------------------------------------------

class ReceptiveField(NamedTuple):
    """Size ``r``, effective stride ``S`` and effective padding ``P`` (Distill 2019).

    Output feature ``i`` sees input pixels ``[i*S - P, i*S - P + r - 1]``: use
    :meth:`start`, :meth:`end` and :meth:`center` rather than the formula. Each field
    is an ``int`` when H and W agree, else an ``(h, w)`` tuple.

    ``is_global`` means every output feature sees the whole input (global pooling,
    squeeze-excitation, attention, flatten into a linear layer). A global axis reports
    ``size`` = the input size, ``stride`` 0 and ``padding`` 0, so that ``start(i)`` is
    0 and ``end(i)`` the last pixel for every ``i``.
    """

    size: Size
    stride: Size
    padding: Size
    is_global: bool = False

    def start(self, i: Index) -> Size:
        """First input pixel seen by output feature ``i`` (``i`` an int or ``(i_h, i_w)``)."""
        return self._per_axis(i, lambda k, r, s, p: k * s - p)

    def end(self, i: Index) -> Size:
        """Last input pixel (inclusive) seen by output feature ``i``."""
        return self._per_axis(i, lambda k, r, s, p: k * s - p + r - 1)

    def center(self, i: Index) -> Union[int, float, tuple[Union[int, float], Union[int, float]]]:
        """Centre of the field of feature ``i``; a ``.5`` float when the size is even."""
        def centre(k: int, r: int, s: int, p: int) -> Union[int, float]:
            twice = 2 * (k * s - p) + r - 1  # start + end
            return twice // 2 if twice % 2 == 0 else twice / 2
        return self._per_axis(i, centre)

    def _per_axis(self, i: Index, fn: Callable[[int, int, int, int], Any]) -> Any:
        fields = (i, self.size, self.stride, self.padding)
        pairs = [to_pair(name, v) for name, v in zip(("i", "size", "stride", "padding"), fields)]
        answer = tuple(fn(*(p[axis] for p in pairs)) for axis in range(2))
        return answer if any(is_pair(v) for v in fields) else answer[0]


def _collapse(h: int, w: int) -> Size:
    """``(h, w)`` as one int when the axes agree: the form the answer takes."""
    return h if h == w else (h, w)


def _answer(axes: Sequence[tuple[int, int, int]], is_global: bool) -> ReceptiveField:
    """Build a :class:`ReceptiveField` from per-axis ``(size, stride, padding)``."""
    (rh, sh, ph), (rw, sw, pw) = axes
    return ReceptiveField(_collapse(rh, rw), _collapse(sh, sw), _collapse(ph, pw), is_global)


# --------------------------------------------------------------------------------------
# Entry point and the chain form
# --------------------------------------------------------------------------------------

def receptive_field(
    layers_or_module: Union[Sequence[Layer], nn.Module],
    /,
    input_size: Optional[Sequence[int]] = None,
) -> ReceptiveField:
    """Receptive field of one output feature (Araujo, Norris & Sim, Distill 2019).

    Introduced in notebooks/01_layers.ipynb, section 2.

    * ``receptive_field([(k, s, p), (k, s, p, d), ...])``: a chain of layers, each an
      int or ``(h, w)`` per argument; the empty chain is a single pixel.
    * ``receptive_field(module, (C, H, W))``: any ``nn.Module``, followed through one
      forward pass on meta tensors (see :func:`receptive_fields_by_module` for the
      rules). The module is not modified and nothing is computed.

    >>> receptive_field([(3, 1, 1)] * 3)            # three 3x3 convs see 7x7
    ReceptiveField(size=7, stride=1, padding=3, is_global=False)
    """
    if isinstance(layers_or_module, nn.Module):
        if input_size is None:
            raise ValueError("receptive_field(module, input_size): input_size=(C, H, W) is required for a module")
        return _trace(layers_or_module, input_size)
    if isinstance(layers_or_module, (list, tuple)):
        if input_size is not None:
            raise ValueError("receptive_field(layers): input_size is only used with an nn.Module, not a list of layers")
        return _chain(layers_or_module)
    raise ValueError(
        "receptive_field expects an nn.Module (with input_size) or a list of "
        f"(kernel_size, stride, padding[, dilation]) tuples, got {type(layers_or_module).__name__}"
    )


def _chain(layers: Sequence[Layer]) -> ReceptiveField:
    """The Distill recurrences over a checked list of layers."""
    axes = [[1, 1, 0], [1, 1, 0]]  # per axis: size r, stride S, padding P
    for index, layer in enumerate(layers):
        k, s, p, d = _check_layer(index, layer)
        for axis, (r, big_s, big_p) in enumerate(axes):
            k_eff = d[axis] * (k[axis] - 1) + 1
            axes[axis] = [r + (k_eff - 1) * big_s, big_s * s[axis], big_p + p[axis] * big_s]
    return _answer([tuple(a) for a in axes], False)  # type: ignore[misc]


def _check_layer(index: int, layer: object) -> tuple[tuple[int, int], ...]:
    """``(k, s, p[, d])`` as four ``(h, w)`` pairs, or a ``ValueError`` naming ``layers[index]``."""
    where = f"layers[{index}]"
    if not isinstance(layer, (tuple, list)) or len(layer) not in (3, 4):
        raise ValueError(f"{where} must be a (kernel_size, stride, padding[, dilation]) tuple, got {layer!r}")
    names = ("kernel_size", "stride", "padding", "dilation")
    minima = (1, 1, 0, 1)
    values = tuple(layer) + ((1,) if len(layer) == 3 else ())
    return tuple(to_pair(f"{where}: {n}", v, m) for n, v, m in zip(names, values, minima))


def _check_input_size(input_size: object) -> tuple[int, int, int]:
    """``(C, H, W)`` of one image, each a positive int."""
    if not isinstance(input_size, (tuple, list)) or len(input_size) != 3:
        raise ValueError(f"input_size must be (C, H, W) for one image, without the batch dim, got {input_size!r}")
    c, h, w = (check_int(f"input_size[{i}]", v, 1) for i, v in enumerate(input_size))
    return c, h, w


# --------------------------------------------------------------------------------------
# Tracing state: what each tensor derived from the input sees
# --------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------
# The tracer: a TorchFunctionMode that moves states through every op
# --------------------------------------------------------------------------------------

def _op_name(func: Callable[..., Any]) -> str:
    """``'conv2d'`` for ``F.conv2d``, ``torch.conv2d`` and ``Tensor.conv2d`` alike."""
    name = getattr(func, "__name__", None) or repr(func)
    if name == "__get__":  # property access: Tensor.mT, Tensor.shape, ...
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    return name.split(".")[0]  # torch.ops overloads: 'add.Tensor'


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


class _Tracer(TorchFunctionMode):
    """Attach a receptive-field state to every tensor that depends on the input.

    States live in ``id(tensor) -> (tensor, state)``; holding the (meta, free) tensor
    keeps its id from being reused by a later tensor.
    """

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[int, tuple[Tensor, _State]] = {}

    def get(self, t: object) -> Optional[_State]:
        entry = self.states.get(id(t)) if isinstance(t, Tensor) else None
        return entry[1] if entry is not None and entry[0] is t else None

    def set(self, t: Tensor, state: _State) -> None:
        self.states[id(t)] = (t, state)

    def set_all(self, call: _Call, state: _State) -> None:
        for out in call.outputs:
            self.set(out, state)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        name = _op_name(func)
        leaves = tree_flatten((args, kwargs))[0]
        out = func(*args, **kwargs)  # the mode is off inside: this runs the op on meta
        inputs = [(t, s) for t in leaves if (s := self.get(t)) is not None]
        if not inputs or name in _VALUE_FREE:
            return out
        outputs = [args[0]] if name == "__setitem__" else [t for t in tree_flatten(out)[0] if isinstance(t, Tensor)]
        if not outputs:
            return out
        call = _Call(name, func, tuple(args), kwargs, inputs, outputs)
        if all(_is_global(s) for _, s in inputs):
            self.set_all(call, _union([s for _, s in inputs], name))  # nothing left to localise
        else:
            _RULES.get(name, _elementwise)(self, call)
        return out


# Ops whose output depends on the input's shape only, not on its values.
_VALUE_FREE = frozenset({
    "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "randint_like",
    "new_zeros", "new_ones", "new_empty", "new_full", "new_empty_strided", "new_tensor",
})


# ---- helpers shared by the rules ------------------------------------------------------

def _norm_dim(d: int, ndim: int, op: str) -> int:
    if not -max(ndim, 1) <= d < max(ndim, 1):
        raise _unsupported(op, f"dim {d} out of range for a {ndim}-d tensor")
    return d % max(ndim, 1)


def _dims_arg(value: Any, ndim: int, op: str) -> Optional[set[int]]:
    """A ``dim`` argument as a set of non-negative dims; ``None`` means all dims."""
    if value is None or (isinstance(value, (tuple, list)) and len(value) == 0):
        return None
    items = value if isinstance(value, (tuple, list)) else [value]
    return {_norm_dim(int(d), ndim, op) for d in items}


def _digit(name: str) -> int:
    """``2`` for ``'max_pool2d_with_indices'``: how many trailing dims the op slides over."""
    return int(next(ch for ch in name if ch.isdigit()))


def _ntuple(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value) if len(value) == n else tuple(int(value[0]) for _ in range(n))
    return tuple(int(value) for _ in range(n))


def _others(call: _Call, handled: Sequence[Tensor]) -> list[_State]:
    """States of inputs a rule does not place (weights computed from the input, masks).

    Every output uses all of such a tensor, so each counts as global: conservative.
    """
    ids = {id(t) for t in handled}
    return [_globalize(s) for t, s in call.inputs if id(t) not in ids]


def _finish(tr: _Tracer, call: _Call, state: Optional[_State], handled: Sequence[Tensor]) -> None:
    states = ([state] if state is not None else []) + _others(call, handled)
    if states:
        tr.set_all(call, _union(states, call.name))


def _primary(rule: Callable[[_Tracer, _Call, _State], Optional[_State]]) -> Rule:
    """A rule about ``args[0]``; other stateful arguments are folded in as global."""
    def wrapped(tr: _Tracer, call: _Call) -> None:
        state = tr.get(call.x)
        _finish(tr, call, rule(tr, call, state) if state is not None else None, [call.x])
    return wrapped


def _check_tracked(state: _State, op: str) -> None:
    if any(not a.glob and a.dim is None for a in state):
        raise _unsupported(op, "it runs on a tensor whose one-pixel H or W axis was squeezed out earlier")


# ---- windows: convolution, pooling, padding --------------------------------------------

def _apply_windows(state: _State, ndim: int, windows: Sequence[tuple[int, int, int]],
                   channel_dim: Optional[int], op: str) -> _State:
    """Slide ``(k_eff, stride, padding)`` windows over the last ``len(windows)`` dims."""
    first = ndim - len(windows)
    held = {a.dim for a in state if not a.glob}
    if any(d not in held for d in range(first, ndim)):
        _check_tracked(state, op)

    def move(_: int, a: _Axis) -> _Axis:
        if a.dim == channel_dim:
            return a.globalized()  # the op sums over all input channels
        if a.dim is not None and a.dim >= first:
            return a.window(*windows[a.dim - first])
        return a
    return _map_axes(state, move)


@_primary
def _conv(tr: _Tracer, call: _Call, state: _State) -> _State:
    if call.name in ("convolution", "_convolution") and call.arg(6, "transposed", False):
        raise _unsupported(call.name, "a transposed (fractionally strided) convolution has no single stride; "
                                      "the tracer only follows forward convolutions")
    x, weight = call.x, call.arg(1, "weight")
    n = weight.ndim - 2
    kernel = tuple(weight.shape[2:])
    stride = _ntuple(call.arg(3, "stride", 1), n)
    dilation = _ntuple(call.arg(5, "dilation", 1), n)
    padding = call.arg(4, "padding", 0)
    if padding == "valid":
        padding = (0,) * n
    elif padding == "same":  # PyTorch puts the odd pixel on the right: the left side is the floor
        padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    else:
        padding = _ntuple(padding, n)
    windows = [(d * (k - 1) + 1, s, p) for k, s, p, d in zip(kernel, stride, padding, dilation)]
    return _apply_windows(state, x.ndim, windows, x.ndim - n - 1, call.name)


@_primary
def _pool(tr: _Tracer, call: _Call, state: _State) -> _State:
    n = _digit(call.name)
    if call.name.startswith("lp_pool"):  # (input, norm_type, kernel_size, stride, ceil_mode)
        kernel, stride, padding, dilation = call.arg(2, "kernel_size"), call.arg(3, "stride"), 0, 1
    elif call.name.startswith("avg_pool"):  # (input, kernel_size, stride, padding, ceil_mode, ...)
        kernel, stride, dilation = call.arg(1, "kernel_size"), call.arg(2, "stride"), 1
        padding = call.arg(3, "padding", 0)
    else:  # max_pool: (input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
        kernel, stride = call.arg(1, "kernel_size"), call.arg(2, "stride")
        padding, dilation = call.arg(3, "padding", 0), call.arg(4, "dilation", 1)
    k = _ntuple(kernel, n)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _ntuple(stride, n)
    p, d = _ntuple(padding, n), _ntuple(dilation, n)
    windows = [(di * (ki - 1) + 1, si, pi) for ki, si, pi, di in zip(k, s, p, d)]
    return _apply_windows(state, call.x.ndim, windows, None, call.name)


@_primary
def _adaptive_pool(tr: _Tracer, call: _Call, state: _State) -> _State:
    """Adaptive pooling: 1 output -> global; ``in % out == 0`` -> kernel = stride = in/out.

    Otherwise (e.g. AlexNet's 6x6 pool fed a 7x7 map) the windows differ in size and
    start at ``floor(i*in/out)``. The conservative rule: kernel = the largest window, so
    index 0's field is never too small; stride = ``max(1, in // out)``, so the fields
    of later indices are approximate.
    """
    x, out = call.x, call.outputs[0]

    def move(_: int, a: _Axis) -> _Axis:
        if a.dim is None or a.dim < x.ndim - _digit(call.name):
            return a
        n_in, n_out = x.shape[a.dim], out.shape[a.dim]
        if n_out == 1:
            return a.globalized()
        if n_in % n_out == 0:
            return a.window(n_in // n_out, n_in // n_out, 0)
        widest = max(math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out))
        return a.window(widest, max(1, n_in // n_out), 0)
    return _map_axes(state, move)


@_primary
def _pad(tr: _Tracer, call: _Call, state: _State) -> _State:
    mode = call.arg(2, "mode", "constant")
    if mode == "circular" or call.name.startswith("_pad_circular"):
        raise _unsupported(call.name, "circular padding wraps the field around the border")
    pad = list(call.arg(1, "pad") if call.name in ("pad", "constant_pad_nd") else call.arg(1, "padding"))
    ndim = call.x.ndim

    def move(_: int, a: _Axis) -> _Axis:
        k = ndim - 1 - a.dim  # pad lists start from the last dim: (left, right, top, bottom, ...)
        return a.window(1, 1, pad[2 * k]) if 2 * k < len(pad) else a
    return _map_axes(state, move)


# ---- reductions and ops that mix along one dim ----------------------------------------

# name -> (position of `dim`, default when absent: None = all dims)
_REDUCTIONS: dict[str, tuple[int, Optional[int]]] = {
    **{n: (1, None) for n in (
        "sum", "mean", "nansum", "nanmean", "amax", "amin", "prod", "std", "var", "std_mean", "var_mean",
        "logsumexp", "argmax", "argmin", "all", "any", "count_nonzero", "median", "nanmedian", "max", "min",
        "aminmax",
    )},
    "mode": (1, -1), "kthvalue": (2, -1), "norm": (2, None), "vector_norm": (2, None),
}


@_primary
def _reduce(tr: _Tracer, call: _Call, state: _State) -> _State:
    pos, default = _REDUCTIONS[call.name]
    dim = call.arg(pos, "dim", default)
    if isinstance(dim, bool):  # std(x, unbiased)
        dim = default
    x, out = call.x, call.outputs[0]
    dims = _dims_arg(dim, x.ndim, call.name) or set(range(x.ndim))
    keep = out.ndim == x.ndim

    def move(_: int, a: _Axis) -> _Axis:
        if a.dim in dims:
            return a.globalized()
        return a if keep else replace(a, dim=a.dim - sum(r < a.dim for r in dims))
    return _map_axes(state, move)


def _reduce_or_elementwise(tr: _Tracer, call: _Call) -> None:
    """``torch.max(a, b)`` is elementwise; ``torch.max(x, dim)`` a reduction."""
    if call.name in ("max", "min") and len(call.args) > 1 and isinstance(call.args[1], Tensor):
        _elementwise(tr, call)
    else:
        _reduce(tr, call)


# name -> (position of `dim`, default)
_MIXERS: dict[str, tuple[int, Optional[int]]] = {
    **{n: (1, None) for n in ("softmax", "log_softmax", "softmin", "_softmax", "_log_softmax")},
    **{n: (1, -1) for n in ("cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "sort", "argsort")},
    "normalize": (2, 1), "topk": (2, -1), "msort": (9, 0),
}


@_primary
def _mix(tr: _Tracer, call: _Call, state: _State) -> _State:
    """Ops that keep the shape but mix along one dim: that axis becomes global."""
    pos, default = _MIXERS[call.name]
    dim = call.arg(pos, "dim", default)
    if dim is None:  # F.softmax's legacy default
        dim = 0 if call.x.ndim in (0, 1, 3) else 1
    d = _norm_dim(int(dim), call.x.ndim, call.name)
    return _map_axes(state, lambda _, a: a.globalized() if a.dim == d else a)


@_primary
def _norm(tr: _Tracer, call: _Call, state: _State) -> Optional[_State]:
    """Normalisations: statistics over a spatial dim make it global; batch norm is pointwise."""
    ndim = call.x.ndim
    if call.name in ("layer_norm", "rms_norm"):
        shape = call.arg(1, "normalized_shape")
        stats = set(range(ndim - (1 if isinstance(shape, int) else len(shape)), ndim))
    elif call.name == "group_norm":
        stats = set(range(1, ndim))
    elif call.name == "instance_norm":
        stats = set(range(2, ndim))
    else:  # local_response_norm: across channels
        stats = {1}
    return _map_axes(state, lambda _, a: a.globalized() if a.dim in stats else a)


# ---- layout: permute, reshape, indexing -------------------------------------------------

def _permutation(call: _Call) -> list[int]:
    """``perm`` such that output dim ``j`` is input dim ``perm[j]``."""
    n, name, args = call.x.ndim, call.name, call.args
    perm = list(range(n))
    if name == "permute":
        dims = call.kwargs.get("dims", args[1] if len(args) == 2 and not isinstance(args[1], int) else args[1:])
        perm = [_norm_dim(int(d), n, name) for d in dims]
    elif name in ("transpose", "swapaxes", "swapdims", "t", "mT", "mH", "adjoint"):
        if name in ("transpose", "swapaxes", "swapdims"):
            keys = ("axis0", "axis1") if name == "swapaxes" else ("dim0", "dim1")
            a, b = (_norm_dim(int(call.arg(i + 1, k)), n, name) for i, k in enumerate(keys))
        else:
            a, b = (0, 1) if name == "t" else (n - 2, n - 1)
        if n >= 2:
            perm[a], perm[b] = perm[b], perm[a]
    elif name in ("T", "H"):
        perm = perm[::-1]
    else:  # movedim / moveaxis
        src, dst = call.arg(1, "source"), call.arg(2, "destination")
        src = [_norm_dim(int(d), n, name) for d in (src if isinstance(src, (tuple, list)) else [src])]
        dst = [_norm_dim(int(d), n, name) for d in (dst if isinstance(dst, (tuple, list)) else [dst])]
        placed: list[Optional[int]] = [None] * n
        for s, d in zip(src, dst):
            placed[d] = s
        rest = iter(i for i in range(n) if i not in src)
        perm = [p if p is not None else next(rest) for p in placed]
    return perm


@_primary
def _permute(tr: _Tracer, call: _Call, state: _State) -> _State:
    perm = _permutation(call)
    return _map_axes(state, lambda _, a: replace(a, dim=perm.index(a.dim)))


def _view_groups(old: Sequence[int], new: Sequence[int], op: str) -> dict[int, tuple[list[int], list[int]]]:
    """Match the dims of a reshape: old dim -> (old dims, new dims) of its contiguous group.

    Size-1 dims are skipped: they hold a single position and mix nothing.
    """
    oi = [i for i, s in enumerate(old) if s != 1]
    ni = [j for j, s in enumerate(new) if s != 1]
    groups: dict[int, tuple[list[int], list[int]]] = {}
    a = b = 0
    try:
        while a < len(oi):
            go, gn = [oi[a]], [ni[b]]
            po, pn = old[oi[a]], new[ni[b]]
            a, b = a + 1, b + 1
            while po != pn:
                if po < pn:
                    po *= old[oi[a]]
                    go.append(oi[a])
                    a += 1
                else:
                    pn *= new[ni[b]]
                    gn.append(ni[b])
                    b += 1
            for d in go:
                groups[d] = (go, gn)
    except IndexError:
        raise _unsupported(op, f"cannot match the dims of a reshape {tuple(old)} -> {tuple(new)}") from None
    return groups


@_primary
def _reshape(tr: _Tracer, call: _Call, state: _State) -> _State:
    """view/reshape/flatten: keeps H and W when they survive as dims of their own.

    Merging H or W with another dim (flatten into a linear layer, image -> tokens)
    makes that axis global: whatever comes next may mix the merged dim. Splitting H or
    W into two dims (window partition, pixel unshuffle) is not followed.
    """
    old, new = tuple(call.x.shape), tuple(call.outputs[0].shape)
    if old == new:
        return state
    groups = _view_groups(old, new, call.name)

    def move(k: int, a: _Axis) -> _Axis:
        if old[a.dim] == 1:
            return replace(a, dim=None)  # a one-pixel map: nothing to mix along it
        go, gn = groups[a.dim]
        if len(go) > 1:
            return a.globalized()
        if len(gn) > 1:
            raise _unsupported(call.name, f"it splits the {_AXIS_NAMES[k]} axis ({old[a.dim]} -> "
                                          f"{[new[j] for j in gn]}), e.g. a window partition")
        return replace(a, dim=gn[0])
    return _map_axes(state, move)


@_primary
def _unsqueeze(tr: _Tracer, call: _Call, state: _State) -> _State:
    d = _norm_dim(int(call.arg(1, "dim")), call.outputs[0].ndim, call.name)
    return _map_axes(state, lambda _, a: replace(a, dim=a.dim + (a.dim >= d)))


@_primary
def _squeeze(tr: _Tracer, call: _Call, state: _State) -> _State:
    x = call.x
    dims = _dims_arg(call.arg(1, "dim"), x.ndim, call.name) if len(call.args) > 1 or "dim" in call.kwargs else None
    removed = {d for d in (dims if dims is not None else range(x.ndim)) if x.shape[d] == 1}

    def move(_: int, a: _Axis) -> _Axis:
        if a.dim in removed:
            return replace(a, dim=None)
        return replace(a, dim=a.dim - sum(r < a.dim for r in removed))
    return _map_axes(state, move)


@_primary
def _select(tr: _Tracer, call: _Call, state: _State) -> _State:
    """``select(dim, i)`` / ``unbind(dim)``: removes a dim; on a spatial axis that picks one row."""
    x = call.x
    d = _norm_dim(int(call.arg(1, "dim", 0)), x.ndim, call.name)

    def move(k: int, a: _Axis) -> _Axis:
        if a.dim == d:
            if x.shape[d] != 1:
                raise _unsupported(call.name, f"it picks single positions along the {_AXIS_NAMES[k]} axis")
            return replace(a, dim=None)
        return replace(a, dim=a.dim - (a.dim > d))
    return _map_axes(state, move)


def _is_advanced(item: object) -> bool:
    return isinstance(item, (Tensor, list)) or (isinstance(item, tuple))


@_primary
def _getitem(tr: _Tracer, call: _Call, state: _State) -> _State:
    """``x[...]``: follows ints, full slices, ``None``, ``...`` and one advanced index.

    Slicing a spatial axis (``x[:, :, 1:]``, ``x[..., ::2]``) changes which pixels a
    position maps to and is refused.
    """
    x, index = call.x, call.args[1]
    items = list(index) if isinstance(index, tuple) else [index]
    advanced = [it for it in items if _is_advanced(it)]
    if len(advanced) > 1:
        raise _unsupported(call.name, "more than one advanced (tensor/list) index on a tensor with spatial axes")
    consumed = sum(_consumes(it) for it in items)
    mapping: dict[int, Optional[int]] = {}
    trivial: dict[int, bool] = {}
    i = o = 0
    for it in items:
        if it is None:
            o += 1
        elif it is Ellipsis:
            for _ in range(x.ndim - consumed):
                mapping[i], trivial[i] = o, True
                i, o = i + 1, o + 1
        elif isinstance(it, slice):
            mapping[i], trivial[i] = o, it.indices(x.shape[i]) == (0, x.shape[i], 1)
            i, o = i + 1, o + 1
        elif _is_advanced(it):
            t = torch.as_tensor(it)
            span = t.ndim if t.dtype == torch.bool else 1
            for _ in range(span):
                mapping[i], trivial[i] = None, False
                i += 1
            o += 1 if t.dtype == torch.bool else t.ndim
        else:  # an int
            mapping[i], trivial[i] = None, x.shape[i] == 1
            i += 1
    while i < x.ndim:
        mapping[i], trivial[i] = o, True
        i, o = i + 1, o + 1

    def move(k: int, a: _Axis) -> _Axis:
        if not trivial[a.dim]:
            raise _unsupported(call.name, f"it slices or indexes the {_AXIS_NAMES[k]} axis "
                                          f"(spatial slicing changes which pixels a position sees)")
        return replace(a, dim=mapping[a.dim])
    return _map_axes(state, move)


def _consumes(item: object) -> int:
    if item is None or item is Ellipsis:
        return 0
    if isinstance(item, Tensor) and item.dtype == torch.bool:
        return item.ndim
    return 1


def _setitem(tr: _Tracer, call: _Call) -> None:
    """``x[index] = value``: ``x`` now also depends on ``value``."""
    x, index, value = call.args[0], call.args[1], call.args[2]
    xs, vs = tr.get(x), tr.get(value)
    if vs is None:
        return
    if not _is_global(vs):
        items = list(index) if isinstance(index, tuple) else [index]
        if any(not (isinstance(it, slice) and it == slice(None)) and it is not Ellipsis for it in items) \
                or value.ndim > x.ndim:
            raise _unsupported(call.name, "assigning a spatial map into part of a tensor")
        shift = x.ndim - value.ndim
        vs = _map_axes(vs, lambda _, a: replace(a, dim=a.dim + shift))
    tr.set(x, _union([s for s in (xs, vs) if s is not None], call.name))


# ---- several inputs: elementwise (the default), stack, contractions ------------------------

def _elementwise(tr: _Tracer, call: _Call) -> None:
    """Default rule: outputs keep the spatial sizes of each stateful input -> union.

    Inputs broadcast right-aligned. An output whose spatial size differs from an
    input's (an op without a rule that resamples, slices or concatenates along H or W)
    raises instead of guessing.
    """
    for out in call.outputs:
        states = []
        for t, s in call.inputs:
            shift = out.ndim - t.ndim
            if shift < 0:
                raise _unsupported(call.name, f"its output has fewer dims ({out.ndim}) than its input ({t.ndim}) "
                                              "and no rule says where H and W went")

            def move(k: int, a: _Axis, t: Tensor = t, shift: int = shift) -> _Axis:
                if out.shape[a.dim + shift] != t.shape[a.dim]:
                    raise _unsupported(call.name, f"it changes the {_AXIS_NAMES[k]} size from {t.shape[a.dim]} "
                                                  f"to {out.shape[a.dim + shift]}")
                return replace(a, dim=a.dim + shift)
            states.append(_map_axes(s, move))
        tr.set(out, _union(states, call.name))


def _stack(tr: _Tracer, call: _Call) -> None:
    out = call.outputs[0]
    d = _norm_dim(int(call.arg(1, "dim", 0)), out.ndim, call.name)
    tensors = call.arg(0, "tensors")
    states = [_map_axes(s, lambda _, a: replace(a, dim=a.dim + (a.dim >= d)))
              for t in tensors if (s := tr.get(t)) is not None]
    _finish(tr, call, _union(states, call.name) if states else None, tensors)


def _operand(tr: _Tracer, t: Optional[Tensor], out_ndim: int, spec: dict[int, Optional[int]],
             batch_shift: int = 0) -> Optional[_State]:
    """Place an operand of a contraction: ``spec`` maps its negative dims to the output's
    (``None``: contracted, so that axis becomes global); other dims are batch dims,
    right-aligned (shifted by ``batch_shift`` when a vector operand drops a dim)."""
    s = tr.get(t)
    if s is None:
        return None

    def move(_: int, a: _Axis) -> _Axis:
        neg = a.dim - t.ndim
        target = spec[neg] if neg in spec else neg + batch_shift
        return a.globalized() if target is None else replace(a, dim=out_ndim + target)
    return _map_axes(s, move)


def _contract(tr: _Tracer, call: _Call, placed: Sequence[tuple[Optional[Tensor], Optional[_State]]]) -> None:
    states = [s for _, s in placed if s is not None]
    _finish(tr, call, _union(states, call.name) if states else None, [t for t, _ in placed if t is not None])


def _matmul(tr: _Tracer, call: _Call) -> None:
    """``a @ b`` contracts ``a``'s last dim and ``b``'s second-to-last (attention over a
    spatial dim -> global; a linear map over channels -> pointwise)."""
    a, b = call.args[0], call.args[1]
    if call.name == "__rmatmul__":
        a, b = b, a
    n = call.outputs[0].ndim
    if call.name in ("addmm", "baddbmm", "addbmm"):
        a, b = call.args[1], call.args[2]
    if a.ndim == 1:
        placed = [(a, _operand(tr, a, n, {-1: None})), (b, _operand(tr, b, n, {-2: None, -1: -1}, batch_shift=1))]
    elif b.ndim == 1:
        placed = [(a, _operand(tr, a, n, {-1: None}, batch_shift=1)), (b, _operand(tr, b, n, {-1: None}))]
    else:
        placed = [(a, _operand(tr, a, n, {-1: None, -2: -2})), (b, _operand(tr, b, n, {-2: None, -1: -1}))]
    if call.name in ("addmm", "baddbmm", "addbmm"):
        bias = call.args[0]
        placed.append((bias, _operand(tr, bias, n, {})))
    _contract(tr, call, placed)


def _linear(tr: _Tracer, call: _Call) -> None:
    """``F.linear(x, W, b) = x @ W.T + b``: over channels (channels-last) it is pointwise."""
    x, weight, bias = call.x, call.arg(1, "weight"), call.arg(2, "bias")
    n = call.outputs[0].ndim
    placed = [(x, _operand(tr, x, n, {-1: None})), (weight, _operand(tr, weight, n, {-1: None, -2: -1}))]
    if bias is not None:
        placed.append((bias, _operand(tr, bias, n, {})))
    _contract(tr, call, placed)


def _sdpa(tr: _Tracer, call: _Call) -> None:
    """Attention: queries keep their position; keys and values are summed over their sequence dim."""
    q, k, v, mask = call.arg(0, "query"), call.arg(1, "key"), call.arg(2, "value"), call.arg(3, "attn_mask")
    n = call.outputs[0].ndim
    _contract(tr, call, [
        (q, _operand(tr, q, n, {-1: None})),
        (k, _operand(tr, k, n, {-1: None, -2: None})),
        (v, _operand(tr, v, n, {-2: None})),
        (mask, _operand(tr, mask, n, {-1: None}) if isinstance(mask, Tensor) else None),
    ])


def _mha(tr: _Tracer, call: _Call) -> None:
    """``nn.MultiheadAttention``: (L, N, E) or (L, E); keys/values mixed over L and E."""
    q, k, v = call.args[0], call.args[1], call.args[2]
    n = q.ndim
    kv = {-3: None, -1: None} if n == 3 else {-2: None, -1: None}
    placed = [(q, _operand(tr, q, n, {-1: None})), (k, _operand(tr, k, n, kv)), (v, _operand(tr, v, n, kv))]
    states = [s for _, s in placed if s is not None] + _others(call, [q, k, v])
    state = _union(states, call.name)
    for out in call.outputs:
        tr.set(out, state if out.ndim == n else _globalize(state))  # attention weights: global


def _einsum(tr: _Tracer, call: _Call) -> None:
    """``torch.einsum``: a letter missing from the output is summed over -> global."""
    equation = call.args[0].replace(" ", "")
    listed = len(call.args) == 2 and isinstance(call.args[1], (list, tuple))  # einsum(eq, [a, b]) or (eq, a, b)
    operands = list(call.args[1]) if listed else list(call.args[1:])
    lhs, arrow, rhs = equation.partition("->")
    specs = lhs.split(",")
    n_ell = max((op.ndim - len(sp.replace("...", "")) for sp, op in zip(specs, operands) if "..." in sp), default=0)
    ell = "".join(chr(ord("A") + i) for i in range(n_ell))

    def expand(sp: str, ndim: int) -> str:
        return sp.replace("...", ell[n_ell - (ndim - len(sp.replace("...", ""))):]) if "..." in sp else sp
    letters = [expand(sp, op.ndim) for sp, op in zip(specs, operands)]
    if not arrow:  # implicit output: the letters used once, sorted
        counts = {c: sum(s.count(c) for s in letters) for c in set("".join(letters))}
        rhs = "..." + "".join(sorted(c for c, m in counts.items() if m == 1 and c.islower()))
    out = expand(rhs, call.outputs[0].ndim) if "..." in rhs else rhs
    placed = []
    for sp, op in zip(letters, operands):
        s = tr.get(op)
        if s is not None:
            s = _map_axes(s, lambda _, a, sp=sp: a.globalized() if sp[a.dim] not in out
                          else replace(a, dim=out.index(sp[a.dim])))
        placed.append((op, s))
    _contract(tr, call, placed)


# ---- ops that are refused, or refused along spatial dims -----------------------------------

_REFUSED: dict[str, str] = {
    **{n: "a transposed (fractionally strided) convolution has no single stride"
       for n in ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")},
    **{n: "resampling moves the grid, so output features have no integer stride"
       for n in ("interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "grid_sample", "affine_grid",
                 "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "upsample_linear1d",
                 "upsample_bilinear2d", "upsample_bicubic2d", "upsample_trilinear3d", "fractional_max_pool2d",
                 "fractional_max_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d")},
    **{n: "it moves pixels between the spatial dims and the channels"
       for n in ("pixel_shuffle", "pixel_unshuffle", "fold", "unfold", "im2col", "col2im")},
    **{n: "data-dependent sampling has no fixed receptive field"
       for n in ("deform_conv2d", "roi_align", "roi_pool", "ps_roi_align", "ps_roi_pool")},
    **{n: "it indexes pixels in data-dependent or reordered ways"
       for n in ("take", "masked_select", "nonzero", "argwhere", "rot90", "stft", "istft")},
}


def _refuse(tr: _Tracer, call: _Call) -> None:
    if call.name == "unfold" and call.func is not F.unfold:
        return _along_dim(tr, call)  # Tensor.unfold(dimension, size, step): a sliding window along one dim
    why = _REFUSED.get(call.name) or "spectral transforms mix every position"
    raise _unsupported(call.name, why)


# name -> (position of `dims`/`dim`, default when absent: None = flattened)
_ALONG_DIM: dict[str, tuple[int, Optional[int]]] = {
    "flip": (1, None), "roll": (2, None), "index_select": (1, None), "gather": (1, None),
    "scatter": (1, None), "scatter_add": (1, None), "scatter_reduce": (1, None), "index_add": (1, None),
    "index_copy": (1, None), "index_fill": (1, None), "take_along_dim": (2, None), "unfold": (1, None),
    "fliplr": (9, 1), "flipud": (9, 0), "scatter_": (1, None), "scatter_add_": (1, None),
    "index_add_": (1, None), "index_copy_": (1, None), "index_fill_": (1, None),
}


def _along_dim(tr: _Tracer, call: _Call) -> None:
    """Ops that reorder or pick along given dims: fine along channels, refused along H or W."""
    pos, default = _ALONG_DIM[call.name]
    key = "dims" if call.name in ("flip", "roll") else "dimension" if call.name == "unfold" else "dim"
    dims = _dims_arg(call.arg(pos, key, default), call.x.ndim, call.name)
    state = tr.get(call.x)
    spatial = {a.dim for a in state if not a.glob} if state is not None else set()
    if dims is None or dims & spatial:
        raise _unsupported(call.name, "it reorders or picks positions along a spatial axis")
    _elementwise(tr, call)


def _left_aligned(tr: _Tracer, call: _Call) -> None:
    """Ops that append trailing dims (one_hot, view_as_real): leading dims keep their places."""
    _finish(tr, call, tr.get(call.x), [call.x])


_RULES: dict[str, Rule] = {
    **{n: _conv for n in ("conv1d", "conv2d", "conv3d", "convolution", "_convolution")},
    **{f"{kind}{n}d{suffix}": _pool for kind in ("max_pool", "avg_pool", "lp_pool")
       for n in (1, 2, 3) for suffix in ("", "_with_indices")},
    **{f"adaptive_{kind}_pool{n}d{suffix}": _adaptive_pool for kind in ("avg", "max")
       for n in (1, 2, 3) for suffix in ("", "_with_indices")},
    **{n: _pad for n in ("pad", "constant_pad_nd", "_pad_circular", "reflection_pad1d", "reflection_pad2d",
                         "reflection_pad3d", "replication_pad1d", "replication_pad2d", "replication_pad3d")},
    **{n: _reduce_or_elementwise for n in _REDUCTIONS},
    **{n: _mix for n in _MIXERS},
    **{n: _norm for n in ("layer_norm", "rms_norm", "group_norm", "instance_norm", "local_response_norm")},
    **{n: _permute for n in ("permute", "transpose", "swapaxes", "swapdims", "t", "mT", "mH", "adjoint",
                             "T", "H", "movedim", "moveaxis")},
    **{n: _reshape for n in ("view", "reshape", "flatten", "unflatten", "view_as", "reshape_as", "ravel",
                             "_reshape_alias", "_unsafe_view")},
    "unsqueeze": _unsqueeze, "squeeze": _squeeze, "select": _select, "unbind": _select,
    "__getitem__": _getitem, "__setitem__": _setitem,
    "stack": _stack, "linear": _linear, "einsum": _einsum,
    **{n: _matmul for n in ("matmul", "mm", "bmm", "__matmul__", "__rmatmul__", "addmm", "baddbmm", "addbmm")},
    "scaled_dot_product_attention": _sdpa, "multi_head_attention_forward": _mha,
    "one_hot": _left_aligned, "view_as_real": _left_aligned,
    **{n: _refuse for n in _REFUSED},
    **{n: _along_dim for n in _ALONG_DIM if n != "unfold"},
}


def _refuse_by_prefix() -> None:
    """Spectral ops come in many names (fft_fft2, fft_rfftn, ...): refuse them all."""
    for name in dir(torch.fft):
        if not name.startswith("_"):
            _RULES.setdefault(name, _refuse)
            _RULES.setdefault(f"fft_{name}", _refuse)


_refuse_by_prefix()


# --------------------------------------------------------------------------------------
# Running the trace
# --------------------------------------------------------------------------------------

def _meta_values(module: nn.Module) -> dict[str, Tensor]:
    """Meta copies of every parameter and buffer: the forward pass touches no real memory."""
    named = list(module.named_parameters()) + list(module.named_buffers())
    return {name: torch.empty_like(t, device="meta") for name, t in named}


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


def _output_state(tr: _Tracer, out: object, where: str) -> _State:
    """Union over the tensors a module returns (tuple, list, dict, namedtuple)."""
    states = [s for t in tree_flatten(out)[0] if (s := tr.get(t)) is not None]
    if not states:
        raise ValueError(f"receptive_field: {where} returns no tensor that depends on the input")
    return _union(states, f"{where} output")


def _run_traced(module: nn.Module, input_size: object,
                on_output: Optional[Callable[[str, object, _Tracer], None]] = None) -> tuple[_State, tuple[int, int]]:
    """One forward pass on meta tensors under the tracer; ``on_output`` sees every submodule's output."""
    c, h, w = _check_input_size(input_size)
    tracer = _Tracer()
    x = torch.empty(1, c, h, w, device="meta")  # (N, C, H, W)
    tracer.set(x, (_Axis(2, 1, 0, 0), _Axis(3, 1, 0, 0)))
    values = _meta_values(module)
    handles = []
    if on_output is not None:
        for name, sub in module.named_modules():
            handles.append(sub.register_forward_hook(
                lambda _m, _i, out, name=name: on_output(name, out, tracer)))
    try:
        with _EvalMode(module), tracer:
            out = torch.func.functional_call(module, values, (x,))
    except _Unsupported:
        raise
    except Exception as error:  # the model itself failed: too small an input, .item() on meta, ...
        raise ValueError(f"receptive_field: the forward pass of {type(module).__name__} on a meta tensor of shape "
                         f"(1, {c}, {h}, {w}) failed: {type(error).__name__}: {error}") from error
    finally:
        for handle in handles:
            handle.remove()
    return _output_state(tracer, out, type(module).__name__), (h, w)


def _trace(module: nn.Module, input_size: object) -> ReceptiveField:
    state, hw = _run_traced(module, input_size)
    return _to_answer(state, hw)


def receptive_fields_by_module(module: nn.Module, input_size: Sequence[int]) -> dict[str, ReceptiveField]:
    """The receptive field of every submodule's output, from one traced forward pass.

    Introduced in notebooks/01_layers.ipynb, section 2. Keys are the qualified names of
    ``module.named_modules()`` (``""`` is the whole module), in call order; a module
    called twice keeps its last call. Modules whose output does not depend on the
    input, or whose outputs cannot be combined into one field (maps at different
    strides), are left out. :func:`helpers.summary` uses this for its RF column.

    How the trace works (Araujo, Norris & Sim, Distill 2019, generalised to graphs):
    each tensor derived from the input carries, per spatial axis, its tensor dim, the
    stride ``S`` and the input pixels ``[lo, hi]`` that output index 0 sees.

    * convolution and pooling (incl. ``'same'`` padding, dilation), ``F.pad``: the
      Distill recurrences;
    * adaptive pooling: 1 output -> global, ``in % out == 0`` -> kernel = stride =
      ``in // out``, otherwise a documented conservative window;
    * several inputs (residual add, concatenation along channels, ``x * scale``): the
      union of their fields, strides must agree; a global input makes the result global;
    * means, sums, maxima, softmax, layer/group/instance norm over H or W, attention and
      matmul contracting a spatial dim, flatten/view merging H or W with another dim:
      global; permute/transpose/view keeping H and W: followed; linear over channels
      and batch norm: pointwise;
    * transposed convolutions, interpolation, pixel shuffle, spatial slicing, circular
      padding and any other op that changes H or W without a rule: ``ValueError``.
    """
    _, h, w = _check_input_size(input_size)
    fields: dict[str, ReceptiveField] = {}

    def record(name: str, out: object, tr: _Tracer) -> None:
        states = [s for t in tree_flatten(out)[0] if (s := tr.get(t)) is not None]
        if states:
            try:
                fields[name] = _to_answer(_union(states, name or "module"), (h, w))
            except _Unsupported:
                pass  # e.g. a backbone returning maps at several strides: no single field

    _run_traced(module, input_size, record)
    return fields


# --------------------------------------------------------------------------------------
# The measurement: gradients of one output feature with respect to the input
# --------------------------------------------------------------------------------------

def _positive_values(module: nn.Module) -> dict[str, Tensor]:
    """float64 parameters and buffers chosen so that no path cancels another.

    Weights with >= 2 dims (conv, linear, layer scale): ``1 / fan_in``; biases 0; other
    1-d weights (norm affine) 1; batch-norm running mean 0 and variance 1. With an
    all-ones input every activation is then positive and every derivative > 0, so the
    gradient is non-zero exactly on the pixels the feature depends on.
    """
    values: dict[str, Tensor] = {}
    for name, p in module.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if not p.is_floating_point():
            values[name] = p.detach().clone()
        elif "bias" in leaf:
            values[name] = torch.zeros(p.shape, dtype=torch.float64)
        elif p.ndim >= 2:
            values[name] = torch.full(p.shape, p[0].numel() ** -1.0, dtype=torch.float64)
        else:
            values[name] = torch.ones(p.shape, dtype=torch.float64)
    for name, b in module.named_buffers():
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "running_mean":
            values[name] = torch.zeros(b.shape, dtype=torch.float64)
        elif leaf == "running_var":
            values[name] = torch.ones(b.shape, dtype=torch.float64)
        else:
            values[name] = b.detach().to(torch.float64 if b.is_floating_point() else b.dtype, copy=True)
    return values


# Pointwise ops whose derivative can be 0 or negative (ReLU cut-offs, clipping,
# saturating sigmoids): replaced by the identity. A pointwise op never changes a
# receptive field, so this only removes ways for the gradient to vanish.
_IDENTITIES = frozenset({
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu",
    "selu_", "celu", "celu_", "gelu", "silu", "mish", "sigmoid", "sigmoid_", "hardsigmoid", "hardswish",
    "tanh", "tanh_", "softplus", "softsign", "logsigmoid", "prelu", "rrelu", "rrelu_", "threshold",
    "threshold_", "clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_",
    "hardshrink", "softshrink", "tanhshrink", "batch_norm", "local_response_norm",
})
# position of `inplace` in the F.* forms, to keep in-place calls in place
_INPLACE_POS = {"relu": 1, "relu6": 1, "selu": 1, "silu": 1, "mish": 1, "hardsigmoid": 1, "hardswish": 1,
                "elu": 2, "celu": 2, "leaky_relu": 2, "hardtanh": 3, "threshold": 3, "rrelu": 4}


def _identity(name: str, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    x = args[0]
    pos = _INPLACE_POS.get(name)
    inplace = name.endswith("_") or kwargs.get("inplace") or (pos is not None and len(args) > pos and args[pos])
    return x if inplace else x.clone()


def _dummy_indices(y: Tensor) -> Tensor:
    return torch.zeros(y.shape, dtype=torch.long)


def _max_pool_as_average(name: str, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Max pooling sends the gradient to one pixel per window: average the same window instead.

    Dilated windows have no ``avg_pool`` form: a depthwise convolution with a constant
    kernel does the same, padded on the right to reproduce ``ceil_mode``'s output size.
    """
    call = _Call(name, func, args, kwargs, [], [])
    x = args[0]
    n = _digit(name)
    k = _ntuple(call.arg(1, "kernel_size"), n)
    stride = call.arg(2, "stride")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _ntuple(stride, n)
    p, d = _ntuple(call.arg(3, "padding", 0), n), _ntuple(call.arg(4, "dilation", 1), n)
    ceil_mode = bool(call.arg(5, "ceil_mode", False))
    with_indices = name.endswith("_with_indices") or bool(call.arg(6, "return_indices", False))
    if all(di == 1 for di in d):
        avg = getattr(F, f"avg_pool{n}d")
        y = avg(x, k, s, p, ceil_mode=ceil_mode, count_include_pad=True)
    else:
        target = func(x.detach(), k, s, p, d, ceil_mode)  # the shape the max pool would give
        target = target[0] if isinstance(target, tuple) else target
        channels = x.shape[-n - 1]
        weight = x.new_ones((channels, 1, *k)) / math.prod(k)
        extra = [max(0, (t - 1) * si + di * (ki - 1) + 1 - (size + 2 * pi))
                 for t, si, di, ki, pi, size in zip(target.shape[-n:], s, d, k, p, x.shape[-n:])]
        pad = [v for e in reversed(extra) for v in (0, e)]
        conv = getattr(F, f"conv{n}d")
        y = conv(F.pad(x, pad), weight, None, s, p, d, channels)
        y = y[(..., *(slice(0, t) for t in target.shape[-n:]))]
    return (y, _dummy_indices(y)) if with_indices else y


def _adaptive_max_as_average(name: str, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    n = _digit(name)
    y = getattr(F, f"adaptive_avg_pool{n}d")(args[0], args[1] if len(args) > 1 else kwargs["output_size"])
    with_indices = name.endswith("_with_indices") or (len(args) > 2 and args[2]) or kwargs.get("return_indices")
    return (y, _dummy_indices(y)) if with_indices else y


class _DepthwiseShifts(torch.autograd.Function):
    """Depthwise correlation of a padded input as ``k*k`` shifted, scaled copies.

    Written as a Function so that the backward pass accumulates into one buffer:
    autograd's own backward of ``k*k`` slices would zero-fill a full tensor per slice.
    """

    @staticmethod
    def forward(ctx: Any, xp: Tensor, weight: Tensor, stride: tuple[int, int], dilation: tuple[int, int],
                size: tuple[int, int]) -> Tensor:
        ctx.save_for_backward(xp, weight)
        ctx.geometry = (stride, dilation, size)
        out = xp.new_zeros((xp.shape[0], xp.shape[1], *size))  # (N, C, H', W')
        for (i, j), window in _DepthwiseShifts.windows(weight, stride, dilation, size):
            out.addcmul_(xp[window], weight[:, 0, i, j].view(1, -1, 1, 1))
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Optional[Tensor], Optional[Tensor], None, None, None]:
        xp, weight = ctx.saved_tensors
        stride, dilation, size = ctx.geometry
        grad_x = torch.zeros_like(xp) if ctx.needs_input_grad[0] else None
        grad_w = torch.zeros_like(weight) if ctx.needs_input_grad[1] else None
        for (i, j), window in _DepthwiseShifts.windows(weight, stride, dilation, size):
            if grad_x is not None:
                grad_x[window].addcmul_(grad, weight[:, 0, i, j].view(1, -1, 1, 1))
            if grad_w is not None:
                grad_w[:, 0, i, j] = (grad * xp[window]).sum((0, 2, 3))
        return grad_x, grad_w, None, None, None

    @staticmethod
    def windows(weight: Tensor, stride: tuple[int, int], dilation: tuple[int, int], size: tuple[int, int]):
        """``((i, j), index)``: the input pixels each kernel tap multiplies, for every output."""
        for i in range(weight.shape[2]):
            for j in range(weight.shape[3]):
                rows = slice(i * dilation[0], i * dilation[0] + stride[0] * (size[0] - 1) + 1, stride[0])
                cols = slice(j * dilation[1], j * dilation[1] + stride[1] * (size[1] - 1) + 1, stride[1])
                yield (i, j), (slice(None), slice(None), rows, cols)


def _depthwise_as_shifts(name: str, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """A depthwise ``conv2d`` as a sum of ``k*k`` shifted, scaled copies: the same arithmetic.

    Not a surrogate, a speed-up: in float64 PyTorch runs depthwise convolutions one
    channel at a time (ConvNeXt's 7x7 blocks took a minute); this is vectorised.
    """
    call = _Call(name, func, args, kwargs, [], [])
    x, weight, bias = args[0], call.arg(1, "weight"), call.arg(2, "bias")
    groups = int(call.arg(6, "groups", 1))
    if x.ndim != 4 or weight.ndim != 4 or groups == 1 or weight.shape[1] != 1 or x.shape[1] != groups:
        return func(*args, **kwargs)
    kernel = tuple(weight.shape[2:])
    s, d = _ntuple(call.arg(3, "stride", 1), 2), _ntuple(call.arg(5, "dilation", 1), 2)
    padding = call.arg(4, "padding", 0)
    if padding == "valid":
        pads = [(0, 0), (0, 0)]
    elif padding == "same":  # the odd pixel goes to the right, as in PyTorch
        pads = [(di * (k - 1) // 2, di * (k - 1) - di * (k - 1) // 2) for k, di in zip(kernel, d)]
    else:
        pads = [(p, p) for p in _ntuple(padding, 2)]
    xp = F.pad(x, (*pads[1], *pads[0]))  # (N, C, H + pads, W + pads)
    multiplier = weight.shape[0] // groups
    if multiplier > 1:
        xp = xp.repeat_interleave(multiplier, dim=1)  # output channel o reads input channel o // m
    size = tuple((xp.shape[2 + a] - d[a] * (kernel[a] - 1) - 1) // s[a] + 1 for a in range(2))
    out = _DepthwiseShifts.apply(xp, weight, s, d, size)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def _plus_mean(x: Tensor, dims: Sequence[int]) -> Tensor:
    """``x + mean(x over dims)``: depends on the same pixels as a normalisation or softmax
    over ``dims``, with a positive derivative (theirs subtract the mean and can cancel)."""
    return x + x.mean(dim=tuple(dims), keepdim=True)


def _norm_surrogate(name: str, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    call = _Call(name, func, args, kwargs, [], [])
    x = args[0]
    if name in ("layer_norm", "rms_norm"):
        shape = call.arg(1, "normalized_shape")
        return _plus_mean(x, range(x.ndim - (1 if isinstance(shape, int) else len(shape)), x.ndim))
    if name == "instance_norm":
        return _plus_mean(x, range(2, x.ndim))
    groups = int(call.arg(1, "num_groups"))  # group_norm
    grouped = x.reshape(x.shape[0], groups, -1)  # (N, C, *) -> (N, G, C/G * prod(*))
    return _plus_mean(grouped, [2]).reshape(x.shape)


def _softmax_surrogate(name: str, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    x = args[0]
    dim = _Call(name, func, args, kwargs, [], []).arg(1, "dim")
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return _plus_mean(x, [dim])


def _normalize_surrogate(name: str, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """``F.normalize(input, p, dim)``: divides by a norm along ``dim``."""
    return _plus_mean(args[0], [int(_Call(name, func, args, kwargs, [], []).arg(2, "dim", 1))])


def _extreme_surrogate(name: str, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """max/amax send the gradient to one element: a sum over the same dims depends on all."""
    call = _Call(name, func, args, kwargs, [], [])
    x = args[0]
    if name in ("maximum", "minimum", "fmax", "fmin") or (len(args) > 1 and isinstance(args[1], Tensor)):
        return x + args[1]
    dim = call.arg(1, "dim")
    keepdim = bool(call.arg(2, "keepdim", False))
    if name in ("amax", "amin"):
        return x.sum(dim=dim if dim is not None else tuple(range(x.ndim)), keepdim=keepdim)
    if dim is None:
        return x.sum()
    values = x.sum(dim=dim, keepdim=keepdim)
    indices = func(x.detach(), dim, keepdim).indices
    return type(func(x.detach(), dim, keepdim))((values, indices))


_SURROGATES: dict[str, Callable[[str, Callable[..., Any], tuple, dict], Any]] = {
    **{n: _identity for n in _IDENTITIES},
    **{f"max_pool{n}d{s}": _max_pool_as_average for n in (1, 2, 3) for s in ("", "_with_indices")},
    **{f"adaptive_max_pool{n}d{s}": _adaptive_max_as_average for n in (1, 2, 3) for s in ("", "_with_indices")},
    **{n: _norm_surrogate for n in ("layer_norm", "rms_norm", "group_norm", "instance_norm")},
    **{n: _softmax_surrogate for n in ("softmax", "log_softmax", "softmin")},
    "normalize": _normalize_surrogate,
    "conv2d": _depthwise_as_shifts,
    **{n: _extreme_surrogate for n in ("max", "min", "amax", "amin", "maximum", "minimum", "fmax", "fmin")},
}


class _PositiveSurrogates(TorchFunctionMode):
    """Swap the ops above for their positive stand-ins, in modules and functional code alike."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        name = _op_name(func)
        surrogate = _SURROGATES.get(name)
        if surrogate is None or not args or not isinstance(args[0], Tensor):
            return func(*args, **kwargs)
        return surrogate(name, func, args, kwargs)


def _positive_forward(module: nn.Module, x: Tensor) -> Tensor:
    """The module's forward pass with positive weights and surrogates, the module untouched."""
    values = _positive_values(module)
    try:
        with _EvalMode(module), _PositiveSurrogates(), torch.enable_grad():
            out = torch.func.functional_call(module, values, (x,))
    except Exception as error:
        raise ValueError(f"empirical_receptive_field: the forward pass of {type(module).__name__} failed: "
                         f"{type(error).__name__}: {error}") from error
    tensors = [t for t in tree_flatten(out)[0] if isinstance(t, Tensor) and t.is_floating_point()]
    if not tensors:
        raise ValueError(f"empirical_receptive_field: {type(module).__name__} returns no tensor")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError("empirical_receptive_field: the module returns tensors of different shapes; "
                         "measure each output separately")
    return sum(tensors[1:], tensors[0])


def _output_hw(out: Tensor) -> Optional[tuple[int, int]]:
    """``(H', W')`` for a feature map ``(1, C, H', W')``; ``None`` for anything else (one feature)."""
    return (out.shape[-2], out.shape[-1]) if out.ndim == 4 else None


def _resolve_index(index: Optional[Index], hw: Optional[tuple[int, int]]) -> Optional[tuple[int, int]]:
    """A checked, non-negative ``(i_h, i_w)``; ``None`` picks the centre of the map."""
    if hw is None:
        if index is not None:
            raise ValueError("index: the module's output is not a (N, C, H, W) map, so it is one feature; "
                             "pass index=None")
        return None
    if index is None:
        return hw[0] // 2, hw[1] // 2
    pair = to_pair("index", index)
    for axis, (i, n) in enumerate(zip(pair, hw)):
        if not -n <= i < n:
            raise ValueError(f"index[{axis}] must be in [{-n}, {n - 1}] for an output map of {hw[0]}x{hw[1]}, got {i}")
    return pair[0] % hw[0], pair[1] % hw[1]


def _feature(out: Tensor, index: Optional[tuple[int, int]]) -> Tensor:
    """The scalar to differentiate: one position summed over channels, or the whole output."""
    return out.sum() if index is None else out[0, :, index[0], index[1]].sum()


def _maps(module: nn.Module, input_size: object,
          choose: Callable[[Optional[tuple[int, int]]], list[Optional[Index]]]
          ) -> tuple[list[Tensor], list[Optional[tuple[int, int]]], Optional[tuple[int, int]]]:
    """One forward pass, one backward pass per chosen index: ``|d feature / d input|`` maps."""
    c, h, w = _check_input_size(input_size)
    x = torch.ones(1, c, h, w, dtype=torch.float64, requires_grad=True)  # (N, C, H, W)
    out = _positive_forward(module, x)
    hw = _output_hw(out)
    indices = [_resolve_index(i, hw) for i in choose(hw)]
    maps = []
    for n, index in enumerate(indices):
        (grad,) = torch.autograd.grad(_feature(out, index), x, retain_graph=n < len(indices) - 1, allow_unused=True)
        maps.append(torch.zeros(h, w, dtype=torch.float64) if grad is None else grad[0].abs().sum(0))  # (H, W)
    return maps, indices, hw


def gradient_maps(module: nn.Module, input_size: Sequence[int], indices: Sequence[Optional[Index]]) -> Tensor:
    """``|d feature / d input|`` for several output features, from one forward pass.

    Introduced in notebooks/01_layers.ipynb, section 2. Returns a float64 tensor
    ``(len(indices), H, W)``, summed over input channels. Each index is an ``(i_h, i_w)``
    position of the output map (negative counts from the end; ``None``: the centre);
    the feature is that position summed over channels. An output that is not a
    ``(N, C, H, W)`` map is one feature: pass ``None``. Set-up as in
    :func:`empirical_receptive_field`.
    """
    maps, _, _ = _maps(module, input_size, lambda hw: list(indices))
    return torch.stack(maps)


def gradient_map(module: nn.Module, input_size: Sequence[int], index: Optional[Index] = None) -> Tensor:
    """``|d feature / d input|`` of one output feature, ``(H, W)``: the heat map for figures.

    Introduced in notebooks/01_layers.ipynb, section 2. Its non-zero support is the
    feature's receptive field, clipped to the input. See :func:`gradient_maps`.
    """
    return gradient_maps(module, input_size, [index])[0]


def _support(grad_map: Tensor) -> Optional[list[tuple[int, int]]]:
    """First and last non-zero row and column: ``[(h0, h1), (w0, w1)]``; ``None`` if all zero."""
    spans = []
    for axis in (1, 0):  # sum over W gives rows, over H gives columns
        hits = torch.nonzero(grad_map.sum(axis)).flatten()
        if hits.numel() == 0:
            return None
        spans.append((int(hits[0]), int(hits[-1])))
    return spans


def empirical_receptive_field(module: nn.Module, input_size: Sequence[int],
                              index: Optional[Index] = None) -> ReceptiveField:
    """The receptive field measured by gradients: the cross-check for :func:`receptive_field`.

    Introduced in notebooks/01_layers.ipynb, section 2; the measurement is the one of
    Araujo, Norris & Sim, Distill 2019 (and Luo et al. 2016's "effective receptive
    field" maps), made exact: the module is run in float64 in eval mode, untouched
    (weights are swapped in with ``torch.func.functional_call``), with every conv and
    linear weight ``1/fan_in``, biases 0, norm weights 1 and batch-norm statistics
    (0, 1); max pooling (module or functional, dilated too) becomes average pooling of
    the same window; clipping and saturating activations become the identity; layer,
    group and instance norm and softmax become ``x + mean(x)`` over the same dims. The
    input is all ones. Every derivative is then positive, so the gradient of the chosen
    output feature (``index``, default the centre of the output map, summed over
    channels) is non-zero exactly on the pixels it sees.

    The support gives ``start`` and ``end`` along each axis (``padding = i*S - start``,
    ``size = end - start + 1``); the neighbouring feature gives the stride ``S``. An axis
    is global when the fields of both the first and the last feature cover it: then
    ``size`` is the input size, ``stride`` and ``padding`` 0, as in
    :func:`receptive_field`. An axis with a single output, or whose fields are clipped on
    both sides, has no measurable stride and reports 0.

    Caution: when the receptive field is larger than the input, the measured support is
    clipped at the border, so use an input larger than the field to cross-check. For
    the heat map itself use :func:`gradient_map`.
    """
    def choose(hw: Optional[tuple[int, int]]) -> list[Optional[Index]]:
        if hw is None:
            return [None]
        i = _resolve_index(index, hw)
        neighbour = tuple(k + 1 if k + 1 < n else max(k - 1, 0) for k, n in zip(i, hw))
        return [i, neighbour, (0, 0), (hw[0] - 1, hw[1] - 1)]

    maps, indices, hw = _maps(module, input_size, choose)
    supports = [_support(m) for m in maps]
    if supports[0] is None:
        raise ValueError("empirical_receptive_field: the chosen output feature does not depend on the input")
    input_hw = tuple(_check_input_size(input_size)[1:])
    if hw is None:  # one feature: it is its own first and last
        supports, indices = supports * 4, [(0, 0)] * 4
    here, there, first, last = supports
    axes, flags = [], []
    for k, n in enumerate(input_hw):
        whole = (0, n - 1)
        if first is not None and last is not None and first[k] == whole and last[k] == whole:
            axes.append((n, 0, 0))
            flags.append(True)
            continue
        (a, b), i = here[k], indices[0][k]
        axes.append((b - a + 1, _measured_stride(here[k], there[k] if there else None, i, indices[1][k], n), 0))
        axes[-1] = (axes[-1][0], axes[-1][1], i * axes[-1][1] - a)
        flags.append(False)
    return _answer(axes, all(flags))


def _measured_stride(here: tuple[int, int], there: Optional[tuple[int, int]], i: int, j: int, n: int) -> int:
    """Shift between the fields of neighbours ``i`` and ``j``, from a border neither touches."""
    if there is None or i == j:
        return 0
    if here[0] > 0 and there[0] > 0:
        return abs(there[0] - here[0])
    if here[1] < n - 1 and there[1] < n - 1:
        return abs(there[1] - here[1])
    return 0
