"""What shape comes out: the output-size rules of convolution and pooling, as PyTorch applies them.

Each function answers for one spatial dimension given ints, or for ``(h, w)``
when any argument is a pair, and raises ``ValueError`` exactly where PyTorch
would refuse the layer, naming the argument at fault.

The lecture's rule ``W2 = (W1 - F + 2P)/S + 1`` assumes the division comes out
even; PyTorch floors it, so every formula here uses ``//``.
"""
from __future__ import annotations

from typing import Callable

from helpers._args import IntOrPair, any_pair, is_pair, to_pair
from helpers.shortcuts import answers

__all__ = [
    "conv_output_size",
    "conv_transpose_output_size",
    "effective_kernel_size",
    "pool_output_size",
]

# A rule computes one dimension; ``at(name, value)`` spells "padding=3" or "padding[1]=3"
# so that a message names the component the caller actually passed.
Label = Callable[[str, int], str]


def _per_dim(rule: Callable[..., int], minimums: dict[str, int], **args: IntOrPair) -> int | tuple[int, int]:
    """Check every argument, apply ``rule`` to each dimension, answer in the caller's form."""
    pairs = {name: to_pair(name, value, minimums[name]) for name, value in args.items()}
    if not any_pair(*args.values()):
        return rule(lambda name, value: f"{name}={value}", **{n: p[0] for n, p in pairs.items()})

    def label(i: int) -> Label:
        return lambda name, value: f"{name}[{i}]={value}" if is_pair(args[name]) else f"{name}={value}"

    h, w = (rule(label(i), **{n: p[i] for n, p in pairs.items()}) for i in (0, 1))
    return h, w


def _effective(kernel_size: int, dilation: int) -> int:
    # A dilated kernel spans d-1 skipped pixels between each of its F taps.
    return dilation * (kernel_size - 1) + 1


@answers("01_layers/q3_dilation")
def effective_kernel_size(kernel_size: IntOrPair, dilation: IntOrPair) -> int | tuple[int, int]:
    """The span of a dilated kernel: ``F' = d*(F - 1) + 1``.

    The lecture writes it ``F' = F + (F - 1)(d - 1)``: ``d - 1`` holes between
    each pair of the ``F`` taps. A dilated layer's output size is the undilated
    rule with ``F'`` in place of ``F``.

    Introduced in notebooks/01_layers.ipynb, section 3.

    >>> effective_kernel_size(3, 2)
    5
    """
    return _per_dim(
        lambda at, kernel_size, dilation: _effective(kernel_size, dilation),
        {"kernel_size": 1, "dilation": 1},
        kernel_size=kernel_size,
        dilation=dilation,
    )


def _conv(at: Label, size: int, kernel_size: int, stride: int, padding: int, dilation: int) -> int:
    span = _effective(kernel_size, dilation)
    if size + 2 * padding < span:
        raise ValueError(
            f"{at('size', size)} is smaller than the effective kernel size {span} after padding "
            f"({size} + 2*{padding} < {span}): the output would be empty"
        )
    return (size + 2 * padding - span) // stride + 1


@answers("01_layers/q1_formula",
         "01_layers/q1_shapes",
         "01_layers/q3_dilation",
         "03_architectures/q1_alexnet")
