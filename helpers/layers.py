"""Reference implementations of the layers unit 01 takes apart, each checked against PyTorch.

Every function here re-derives one PyTorch layer from its formula, in a few
readable lines, so a notebook can show *how* the layer computes and the tests can
prove it computes *the same thing* (``tests/test_layers.py`` uses PyTorch and
torchvision as the oracle). They are teaching code, not fast code: use
``torch.nn`` in real models.

Introduced in notebooks/01_layers.ipynb:

* section 4, deformable convolution: :func:`bilinear_sample`, :func:`deform_conv2d`
* section 6, how a convolution is computed: :func:`conv2d_naive`, :func:`conv2d_im2col`
* section 7, up-sampling: :func:`upsample_nearest`, :func:`upsample_bilinear`,
  :func:`conv_transpose2d`
* section 8, normalization and dropout: :func:`normalize`, :func:`batch_norm`,
  :func:`layer_norm`, :func:`instance_norm`, :func:`group_norm`, :data:`NORM_AXES`,
  :func:`dropout`

Shapes follow PyTorch: ``N`` batch, ``C`` channels, ``H, W`` height and width,
``O`` output channels, ``G`` groups, ``K = kh * kw`` kernel taps,
``L = H_out * W_out`` output positions.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from helpers._args import IntOrPair, check_int, is_pair, to_pair
from helpers.shortcuts import answers

__all__ = [
    "NORM_AXES",
    "batch_norm",
    "bilinear_sample",
    "conv2d_im2col",
    "conv2d_naive",
    "conv_transpose2d",
    "deform_conv2d",
    "dropout",
    "group_norm",
    "instance_norm",
    "layer_norm",
    "normalize",
    "upsample_bilinear",
    "upsample_nearest",
]

FloatOrPair = Union[float, Sequence[float]]


# --------------------------------------------------------------------------
# Argument checks shared by the convolutions
# --------------------------------------------------------------------------

def _check_tensor(name: str, t: object, dims: int | None = None) -> Tensor:
    """``t`` as a Tensor with ``dims`` dimensions, or a ``ValueError`` saying what was expected."""
    if not isinstance(t, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if dims is not None and t.dim() != dims:
        layout = {4: "[N, C, H, W]"}.get(dims, f" with {dims} dimensions")
        raise ValueError(f"{name} must be a Tensor{layout}, got shape {tuple(t.shape)}")
    return t


def _check_conv(x, weight, bias, stride, padding, dilation, groups):
    """Check ``conv2d``'s arguments; return the (h, w) pairs, ``groups`` and the output size."""
    _check_tensor("x", x, 4)
    _check_tensor("weight", weight, 4)
    stride = to_pair("stride", stride, minimum=1)
    padding = to_pair("padding", padding, minimum=0)
    dilation = to_pair("dilation", dilation, minimum=1)
    groups = check_int("groups", groups, minimum=1)
    _, c, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    if c % groups:
        raise ValueError(f"in_channels (x.shape[1] = {c}) must be divisible by groups ({groups})")
    if c_out % groups:
        raise ValueError(f"out_channels (weight.shape[0] = {c_out}) must be divisible by groups ({groups})")
    if c_per_group != c // groups:
        raise ValueError(
            f"weight must have shape (out_channels, in_channels / groups, kh, kw) = "
            f"({c_out}, {c // groups}, {kh}, {kw}), got {tuple(weight.shape)}"
        )
    if kh < 1 or kw < 1:
        raise ValueError(f"kernel size must be positive, got weight.shape = {tuple(weight.shape)}")
    if bias is not None:
        _check_tensor("bias", bias, 1)
        if bias.shape[0] != c_out:
            raise ValueError(f"bias must have shape (out_channels,) = ({c_out},), got {tuple(bias.shape)}")
    # the kernel's footprint grows with dilation: d * (k - 1) + 1
    span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    padded_h, padded_w = h + 2 * padding[0], w + 2 * padding[1]
    if span_h > padded_h or span_w > padded_w:
        raise ValueError(
            f"kernel (dilated size {span_h}x{span_w}) is larger than the padded input "
            f"({padded_h}x{padded_w}): reduce dilation or kernel size, or pad more"
        )
    h_out = (padded_h - span_h) // stride[0] + 1
    w_out = (padded_w - span_w) // stride[1] + 1
    return stride, padding, dilation, groups, (h_out, w_out)


