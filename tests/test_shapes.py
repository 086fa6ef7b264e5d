"""helpers.shapes against PyTorch: the shape a real layer produces, and where it refuses.

PyTorch is the oracle throughout: every expected size comes from running a
tiny tensor through the layer, never from a number copied by hand.
"""
from __future__ import annotations

import doctest
import itertools
import math
from typing import Any, Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import helpers.shapes
from helpers.shapes import (
    conv_output_size,
    conv_transpose_output_size,
    effective_kernel_size,
    pool_output_size,
)

Refused = None  # what the oracle answers when PyTorch will not build the output


def pytorch_output(make_layer: Callable[[], nn.Module], size: Any) -> tuple[int, int] | None:
    """The (h, w) a layer gives a 1-channel ``size`` input, or ``Refused``."""
    h, w = size if isinstance(size, tuple) else (size, size)
    try:
        layer = make_layer()
        with torch.no_grad():
            out = layer(torch.zeros(1, 1, h, w))
    except (RuntimeError, ValueError):
        return Refused
    hw = tuple(out.shape[-2:])
    # oneDNN's transposed conv returns an empty tensor where PyTorch's own kernel raises
    # "Output size is too small" (see test_conv_transpose_output_size_raises_on_an_empty_output).
    return Refused if 0 in hw else hw


def ours(fn: Callable[..., Any], args: dict[str, Any]) -> Any:
    """``fn(**args)``, or ``Refused`` when it raises ValueError."""
    try:
        return fn(**args)
    except ValueError:
        return Refused


def assert_agrees(fn: Callable[..., Any], args: dict[str, Any], make_layer: Callable[[], nn.Module]) -> None:
    """Ours raises where PyTorch refuses, else returns PyTorch's shape in the caller's form."""
    expected = pytorch_output(make_layer, args["size"])
    got = ours(fn, args)
    call = f"{fn.__name__}(**{args})"
    if expected is Refused:
        assert got is Refused, f"{call} returned {got}, but PyTorch refuses"
        return
    assert got is not Refused, f"{call} raised, but PyTorch gives {expected}"
    if any(isinstance(v, tuple) for v in args.values()):
        assert got == expected, f"{call} = {got}, PyTorch gives {expected}"
    else:
        assert type(got) is int and (got, got) == expected, f"{call} = {got!r}, PyTorch gives {expected}"


@st.composite
def layer_args(draw: Any, **ranges: tuple[int, int]) -> dict[str, Any]:
    """One value per argument from its range: all ints, or (in pair form) each an int or an (h, w)."""
    pair_form = draw(st.booleans())

    def one(lo: int, hi: int) -> Any:
        n = st.integers(lo, hi)
        return draw(st.one_of(n, st.tuples(n, n)) if pair_form else n)

    return {name: one(lo, hi) for name, (lo, hi) in ranges.items()}


# Ranges that reach the error boundaries often: sizes down to 1, padding up to the kernel size.
SIZE, KERNEL, STRIDE, PADDING, DILATION = (1, 9), (1, 5), (1, 4), (0, 5), (1, 3)


@settings(max_examples=200, deadline=None)
@given(layer_args(size=SIZE, kernel_size=KERNEL, stride=STRIDE, padding=PADDING, dilation=DILATION))
def test_conv_output_size_matches_nn_conv2d(args: dict[str, Any]) -> None:
    layer = {k: v for k, v in args.items() if k != "size"}
    assert_agrees(conv_output_size, args, lambda: nn.Conv2d(1, 1, bias=False, **layer))


@settings(max_examples=200, deadline=None)
@given(
    layer_args(
        size=SIZE, kernel_size=KERNEL, stride=STRIDE, padding=PADDING,
        output_padding=(0, 3), dilation=DILATION,
    )
)
def test_conv_transpose_output_size_matches_nn_conv_transpose2d(args: dict[str, Any]) -> None:
    layer = {k: v for k, v in args.items() if k != "size"}
    assert_agrees(conv_transpose_output_size, args, lambda: nn.ConvTranspose2d(1, 1, bias=False, **layer))


@settings(max_examples=200, deadline=None)
@given(
    layer_args(size=SIZE, kernel_size=KERNEL, stride=STRIDE, padding=(0, 3), dilation=DILATION),
    st.booleans(),
    st.booleans(),
)
def test_pool_output_size_matches_nn_maxpool2d(
    args: dict[str, Any], ceil_mode: bool, default_stride: bool
) -> None:
    if default_stride:
        args["stride"] = None  # nn.MaxPool2d's default: stride = kernel_size
    args["ceil_mode"] = ceil_mode
    layer = {k: v for k, v in args.items() if k != "size"}
    assert_agrees(pool_output_size, args, lambda: nn.MaxPool2d(**layer))