def conv_output_size(
    size: IntOrPair,
    kernel_size: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> int | tuple[int, int]:
    """Output size of ``nn.Conv2d``: ``floor((W1 + 2P - d*(F - 1) - 1) / S) + 1``.

    This is the lecture's ``W2 = (W1 - F + 2P)/S + 1`` with the effective kernel
    size ``F' = d*(F - 1) + 1`` for ``F`` and PyTorch's floor for the division:
    a window that would hang past the padded edge is dropped. Any padding is
    allowed; the padded input must hold at least one kernel.

    Introduced in notebooks/01_layers.ipynb, section 1 (dilation: section 3).

    >>> conv_output_size(5, kernel_size=3, stride=2, padding=1)
    3
    """
    return _per_dim(
        _conv,
        {"size": 1, "kernel_size": 1, "stride": 1, "padding": 0, "dilation": 1},
        size=size,
        kernel_size=kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
    )


def _conv_transpose(
    at: Label, size: int, kernel_size: int, stride: int, padding: int, output_padding: int, dilation: int
) -> int:
    # PyTorch's rule: output_padding only picks among the sizes a strided conv maps back
    # to the same input, so it must be smaller than the stride (or the dilation).
    if output_padding >= stride and output_padding >= dilation:
        raise ValueError(
            f"{at('output_padding', output_padding)} must be smaller than either "
            f"{at('stride', stride)} or {at('dilation', dilation)} (PyTorch refuses it)"
        )
    span = _effective(kernel_size, dilation)
    out = (size - 1) * stride - 2 * padding + span + output_padding
    if out < 1:
        raise ValueError(
            f"{at('padding', padding)} is too large: ({size} - 1)*{stride} - 2*{padding} + {span} "
            f"+ {output_padding} = {out} < 1: the output would be empty"
        )
    return out


@answers("01_layers/q7_transposed")
def conv_transpose_output_size(
    size: IntOrPair,
    kernel_size: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> int | tuple[int, int]:
    """Output size of ``nn.ConvTranspose2d``: ``(W1 - 1)*S - 2P + d*(F - 1) + output_padding + 1``.

    The lecture's ``W2 = (W1 - F + 2P)/S + 1`` solved for ``W1``: the size a
    convolution with the same arguments maps back to the input. The floor in
    the forward rule makes several sizes map to one; ``output_padding`` picks
    the larger ones and must be smaller than the stride or the dilation.

    Introduced in notebooks/01_layers.ipynb, section 1 (dilation: section 3).

    >>> conv_transpose_output_size(3, kernel_size=3, stride=2, padding=1, output_padding=1)
    6
    """
    return _per_dim(
        _conv_transpose,
        {"size": 1, "kernel_size": 1, "stride": 1, "padding": 0, "output_padding": 0, "dilation": 1},
        size=size,
        kernel_size=kernel_size,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
    )


def _pool(
    at: Label, size: int, kernel_size: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    # PyTorch checks padding against the undilated kernel (pool2d_shape_check: kW/2 >= padW),
    # which is stricter than its other check against the effective kernel.
    if padding > kernel_size // 2:
        raise ValueError(
            f"{at('padding', padding)} must be at most half the kernel size {kernel_size} "
            f"({kernel_size} // 2 = {kernel_size // 2}, whatever the dilation; PyTorch refuses it)"
        )
    span = _effective(kernel_size, dilation)
    # ceil_mode rounds up by adding stride - 1 before the floor division.
    out = (size + 2 * padding - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    # ...but a last window that would start in the right padding sees no input: dropped.
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    if out < 1:
        # Floor mode fails exactly when size + 2P < F'; ceil mode tolerates up to S - 1 short.
        if ceil_mode:
            rounding = f"ceil(({size} + 2*{padding} - {span})/{stride}) + 1 = {out} < 1 even with ceil_mode"
        else:
            rounding = f"{size} + 2*{padding} < {span}"
        raise ValueError(
            f"{at('size', size)} is smaller than the effective kernel size {span} after padding "
            f"({rounding}): the output would be empty"
        )
    return out


@answers("01_layers/q1_formula", "01_layers/q1_shapes", "03_architectures/q1_alexnet")
def pool_output_size(
    size: IntOrPair,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
) -> int | tuple[int, int]:
    """Output size of ``nn.MaxPool2d`` / ``nn.AvgPool2d``: ``floor((W1 + 2P - d*(F - 1) - 1) / S) + 1``.

    The lecture's ``W2 = (W1 - F + 2P)/S + 1`` with PyTorch's floor, as for a
    convolution, but ``stride`` defaults to the kernel size and ``padding`` may
    be at most ``F // 2``. With ``ceil_mode=True`` the division rounds up, so a
    last partial window is kept, unless it would start in the right padding
    (PyTorch's rule: drop it when ``(W2 - 1)*S >= W1 + P``). ``nn.AvgPool2d``
    has no dilation: leave it at 1.

    Introduced in notebooks/01_layers.ipynb, section 1 (dilation: section 3).

    >>> pool_output_size(5, kernel_size=2, ceil_mode=True)
    3
    """
    if not isinstance(ceil_mode, bool):
        raise ValueError(f"ceil_mode must be True or False, got {ceil_mode!r}")
    if stride is None:
        # nn.MaxPool2d's default: non-overlapping windows.
        stride = kernel_size
    return _per_dim(
        lambda at, **dims: _pool(at, ceil_mode=ceil_mode, **dims),
        {"size": 1, "kernel_size": 1, "stride": 1, "padding": 0, "dilation": 1},
        size=size,
        kernel_size=kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