def _columns_times_weight(cols: Tensor, weight: Tensor, bias: Tensor | None, groups: int,
                          out_size: tuple[int, int]) -> Tensor:
    """The matmul at the heart of im2col: ``y = W @ columns (+ b)``, one matmul per group.

    cols (Tensor[N, C*kh*kw, L]) is laid out like ``F.unfold``'s output;
    weight (Tensor[O, C/G, kh, kw]). Returns Tensor[N, O, H_out, W_out].
    """
    n = cols.shape[0]
    c_out = weight.shape[0]
    cols = cols.reshape(n, groups, -1, cols.shape[-1])   # (N, G, C/G*kh*kw, L)
    w = weight.reshape(groups, c_out // groups, -1)      # (G, O/G, C/G*kh*kw)
    y = w @ cols                                         # (N, G, O/G, L): broadcast over N
    y = y.reshape(n, c_out, *out_size)                   # (N, O, H_out, W_out)
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y


# --------------------------------------------------------------------------
# Section 6: how a convolution is computed
# --------------------------------------------------------------------------

@answers("01_layers/q4_deform",
         "01_layers/q6_loops",
         "01_layers/q6_im2col",
         "02_blocks/q4_grouped",
         "02_blocks/q4_branches")
def conv2d_naive(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrPair = 1,
                 padding: IntOrPair = 0, dilation: IntOrPair = 1, groups: int = 1) -> Tensor:
    """2-D convolution as a loop over output positions, the way the formula reads.

    ``y[n, o, i, j] = b[o] + Σ_{c, u, v} w[o, c, u, v] · x_pad[n, g·C/G + c, i·s + u·d, j·s + v·d]``
    where ``g = o // (O/G)`` is the group of output channel ``o``.

    One Python iteration per output pixel ``(i, j)``: it cuts the (dilated) patch
    under the kernel and takes its dot product with every filter. Batch and
    channels are vectorised so the loop stays usable on small inputs.

    Args:
        x (Tensor[N, C, H, W]): input.
        weight (Tensor[O, C/G, kh, kw]): filters.
        bias (Tensor[O], optional): added to every output position.
        stride, padding, dilation: an int or an ``(h, w)`` pair, as in ``F.conv2d``.
        groups: channels split into ``groups`` independent convolutions.

    Returns:
        Tensor[N, O, H_out, W_out], equal to ``F.conv2d`` with the same arguments.

    Introduced in notebooks/01_layers.ipynb, section 6.
    """
    (sh, sw), (ph, pw), (dh, dw), groups, (h_out, w_out) = _check_conv(
        x, weight, bias, stride, padding, dilation, groups)
    n, c = x.shape[:2]
    c_out, _, kh, kw = weight.shape
    x = F.pad(x, (pw, pw, ph, ph))                                 # (N, C, H+2ph, W+2pw)
    x = x.reshape(n, groups, c // groups, *x.shape[2:])            # (N, G, C/G, Hp, Wp)
    w = weight.reshape(groups, c_out // groups, c // groups, kh, kw)  # (G, O/G, C/G, kh, kw)
    y = x.new_zeros(n, groups, c_out // groups, h_out, w_out)      # (N, G, O/G, H_out, W_out)
    for i in range(h_out):
        for j in range(w_out):
            top, left = i * sh, j * sw
            # the kh x kw pixels under the kernel, dh / dw apart
            patch = x[..., top: top + dh * (kh - 1) + 1: dh,
                      left: left + dw * (kw - 1) + 1: dw]          # (N, G, C/G, kh, kw)
            # dot product of the patch with every filter of its group
            y[..., i, j] = torch.einsum("gocuv,ngcuv->ngo", w, patch)  # (N, G, O/G)
    y = y.reshape(n, c_out, h_out, w_out)                          # (N, O, H_out, W_out)
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y


@answers("01_layers/q4_deform",
         "01_layers/q6_loops",
         "01_layers/q6_im2col",
         "02_blocks/q4_grouped",
         "02_blocks/q4_branches")
def conv2d_im2col(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrPair = 1,
                  padding: IntOrPair = 0, dilation: IntOrPair = 1, groups: int = 1) -> Tensor:
    """2-D convolution as one matrix multiplication: im2col (``F.unfold``) then ``W @ columns``.

    ``F.unfold`` copies every patch the kernel visits into a column, so the
    convolution becomes ``Y = W · X_col`` with ``W`` of shape ``(O, C·kh·kw)`` and
    ``X_col`` of shape ``(C·kh·kw, L)``; with groups, one such product per group.
    This is how libraries turn convolution into a GEMM, at the cost of a
    ``kh·kw``-times larger copy of the input.

    Args and returns: as :func:`conv2d_naive`; x (Tensor[N, C, H, W]) →
    Tensor[N, O, H_out, W_out], equal to ``F.conv2d``.

    Introduced in notebooks/01_layers.ipynb, section 6.
    """
    stride, padding, dilation, groups, out_size = _check_conv(
        x, weight, bias, stride, padding, dilation, groups)
    kernel_size = tuple(weight.shape[2:])
    cols = F.unfold(x, kernel_size, dilation=dilation, padding=padding, stride=stride)  # (N, C*kh*kw, L)
    return _columns_times_weight(cols, weight, bias, groups, out_size)              # (N, O, H_out, W_out)


# --------------------------------------------------------------------------
# Section 4: deformable convolution
# --------------------------------------------------------------------------

@answers("01_layers/q4_bilinear", "01_layers/q4_deform", "01_layers/q7_upsample")
def bilinear_sample(x: Tensor, py: Tensor, px: Tensor) -> Tensor:
    """Read ``x`` at fractional positions by bilinear interpolation; zero outside the image.

    With ``y0 = ⌊py⌋``, ``x0 = ⌊px⌋``, ``ly = py - y0``, ``lx = px - x0``:

    ``v = (1-ly)(1-lx)·x[y0, x0] + (1-ly)·lx·x[y0, x0+1] + ly·(1-lx)·x[y0+1, x0] + ly·lx·x[y0+1, x0+1]``

    where a corner outside the image counts as 0 — the convention of
    ``torchvision.ops.deform_conv2d`` (a point within one pixel of the border
    still gets the weight of its corners that are inside).

    Args:
        x (Tensor[N, C, H, W]): the image.
        py, px (Tensor[N, *S]): row and column of each sample point, in pixels
            (pixel centres at integers), one set of points per image.

    Returns:
        Tensor[N, C, *S]: the C channel values at every point.

    Introduced in notebooks/01_layers.ipynb, section 4.
    """
    _check_tensor("x", x, 4)
    _check_tensor("py", py)
    _check_tensor("px", px)
    if py.shape != px.shape:
        raise ValueError(f"py and px must have the same shape, got {tuple(py.shape)} and {tuple(px.shape)}")
    if py.dim() < 1 or py.shape[0] != x.shape[0]:
        raise ValueError(f"py and px must have shape (N, ...) with N = x.shape[0] = {x.shape[0]}, "
                         f"got {tuple(py.shape)}")
    n, c, h, w = x.shape
    points_shape = py.shape[1:]
    py = py.reshape(n, -1).to(x.dtype)                   # (N, P)
    px = px.reshape(n, -1).to(x.dtype)                   # (N, P)
    y0, x0 = py.floor(), px.floor()                      # (N, P) top-left corner
    ly, lx = py - y0, px - x0                            # (N, P) fractional parts in [0, 1)
    flat = x.reshape(n, c, h * w)                        # (N, C, H*W)

    def corner(yi: Tensor, xi: Tensor) -> Tensor:
        """x at integer positions (yi, xi), 0 where the position is outside the image."""
        inside = (yi >= 0) & (yi <= h - 1) & (xi >= 0) & (xi <= w - 1)  # (N, P)
        index = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long()    # (N, P) into H*W
        values = flat.gather(2, index.unsqueeze(1).expand(n, c, -1))    # (N, C, P)
        return values * inside.unsqueeze(1)                             # (N, C, P)

    def weight(t: Tensor) -> Tensor:
        return t.unsqueeze(1)                                           # (N, 1, P)

    out = (weight((1 - ly) * (1 - lx)) * corner(y0, x0)
           + weight((1 - ly) * lx) * corner(y0, x0 + 1)
           + weight(ly * (1 - lx)) * corner(y0 + 1, x0)
           + weight(ly * lx) * corner(y0 + 1, x0 + 1))                  # (N, C, P)
    return out.reshape(n, c, *points_shape)                             # (N, C, *S)


@answers("01_layers/q4_deform")
def deform_conv2d(x: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | None = None,
                  stride: IntOrPair = 1, padding: IntOrPair = 0, dilation: IntOrPair = 1,
                  mask: Tensor | None = None) -> Tensor:
    """Deformable convolution (DCN), and its modulated form (DCNv2) when ``mask`` is given.

    ``y(p0) = Σ_k w(p_k) · Δm_k · x(p0 + p_k + Δp_k)``

    ``p0`` is the output position's top-left input pixel (``stride · out - padding``),
    ``p_k`` the k-th tap of the regular (dilated) kernel grid, ``Δp_k`` its learned
    fractional offset (read with :func:`bilinear_sample`, zero outside the image) and
    ``Δm_k`` its modulation mask (1 when ``mask`` is None). With zero offsets and
    no mask this is exactly ``F.conv2d``: the same im2col matmul, with the columns
    read at moved points.

    Args:
        x (Tensor[N, C, H, W]): input.
        offset (Tensor[N, 2*offset_groups*kh*kw, H_out, W_out]): laid out exactly as
            ``torchvision.ops.deform_conv2d`` expects: for offset group ``g`` and tap
            ``k = u*kw + v``, channel ``2*(g*kh*kw + k)`` is Δy and the next one Δx.
            ``offset_groups`` (inferred from the channel count) must divide C; the
            channels of group g all move by group g's offsets.
        weight (Tensor[O, C/groups, kh, kw]): filters; as in torchvision the
            convolution groups are inferred as ``C // weight.shape[1]``.
        bias (Tensor[O], optional).
        stride, padding, dilation: an int or an ``(h, w)`` pair.
        mask (Tensor[N, offset_groups*kh*kw, H_out, W_out], optional): DCNv2 modulation.

    Returns:
        Tensor[N, O, H_out, W_out], equal to ``torchvision.ops.deform_conv2d``.

    Introduced in notebooks/01_layers.ipynb, section 4.
    """
    _check_tensor("x", x, 4)
    _check_tensor("weight", weight, 4)
    _check_tensor("offset", offset, 4)
    n, c, h, w = x.shape
    c_per_group = weight.shape[1]
    if c_per_group < 1 or c % c_per_group:
        raise ValueError(f"weight.shape[1] ({c_per_group}) must divide in_channels (x.shape[1] = {c}): "
                         "it is in_channels / groups")
    (sh, sw), (ph, pw), (dh, dw), groups, (h_out, w_out) = _check_conv(
        x, weight, bias, stride, padding, dilation, c // c_per_group)
    kh, kw = weight.shape[2:]
    k = kh * kw
    if offset.shape[0] != n or tuple(offset.shape[2:]) != (h_out, w_out) or offset.shape[1] % (2 * k):
        raise ValueError(
            f"offset must have shape (N, 2*offset_groups*kh*kw, H_out, W_out) = "
            f"({n}, 2*offset_groups*{k}, {h_out}, {w_out}), got {tuple(offset.shape)}")
    offset_groups = offset.shape[1] // (2 * k)
    if offset_groups < 1 or c % offset_groups:
        raise ValueError(f"offset_groups (offset.shape[1] / (2*kh*kw) = {offset_groups}) "
                         f"must be positive and divide in_channels ({c})")
    if mask is not None:
        _check_tensor("mask", mask, 4)
        if tuple(mask.shape) != (n, offset_groups * k, h_out, w_out):
            raise ValueError(f"mask must have shape (N, offset_groups*kh*kw, H_out, W_out) = "
                             f"({n}, {offset_groups * k}, {h_out}, {w_out}), got {tuple(mask.shape)}")

    # p0 + p_k: where each tap of the regular kernel lands, for every output position
    def arange(size: int) -> Tensor:
        return torch.arange(size, dtype=x.dtype, device=x.device)

    tap_y = (arange(kh) * dh).repeat_interleave(kw)         # (K,) tap k is row k // kw
    tap_x = (arange(kw) * dw).repeat(kh)                    # (K,) and column k % kw
    grid_y = tap_y.view(k, 1, 1) + (arange(h_out) * sh - ph).view(1, h_out, 1)  # (K, H_out, 1)
    grid_x = tap_x.view(k, 1, 1) + (arange(w_out) * sw - pw).view(1, 1, w_out)  # (K, 1, W_out)

    # + Δp_k: torchvision's layout, (Δy, Δx) pairs per tap per offset group
    offset = offset.reshape(n, offset_groups, k, 2, h_out, w_out)   # (N, G_off, K, 2, H_out, W_out)
    py = grid_y + offset[:, :, :, 0]                                # (N, G_off, K, H_out, W_out)
    px = grid_x + offset[:, :, :, 1]                                # (N, G_off, K, H_out, W_out)

    # read every offset group's channels at that group's points
    xg = x.reshape(n * offset_groups, c // offset_groups, h, w)     # (N*G_off, C/G_off, H, W)
    cols = bilinear_sample(xg, py.reshape(n * offset_groups, -1),
                           px.reshape(n * offset_groups, -1))       # (N*G_off, C/G_off, K*L)
    cols = cols.reshape(n, offset_groups, c // offset_groups, k, h_out * w_out)  # (N, G_off, C/G_off, K, L)
    if mask is not None:
        cols = cols * mask.reshape(n, offset_groups, 1, k, h_out * w_out)        # × Δm_k
    cols = cols.reshape(n, c * k, h_out * w_out)                    # (N, C*K, L): F.unfold's layout
    return _columns_times_weight(cols, weight, bias, groups, (h_out, w_out))  # (N, O, H_out, W_out)


# --------------------------------------------------------------------------
# Section 7: up-sampling
# --------------------------------------------------------------------------

def _scale_pair(scale_factor: FloatOrPair) -> tuple[float, float]:
    """``2 -> (2.0, 2.0)``; each scale a positive finite number, else ``ValueError``."""
    if is_pair(scale_factor):
        named = [("scale_factor[0]", scale_factor[0]), ("scale_factor[1]", scale_factor[1])]
    else:
        named = [("scale_factor", scale_factor)] * 2
    for name, v in named:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 < v < math.inf:
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    return float(named[0][1]), float(named[1][1])


def _output_size(x: Tensor, scale: tuple[float, float]) -> tuple[int, int]:
    """``⌊H · s_h⌋, ⌊W · s_w⌋``, as ``F.interpolate`` computes it; at least 1."""
    _check_tensor("x", x, 4)
    h_out, w_out = math.floor(x.shape[2] * scale[0]), math.floor(x.shape[3] * scale[1])
    if h_out < 1 or w_out < 1:
        raise ValueError(f"scale_factor {scale} shrinks the {tuple(x.shape[2:])} input to nothing")
    return h_out, w_out


@answers("01_layers/q7_upsample", "01_layers/q7_table")
def upsample_nearest(x: Tensor, scale_factor: FloatOrPair) -> Tensor:
    """Nearest-neighbour resizing: every output pixel copies one input pixel.

    ``y[i, j] = x[⌊i / s_h⌋, ⌊j / s_w⌋]``  (clamped to the last row/column), with
    output size ``⌊H·s_h⌋ x ⌊W·s_w⌋``. For an integer ``s`` each pixel becomes an
    ``s x s`` block.

    Args:
        x (Tensor[N, C, H, W]): input.
        scale_factor: a positive number or an ``(s_h, s_w)`` pair.

    Returns:
        Tensor[N, C, H_out, W_out], equal to ``F.interpolate(x, scale_factor=s, mode="nearest")``.

    Introduced in notebooks/01_layers.ipynb, section 7.
    """
    scale = _scale_pair(scale_factor)
    (h, w), (h_out, w_out) = x.shape[2:], _output_size(x, scale)

    def source(size_out: int, size_in: int, s: float) -> Tensor:
        # PyTorch multiplies by 1/s in float32; so do we, so the floor agrees everywhere
        i = torch.arange(size_out, dtype=torch.float32, device=x.device)
        return (i * torch.tensor(1.0 / s, dtype=torch.float32)).floor().long().clamp(max=size_in - 1)

    rows, cols = source(h_out, h, scale[0]), source(w_out, w, scale[1])   # (H_out,), (W_out,)
    return x[:, :, rows][:, :, :, cols]                                   # (N, C, H_out, W_out)


@answers("01_layers/q7_upsample", "01_layers/q7_table")
def upsample_bilinear(x: Tensor, scale_factor: FloatOrPair, align_corners: bool = False) -> Tensor:
    """Bilinear resizing by hand: gather the two nearest rows and lerp, then the same for columns.

    Each output index ``i`` maps to a fractional source coordinate

    * ``align_corners=False`` (PyTorch's default, pixels as unit squares):
      ``src = max((i + 0.5) / s - 0.5, 0)``
    * ``align_corners=True`` (corner pixel centres pinned together):
      ``src = i · (H - 1) / (H_out - 1)``

    and ``y = (1 - λ)·x[⌊src⌋] + λ·x[⌊src⌋ + 1]`` with ``λ = src - ⌊src⌋`` (the
    index clamped to the last pixel). Rows then columns: bilinear is separable.

    Args:
        x (Tensor[N, C, H, W]): input.
        scale_factor: a positive number or an ``(s_h, s_w)`` pair.
        align_corners: which of the two coordinate conventions above.

    Returns:
        Tensor[N, C, H_out, W_out], equal to
        ``F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=align_corners)``.

    Introduced in notebooks/01_layers.ipynb, section 7.
    """
    scale = _scale_pair(scale_factor)
    (h, w), (h_out, w_out) = x.shape[2:], _output_size(x, scale)

    def source(size_out: int, size_in: int, s: float):
        """Lower index, upper index and weight λ of the upper one, per output index."""
        i = torch.arange(size_out, dtype=x.dtype, device=x.device)
        if align_corners:
            src = i * ((size_in - 1) / (size_out - 1)) if size_out > 1 else torch.zeros_like(i)
        else:
            src = ((i + 0.5) / s - 0.5).clamp(min=0)
        lo = src.floor().long().clamp(max=size_in - 1)
        hi = (lo + 1).clamp(max=size_in - 1)
        return lo, hi, src - lo

    y0, y1, ly = source(h_out, h, scale[0])                 # (H_out,) each
    x0, x1, lx = source(w_out, w, scale[1])                 # (W_out,) each
    ly = ly.view(-1, 1)                                     # (H_out, 1) broadcast over columns
    rows = (1 - ly) * x[:, :, y0] + ly * x[:, :, y1]        # (N, C, H_out, W)
    return (1 - lx) * rows[..., x0] + lx * rows[..., x1]    # (N, C, H_out, W_out)


@answers("01_layers/q7_transposed")
def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrPair = 1,
                     padding: IntOrPair = 0, output_padding: IntOrPair = 0, dilation: IntOrPair = 1,
                     groups: int = 1) -> Tensor:
    """Transposed convolution as a scatter: every input pixel stamps a scaled copy of the kernel.

    ``full[n, o, i·s + u·d, j·s + v·d] += Σ_c x[n, c, i, j] · w[c, o, u, v]``

    The copies land ``stride`` apart, so for ``kernel > stride`` they overlap —
    unevenly when the kernel is not a multiple of the stride, which is the
    checkerboard artifact. The result is then cropped by ``padding`` on each side
    (``output_padding`` extra rows/columns stay at the bottom/right):

    ``H_out = (H - 1)·s - 2·p + d·(kh - 1) + output_padding + 1``

    Args:
        x (Tensor[N, C, H, W]): input.
        weight (Tensor[C, O, kh, kw]): note the order, in-channels first, as in
            ``nn.ConvTranspose2d``.
        bias (Tensor[O], optional).
        stride, padding, output_padding, dilation: an int or an ``(h, w)`` pair.
        groups: only 1 is implemented.

    Returns:
        Tensor[N, O, H_out, W_out], equal to ``F.conv_transpose2d``.

    Introduced in notebooks/01_layers.ipynb, section 7.
    """
    _check_tensor("x", x, 4)
    _check_tensor("weight", weight, 4)
    if check_int("groups", groups, minimum=1) != 1:
        raise ValueError(f"conv_transpose2d implements groups=1 only, got groups={groups}; "
                         "use F.conv_transpose2d for grouped transposed convolutions")
    sh, sw = to_pair("stride", stride, minimum=1)
    ph, pw = to_pair("padding", padding, minimum=0)
    oph, opw = to_pair("output_padding", output_padding, minimum=0)
    dh, dw = to_pair("dilation", dilation, minimum=1)
    n, c, h, w = x.shape
    c_in, c_out, kh, kw = weight.shape
    if c_in != c:
        raise ValueError(f"weight must have shape (in_channels, out_channels, kh, kw) with "
                         f"in_channels = x.shape[1] = {c}, got {tuple(weight.shape)}")
    if bias is not None:
        _check_tensor("bias", bias, 1)
        if bias.shape[0] != c_out:
            raise ValueError(f"bias must have shape (out_channels,) = ({c_out},), got {tuple(bias.shape)}")
    if oph >= max(sh, dh) or opw >= max(sw, dw):
        raise ValueError(f"output_padding ({oph}, {opw}) must be smaller than stride ({sh}, {sw}) "
                         f"or dilation ({dh}, {dw})")
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + oph
    full_w = (w - 1) * sw + dw * (kw - 1) + 1 + opw
    if full_h - 2 * ph < 1 or full_w - 2 * pw < 1:
        raise ValueError(f"padding ({ph}, {pw}) crops the whole {full_h}x{full_w} output away")

    full = x.new_zeros(n, c_out, full_h, full_w)                   # (N, O, H_full, W_full)
    for i in range(h):
        for j in range(w):
            # the kernel scaled by this pixel's value, summed over input channels
            stamp = torch.einsum("nc,couv->nouv", x[:, :, i, j], weight)  # (N, O, kh, kw)
            top, left = i * sh, j * sw
            full[:, :, top: top + dh * (kh - 1) + 1: dh,
                 left: left + dw * (kw - 1) + 1: dw] += stamp      # overlapping copies add up
    y = full[:, :, ph: full_h - ph, pw: full_w - pw]               # (N, O, H_out, W_out)
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y


# --------------------------------------------------------------------------
# Section 8: normalization and dropout
# --------------------------------------------------------------------------

NORM_AXES: dict[str, tuple[str, ...]] = {
    "batch": ("N", "H", "W"),
    "layer": ("C", "H", "W"),
    "instance": ("H", "W"),
    "group": ("C/G", "H", "W"),
}
"""Which axes of an (N, C, H, W) activation each norm computes one mean and variance over.

``"C/G"`` means the channels of one group. The axes not listed keep their own
statistics: Batch Norm has one mean per channel; Layer, Instance and Group Norm
one per sample (and per channel, per group). Used by ``helpers.plots.plot_norm_axes``.
"""


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """``γ·y + β`` with one γ, β per channel (axis 1)."""
    shape = (1, -1) + (1,) * (y.dim() - 2)   # (1, C, 1, 1) for an (N, C, H, W) input
    if weight is not None:
        y = y * weight.view(shape)
    if bias is not None:
        y = y + bias.view(shape)
    return y


@answers("01_layers/q8_norms")
def normalize(x: Tensor, dims: int | Sequence[int], eps: float = 1e-5) -> Tensor:
    """The one formula every norm layer shares, over different axes:

    ``x̂ = (x - μ) / sqrt(σ² + ε)``, ``μ`` and ``σ²`` the mean and *biased* variance
    (divide by the count, not count - 1) over ``dims``.

    Args:
        x (Tensor): any shape, e.g. Tensor[N, C, H, W].
        dims: the axis or axes to reduce over (see :data:`NORM_AXES`).
        eps: added to the variance for numerical safety.

    Returns:
        Tensor of the shape of ``x``: zero mean and (nearly) unit variance over ``dims``.

    Introduced in notebooks/01_layers.ipynb, section 8.
    """
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, correction=0, keepdim=True)   # biased: Σ (x - μ)² / count
    return (x - mean) / torch.sqrt(var + eps)


@answers("01_layers/q8_norms", "01_layers/q8_running", "04_efficiency/q7_fold")
def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch Norm: normalize each channel over the batch and the spatial axes, ``(N, H, W)``.

    Training: ``y = γ · normalize(x, (N, H, W)) + β`` with the batch's own mean and
    biased variance, and the running statistics updated *in place* as PyTorch does:

    ``running_mean ← (1 - m)·running_mean + m·μ_B``
    ``running_var  ← (1 - m)·running_var  + m·σ²_B · n / (n - 1)``

    — the running variance takes the *unbiased* batch variance (``n = N·H·W``
    values per channel) although the normalization itself used the biased one.
    Evaluation: ``y = γ · (x - running_mean) / sqrt(running_var + ε) + β``.
    Without running statistics (None) the batch statistics are used in both modes.

    Args:
        x (Tensor[N, C, H, W]): input (also Tensor[N, C] or Tensor[N, C, L]).
        running_mean, running_var (Tensor[C] or None): updated in place when training.
        weight, bias (Tensor[C], optional): γ and β.
        training: batch statistics (True) or running statistics (False).
        momentum: weight ``m`` of the new batch in the running averages.
        eps: added to the variance.

    Returns:
        Tensor of the shape of ``x``, equal to ``nn.BatchNorm2d`` / ``F.batch_norm``.

    Introduced in notebooks/01_layers.ipynb, section 8.
    """
    _check_tensor("x", x)
    if x.dim() < 2:
        raise ValueError(f"x must have shape (N, C, ...), got {tuple(x.shape)}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be tensors or both be None")
    dims = (0, *range(2, x.dim()))          # every axis but C: (0, 2, 3) for (N, C, H, W)
    if training or running_mean is None:
        count = x.numel() // x.shape[1]     # values per channel, N*H*W
        if training and count < 2:
            raise ValueError(f"batch_norm needs more than 1 value per channel when training, "
                             f"got input of shape {tuple(x.shape)}")
        y = normalize(x, dims, eps)
        if training and running_mean is not None:
            with torch.no_grad():
                mean = x.mean(dim=dims)                                  # (C,)
                unbiased_var = x.var(dim=dims, correction=1)             # (C,) Σ (x - μ)² / (n - 1)
                running_mean.mul_(1 - momentum).add_(momentum * mean)
                running_var.mul_(1 - momentum).add_(momentum * unbiased_var)
    else:
        shape = (1, -1) + (1,) * (x.dim() - 2)                           # (1, C, 1, 1)
        y = (x - running_mean.view(shape)) / torch.sqrt(running_var.view(shape) + eps)
    return _affine(y, weight, bias)


@answers("01_layers/q8_norms")
def layer_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer Norm: normalize each sample over its last ``len(normalized_shape)`` axes.

    ``y = γ · normalize(x, last axes) + β``, with γ and β of shape ``normalized_shape``
    (elementwise, not per channel). For an image and ``normalized_shape = (C, H, W)``
    the axes are ``(C, H, W)``: one mean and variance per sample.

    Args:
        x (Tensor[N, *, *normalized_shape]): input, e.g. Tensor[N, C, H, W].
        normalized_shape: the trailing shape to normalize over.
        weight, bias (Tensor[*normalized_shape], optional).
        eps: added to the variance.

    Returns:
        Tensor of the shape of ``x``, equal to ``nn.LayerNorm(normalized_shape)``.

    Introduced in notebooks/01_layers.ipynb, section 8.
    """
    _check_tensor("x", x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or x.dim() < len(shape) or tuple(x.shape[x.dim() - len(shape):]) != shape:
        raise ValueError(f"normalized_shape {shape} must be the trailing shape of x, got x.shape = {tuple(x.shape)}")
    y = normalize(x, tuple(range(-len(shape), 0)), eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


@answers("01_layers/q8_norms")
def instance_norm(x: Tensor, eps: float = 1e-5, weight: Tensor | None = None,
                  bias: Tensor | None = None) -> Tensor:
    """Instance Norm: normalize each channel of each sample over its spatial axes ``(H, W)``.

    ``y = γ · normalize(x, (H, W)) + β`` — one mean and variance per (sample, channel).
    ``nn.InstanceNorm2d`` has no γ, β by default (``affine=False``) and keeps no
    running statistics (``track_running_stats=False``), which is what this computes.

    Args:
        x (Tensor[N, C, H, W]): input.
        eps: added to the variance.
        weight, bias (Tensor[C], optional): γ and β, as with ``affine=True``.

    Returns:
        Tensor[N, C, H, W], equal to ``nn.InstanceNorm2d(C)``.

    Introduced in notebooks/01_layers.ipynb, section 8.
    """
    _check_tensor("x", x)
    if x.dim() < 3:
        raise ValueError(f"x must have shape (N, C, H, W) (or (N, C, L)), got {tuple(x.shape)}")
    return _affine(normalize(x, tuple(range(2, x.dim())), eps), weight, bias)


@answers("01_layers/q8_norms")
def group_norm(x: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group Norm: split the channels into groups, normalize each group of each sample.

    ``y = γ · normalize(x viewed as (N, G, C/G·H·W), axis 2) + β`` — one mean and
    variance per (sample, group). ``G = 1`` is Layer Norm over ``(C, H, W)`` (with
    per-channel γ, β), ``G = C`` is Instance Norm.

    Args:
        x (Tensor[N, C, H, W]): input.
        num_groups: G, must divide C.
        weight, bias (Tensor[C], optional): per-channel γ and β.
        eps: added to the variance.

    Returns:
        Tensor[N, C, H, W], equal to ``nn.GroupNorm(num_groups, C)``.

    Introduced in notebooks/01_layers.ipynb, section 8.
    """
    _check_tensor("x", x)
    if x.dim() < 2:
        raise ValueError(f"x must have shape (N, C, ...), got {tuple(x.shape)}")
    num_groups = check_int("num_groups", num_groups, minimum=1)
    n, c = x.shape[:2]
    if c % num_groups:
        raise ValueError(f"num_channels (x.shape[1] = {c}) must be divisible by num_groups ({num_groups})")
    groups = x.reshape(n, num_groups, -1)               # (N, G, C/G*H*W)
    y = normalize(groups, 2, eps).reshape(x.shape)      # (N, C, H, W)
    return _affine(y, weight, bias)


@answers("01_layers/q8_dropout")
def dropout(x: Tensor, p: float = 0.5, training: bool = True,
            generator: torch.Generator | None = None) -> Tensor:
    """Inverted dropout: zero each unit with probability ``p``, scale the kept ones by ``1/(1-p)``.

    ``y = x · m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` elementwise, so
    ``E[y] = x`` and evaluation needs no rescaling: in eval mode (``training=False``)
    dropout is the identity. ``p = 1`` drops everything (zeros), as in PyTorch.

    Args:
        x (Tensor): any shape.
        p: drop probability, ``0 <= p <= 1``.
        training: drop (True) or pass ``x`` through unchanged (False).
        generator (torch.Generator, optional): for a reproducible mask; the mask is
            ``torch.rand(x.shape, generator=generator) >= p``.

    Returns:
        Tensor of the shape of ``x``. Its mask follows ``F.dropout``'s law but not its
        random stream (``F.dropout`` takes no generator).

    Introduced in notebooks/01_layers.ipynb, section 8.
    """
    _check_tensor("x", x)
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout probability p must be a number with 0 <= p <= 1, got {p!r}")
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p   # True with probability 1 - p
    return x * keep / (1 - p)