@settings(max_examples=150, deadline=None)
@given(layer_args(size=SIZE, kernel_size=KERNEL, stride=STRIDE, padding=(0, 3)), st.booleans())
def test_pool_output_size_matches_nn_avgpool2d(args: dict[str, Any], ceil_mode: bool) -> None:
    # nn.AvgPool2d has no dilation: pool_output_size's default dilation=1 is its rule.
    args["ceil_mode"] = ceil_mode
    layer = {k: v for k, v in args.items() if k != "size"}
    assert_agrees(pool_output_size, args, lambda: nn.AvgPool2d(**layer))


# Exhaustive small grids: every boundary case in range, not a sample of them.
def assert_raises_exactly_where_pytorch_refuses(
    fn: Callable[..., Any], make_layer: Callable[..., nn.Module], grid: dict[str, range | list]
) -> None:
    refused, raised = set(), set()
    for values in itertools.product(*grid.values()):
        args = dict(zip(grid, values))
        layer = {k: v for k, v in args.items() if k != "size"}
        if pytorch_output(lambda: make_layer(**layer), args["size"]) is Refused:
            refused.add(values)
        if ours(fn, args) is Refused:
            raised.add(values)
    names = tuple(grid)
    assert refused, "the grid never reaches PyTorch's refusals: the test would prove nothing"
    assert raised == refused, (
        f"{names}: ours raises but PyTorch accepts {sorted(raised - refused)[:5]}; "
        f"PyTorch refuses but ours returns {sorted(refused - raised)[:5]}"
    )


def test_conv_output_size_raises_exactly_where_pytorch_refuses() -> None:
    assert_raises_exactly_where_pytorch_refuses(
        conv_output_size,
        lambda **kw: nn.Conv2d(1, 1, bias=False, **kw),
        dict(
            size=range(1, 7),
            kernel_size=range(1, 5),
            stride=range(1, 3),
            padding=range(0, 3),
            dilation=range(1, 4),
        ),
    )


def test_conv_transpose_output_size_raises_exactly_where_pytorch_refuses() -> None:
    assert_raises_exactly_where_pytorch_refuses(
        conv_transpose_output_size,
        lambda **kw: nn.ConvTranspose2d(1, 1, bias=False, **kw),
        dict(
            size=range(1, 4),
            kernel_size=range(1, 5),
            stride=range(1, 4),
            padding=range(0, 4),
            output_padding=range(0, 4),
            dilation=range(1, 4),
        ),
    )


def test_pool_output_size_raises_exactly_where_pytorch_refuses() -> None:
    grid = dict(
        size=range(1, 6),
        kernel_size=range(1, 5),
        stride=range(1, 4),
        padding=range(0, 3),
        dilation=range(1, 4),
        ceil_mode=[False, True],
    )
    assert_raises_exactly_where_pytorch_refuses(pool_output_size, lambda **kw: nn.MaxPool2d(**kw), grid)
    del grid["dilation"]
    assert_raises_exactly_where_pytorch_refuses(pool_output_size, lambda **kw: nn.AvgPool2d(**kw), grid)


def test_pool_padding_limit_is_half_the_undilated_kernel() -> None:
    # Padding 2 is within half the effective kernel (3*(2-1)+1 = 4) but not half the kernel 2.
    assert pytorch_output(lambda: nn.MaxPool2d(2, padding=2, dilation=3), 9) is Refused
    with pytest.raises(ValueError, match=r"padding=2 must be at most half the kernel size 2"):
        pool_output_size(9, 2, padding=2, dilation=3)
    assert pool_output_size(9, 2, padding=1, dilation=3) == pytorch_output(
        lambda: nn.MaxPool2d(2, padding=1, dilation=3), 9
    )[0]


def test_pool_output_size_drops_a_last_window_that_starts_in_the_padding() -> None:
    # size 3, kernel 2, stride 2, padding 1: ceil((3 + 2 - 2)/2) + 1 = 3 windows, but the third
    # would start at padded index 4 = size + padding, inside the right padding.
    expected = pytorch_output(lambda: nn.MaxPool2d(2, stride=2, padding=1, ceil_mode=True), 3)
    assert expected is not Refused
    assert pool_output_size(3, 2, stride=2, padding=1, ceil_mode=True) == expected[0]
    assert expected[0] == math.ceil((3 + 2 * 1 - 2) / 2) + 1 - 1


def test_pool_output_size_ceil_mode_keeps_a_window_wider_than_the_input() -> None:
    # Floor mode refuses a size-2 input to a 3-wide window; ceil mode keeps one partial window.
    assert pytorch_output(lambda: nn.MaxPool2d(3, stride=2), 2) is Refused
    assert pool_output_size(2, 3, stride=2, ceil_mode=True) == pytorch_output(
        lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True), 2
    )[0]
    with pytest.raises(ValueError):
        pool_output_size(2, 3, stride=2)


