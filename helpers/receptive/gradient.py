"""The receptive field measured by back-propagating from one output feature to the input.

Introduced in notebooks/01_layers.ipynb, section 2: the cross-check for the closed form and
the tracer, and the heat maps of the figures (:func:`gradient_map`).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from helpers._args import to_pair
from helpers.receptive._common import _EvalMode, _check_input_size, _digit, _ntuple, _op_name
from helpers.receptive._state import _Call
from helpers.receptive.closed_form import Index, ReceptiveField, _answer
from helpers.shortcuts import answers


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


@answers("01_layers/q2_numbers",
         "02_blocks/q6_global",
         "02_blocks/q7_rf",
         "03_architectures/q7_rf",
         "03_architectures/q7_global")
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
