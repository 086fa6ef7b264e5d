"""How each torch operation moves a receptive-field state: the tracer's rule table.

Windows (convolution, pooling, padding) apply the closed form's recurrence; reductions,
attention and flattening over H or W make a field global; layout ops follow the axes;
ops that change H or W without a rule are refused with a ``ValueError``.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from helpers.receptive._common import _digit, _ntuple
from helpers.receptive._state import Rule, _AXIS_NAMES, _Axis, _Call, _State, _globalize, _is_global, _map_axes, _union, _unsupported

if TYPE_CHECKING:  # the tracer applies these rules; they only name its type
    from helpers.receptive.tracer import _Tracer


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