# Toggling oneDNN off warns about TF32 on Intel GPUs, which has nothing to do with shapes.
@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_conv_transpose_output_size_raises_on_an_empty_output() -> None:
    # (1 - 1)*1 - 2*2 + 4 + 0 = 0. PyTorch's own kernel raises "Output size is too small";
    # the oneDNN path (the CPU default for this layer) may return a 0x0 tensor instead.
    make = lambda: nn.ConvTranspose2d(1, 1, kernel_size=4, padding=2)  # noqa: E731
    with torch.backends.mkldnn.flags(enabled=False):
        with pytest.raises(RuntimeError, match="too small"):
            make()(torch.zeros(1, 1, 1, 1))
    assert pytorch_output(make, 1) is Refused
    with pytest.raises(ValueError, match=r"padding=2 is too large: .* = 0 < 1"):
        conv_transpose_output_size(1, 4, padding=2)


def conv2d_width(size: int, **conv: int) -> int:
    """The output width nn.Conv2d gives a size x size input: the lecture's examples' oracle."""
    shape = pytorch_output(lambda: nn.Conv2d(1, 1, bias=False, **conv), size)
    assert shape is not Refused
    return shape[1]


@pytest.mark.parametrize(
    "size, conv",
    [
        (5, dict(kernel_size=3, padding=1, stride=2)),  # W=5, F=3, P=1, S=2
        (5, dict(kernel_size=4, padding=2, stride=1)),  # F=4, P=2, S=1 on W=5: grows
        (7, dict(kernel_size=3, dilation=2)),  # 7x7 input, F=3, d=2
    ],
)
def test_lecture_worked_examples_match_nn_conv2d(size: int, conv: dict[str, int]) -> None:
    assert conv_output_size(size, **conv) == conv2d_width(size, **conv)


@pytest.mark.parametrize("kernel_size, dilation", list(itertools.product(range(1, 5), range(1, 4))))
def test_effective_kernel_size_is_the_undilated_kernel_with_the_same_output(
    kernel_size: int, dilation: int
) -> None:
    span = effective_kernel_size(kernel_size, dilation)
    assert span == kernel_size + (kernel_size - 1) * (dilation - 1)  # the lecture's F' = F + (F-1)(d-1)
    for size in (span, span + 3):
        dilated = conv2d_width(size, kernel_size=kernel_size, dilation=dilation)
        assert dilated == conv2d_width(size, kernel_size=span)
    assert conv_output_size(span, kernel_size, dilation=dilation) == 1  # exactly one window fits


def test_int_arguments_give_an_int_and_any_pair_gives_an_h_w_tuple() -> None:
    assert type(conv_output_size(5, 3)) is int
    assert type(effective_kernel_size(3, 2)) is int
    assert conv_output_size((5, 9), 3) == (3, 7)
    assert conv_output_size(9, [3, 5], padding=(1, 0)) == (9, 5)  # a list counts as a pair
    assert conv_transpose_output_size(3, 3, stride=(1, 2)) == (5, 7)
    assert effective_kernel_size(3, (1, 2)) == (3, 5)
    # stride=None follows the kernel: a pair kernel gives a pair stride, and a pair answer.
    assert pool_output_size(8, (2, 4)) == (4, 2)
    assert type(pool_output_size(8, 2)) is int


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: conv_output_size(2, 5),
         r"^size=2 is smaller than the effective kernel size 5 after padding \(2 \+ 2\*0 < 5\)"),
        (lambda: conv_output_size(3, 3, dilation=2), r"^size=3 .* effective kernel size 5"),
        (lambda: conv_output_size((9, 2), 5), r"^size\[1\]=2 is smaller"),
        (lambda: conv_output_size(5, 3, stride=0), r"^stride must be positive, got 0"),
        (lambda: conv_output_size(5, 3, padding=-1), r"^padding must be non-negative"),
        (lambda: conv_output_size(5, 3, dilation=(1, 0)), r"^dilation\[1\] must be positive"),
        (lambda: conv_output_size(5, 2.5), r"^kernel_size must be an int"),
        (lambda: conv_output_size(5, (3, 3, 3)), r"^kernel_size must be an int or an \(h, w\) pair"),
        (lambda: pool_output_size(5, 3, padding=2), r"^padding=2 must be at most half the kernel size 3"),
        (lambda: pool_output_size(5, (3, 5), padding=(1, 3)), r"^padding\[1\]=3 must be at most half"),
        (lambda: pool_output_size(1, 3, stride=1), r"^size=1 is smaller than the effective kernel size 3"),
        (lambda: pool_output_size(5, 3, ceil_mode=1), r"^ceil_mode must be True or False"),
        (lambda: conv_transpose_output_size(3, 3, stride=2, output_padding=2),
         r"^output_padding=2 must be smaller than either stride=2 or dilation=1"),
        (lambda: conv_transpose_output_size(3, 3, output_padding=(0, 1)),
         r"^output_padding\[1\]=1 must be smaller"),
        (lambda: conv_transpose_output_size(1, 3, padding=3), r"^padding=3 is too large"),
        (lambda: effective_kernel_size(0, 1), r"^kernel_size must be positive"),
    ],
)
def test_impossible_arguments_raise_a_value_error_naming_the_argument(
    call: Callable[[], Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(helpers.shapes)
    assert result.attempted == 4 and result.failed == 0
