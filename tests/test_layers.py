"""helpers.layers against PyTorch and torchvision as the oracle, in float64 with tight tolerances."""
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from helpers.layers import (
    NORM_AXES,
    batch_norm,
    bilinear_sample,
    conv2d_im2col,
    conv2d_naive,
    conv_transpose2d,
    deform_conv2d,
    dropout,
    group_norm,
    instance_norm,
    layer_norm,
    normalize,
    upsample_bilinear,
    upsample_nearest,
)

DTYPE = torch.float64
TOL = dict(rtol=1e-10, atol=1e-12)


def randn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=DTYPE)


def assert_close(actual, expected):
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, **TOL)


# --------------------------------------------------------------------------
# Section 6: conv2d_naive and conv2d_im2col equal F.conv2d
# --------------------------------------------------------------------------

# (N, C, H, W), (O, kh, kw), stride, padding, dilation, groups, bias
CONV_CONFIGS = [
    ((1, 1, 5, 5), (1, 3, 3), 1, 0, 1, 1, False),
    ((2, 3, 7, 7), (4, 3, 3), 1, 1, 1, 1, True),
    ((2, 3, 8, 8), (4, 3, 3), 2, 1, 1, 1, True),
    ((1, 2, 9, 9), (3, 3, 3), 1, 2, 2, 1, True),           # dilation 2, "same" padding
    ((2, 4, 6, 10), (6, 3, 3), 1, 1, 1, 2, True),          # groups 2, non-square input
    ((1, 4, 7, 7), (4, 3, 3), 1, 1, 1, 4, False),          # depthwise
    ((2, 3, 9, 11), (5, 2, 4), (2, 3), (1, 2), (2, 1), 1, True),  # everything non-square
    ((1, 6, 8, 8), (6, 1, 1), 1, 0, 1, 3, True),           # grouped 1x1
    ((1, 2, 5, 5), (2, 5, 5), 1, 0, 1, 1, True),           # kernel covers the whole input
    ((3, 2, 6, 6), (2, 3, 3), 3, 0, 1, 2, False),          # stride skips columns
]


@pytest.mark.parametrize("conv", [conv2d_naive, conv2d_im2col], ids=["naive", "im2col"])
@pytest.mark.parametrize("x_shape,k,stride,padding,dilation,groups,with_bias", CONV_CONFIGS)
def test_conv2d_implementations_equal_F_conv2d(conv, x_shape, k, stride, padding, dilation, groups,
                                               with_bias):
    c = x_shape[1]
    x = randn(*x_shape, seed=1)
    weight = randn(k[0], c // groups, k[1], k[2], seed=2)
    bias = randn(k[0], seed=3) if with_bias else None
    expected = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    assert_close(conv(x, weight, bias, stride, padding, dilation, groups), expected)


def test_conv2d_naive_and_im2col_agree_with_nn_conv2d_module():
    layer = nn.Conv2d(3, 5, kernel_size=(3, 2), stride=2, padding=1, dilation=(1, 2), bias=True).double()
    x = randn(2, 3, 10, 9)
    expected = layer(x).detach()
    for conv in (conv2d_naive, conv2d_im2col):
        assert_close(conv(x, layer.weight.detach(), layer.bias.detach(), 2, 1, (1, 2)), expected)


@pytest.mark.parametrize("conv", [conv2d_naive, conv2d_im2col], ids=["naive", "im2col"])
@pytest.mark.parametrize("kwargs,weight_shape,match", [
    (dict(groups=2), (4, 1, 3, 3), r"in_channels \(x.shape\[1\] = 3\) must be divisible by groups \(2\)"),
    (dict(groups=3), (4, 1, 3, 3), r"out_channels \(weight.shape\[0\] = 4\) must be divisible by groups \(3\)"),
    (dict(), (4, 2, 3, 3), r"weight must have shape \(out_channels, in_channels / groups, kh, kw\) = \(4, 3, 3, 3\)"),
    (dict(), (2, 3, 9, 3), r"kernel \(dilated size 9x3\) is larger than the padded input \(8x8\)"),
    (dict(dilation=4), (2, 3, 3, 3), r"kernel \(dilated size 9x9\) is larger than the padded input"),
    (dict(padding=-1), (2, 3, 3, 3), r"padding must be non-negative, got -1"),
    (dict(stride=0), (2, 3, 3, 3), r"stride must be positive, got 0"),
    (dict(groups=0), (2, 3, 3, 3), r"groups must be positive, got 0"),
    (dict(padding=(1, 2, 3)), (2, 3, 3, 3), r"padding must be an int or an \(h, w\) pair"),
])
def test_conv2d_rejects_bad_arguments_naming_the_argument(conv, kwargs, weight_shape, match):
    x = randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match=match):
        conv(x, randn(*weight_shape), **kwargs)


@pytest.mark.parametrize("conv", [conv2d_naive, conv2d_im2col], ids=["naive", "im2col"])
def test_conv2d_rejects_wrong_bias_and_non_4d_input(conv):
    with pytest.raises(ValueError, match=r"bias must have shape \(out_channels,\) = \(2,\), got \(3,\)"):
        conv(randn(1, 3, 5, 5), randn(2, 3, 3, 3), randn(3))
    with pytest.raises(ValueError, match=r"x must be a Tensor\[N, C, H, W\], got shape \(3, 5, 5\)"):
        conv(randn(3, 5, 5), randn(2, 3, 3, 3))


# --------------------------------------------------------------------------
# Section 4: bilinear_sample and deform_conv2d equal torchvision.ops.deform_conv2d
# --------------------------------------------------------------------------

def test_bilinear_sample_at_integer_points_reads_pixels_and_zero_outside():
    x = randn(2, 3, 4, 5)
    py = torch.tensor([[0.0, 3.0, 2.0, -1.0], [1.0, 0.0, 4.0, 0.0]], dtype=DTYPE)
    px = torch.tensor([[0.0, 4.0, 1.0, 0.0], [2.0, 0.0, 0.0, 5.0]], dtype=DTYPE)
    out = bilinear_sample(x, py, px)                     # (N, C, P)
    assert out.shape == (2, 3, 4)
    assert_close(out[0, :, 0], x[0, :, 0, 0])
    assert_close(out[0, :, 1], x[0, :, 3, 4])
    assert_close(out[0, :, 2], x[0, :, 2, 1])
    assert_close(out[1, :, 0], x[1, :, 1, 2])
    # row -1, row 4 (H = 4), column 5 (W = 5): outside, so zero
    for n, p in [(0, 3), (1, 2), (1, 3)]:
        assert torch.equal(out[n, :, p], torch.zeros(3, dtype=DTYPE))


def test_bilinear_sample_mixes_the_four_corners_and_fades_to_zero_at_the_border():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=DTYPE).view(1, 1, 2, 2)
    py = torch.tensor([[0.5, 0.25, -0.5, 1.5]], dtype=DTYPE)
    px = torch.tensor([[0.5, 0.75, 0.0, 1.0]], dtype=DTYPE)
    out = bilinear_sample(x, py, px).flatten()
    # centre: mean of four; (0.25, 0.75): 1 + 0.75*1 + 0.25*2; half a pixel outside: half the edge value
    expected = torch.tensor([2.5, 2.25, 0.5, 2.0], dtype=DTYPE)
    assert_close(out, expected)


def test_bilinear_sample_keeps_the_points_shape():
    x = randn(2, 3, 6, 6)
    py, px = randn(2, 4, 5, seed=1) * 3, randn(2, 4, 5, seed=2) * 3
    assert bilinear_sample(x, py, px).shape == (2, 3, 4, 5)
    with pytest.raises(ValueError, match="py and px must have the same shape"):
        bilinear_sample(x, py, px[:, :3])
    with pytest.raises(ValueError, match=r"py and px must have shape \(N, \.\.\.\) with N = x.shape\[0\] = 2"):
        bilinear_sample(x, py[:1], px[:1])


# (N, C, H, W), (O, kh, kw), stride, padding, dilation, offset_groups, weight_groups, bias, mask
DEFORM_CONFIGS = [
    ((1, 1, 5, 5), (1, 3, 3), 1, 0, 1, 1, 1, False, False),
    ((2, 3, 7, 7), (4, 3, 3), 1, 1, 1, 1, 1, True, False),
    ((2, 3, 8, 9), (4, 3, 3), 2, 1, 1, 1, 1, True, True),
    ((1, 2, 9, 7), (3, 3, 2), (1, 2), (2, 1), (2, 1), 1, 1, True, True),
    ((2, 4, 6, 6), (6, 3, 3), 1, 1, 1, 2, 1, True, True),   # offset groups
    ((2, 4, 6, 6), (6, 3, 3), 1, 1, 1, 4, 2, False, True),  # offset groups and weight groups
]


@pytest.mark.parametrize("x_shape,k,stride,padding,dilation,offset_groups,groups,with_bias,with_mask",
                         DEFORM_CONFIGS)
def test_deform_conv2d_equals_torchvision_with_random_offsets(x_shape, k, stride, padding, dilation,
                                                              offset_groups, groups, with_bias, with_mask):
    n, c, h, w = x_shape
    o, kh, kw = k
    x = randn(*x_shape, seed=1)
    weight = randn(o, c // groups, kh, kw, seed=2)
    bias = randn(o, seed=3) if with_bias else None
    h_out = F.conv2d(x, weight, None, stride, padding, dilation, groups).shape[2:]
    # offsets of a few pixels, so many points fall between pixels and some outside the image
    offset = 2.5 * randn(n, 2 * offset_groups * kh * kw, *h_out, seed=4)
    mask = torch.rand(n, offset_groups * kh * kw, *h_out, dtype=DTYPE,
                      generator=torch.Generator().manual_seed(5)) if with_mask else None
    expected = torchvision.ops.deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask)
    assert_close(deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask), expected)


def test_deform_conv2d_with_zero_offsets_is_conv2d():
    x, weight, bias = randn(2, 3, 8, 7, seed=1), randn(4, 3, 3, 3, seed=2), randn(4, seed=3)
    expected = F.conv2d(x, weight, bias, stride=2, padding=1, dilation=1)
    offset = torch.zeros(2, 2 * 9, *expected.shape[2:], dtype=DTYPE)
    assert_close(deform_conv2d(x, offset, weight, bias, stride=2, padding=1), expected)
    # and a mask of ones changes nothing
    mask = torch.ones(2, 9, *expected.shape[2:], dtype=DTYPE)
    assert_close(deform_conv2d(x, offset, weight, bias, stride=2, padding=1, mask=mask), expected)


def test_deform_conv2d_integer_offset_equals_conv2d_of_shifted_input():
    # every tap moved by (Δy, Δx) = (1, 0): output row i reads rows i + u instead of i - 1 + u,
    # i.e. a convolution whose zero padding moved from the top to the bottom
    x, weight = randn(1, 2, 6, 6, seed=1), randn(3, 2, 3, 3, seed=2)
    offset = torch.zeros(1, 18, 6, 6, dtype=DTYPE)
    offset[:, 0::2] = 1.0                                  # channels 0, 2, 4, ...: Δy of each tap
    moved = F.pad(x, (1, 1, 0, 2))                         # (left, right, top, bottom)
    assert_close(deform_conv2d(x, offset, weight, padding=1), F.conv2d(moved, weight))


def test_deform_conv2d_rejects_offsets_of_the_wrong_layout():
    x, weight = randn(1, 3, 6, 6), randn(2, 3, 3, 3)
    with pytest.raises(ValueError, match=r"offset must have shape \(N, 2\*offset_groups\*kh\*kw, H_out, W_out\) = "
                                         r"\(1, 2\*offset_groups\*9, 4, 4\), got \(1, 17, 4, 4\)"):
        deform_conv2d(x, torch.zeros(1, 17, 4, 4, dtype=DTYPE), weight)
    with pytest.raises(ValueError, match=r"got \(1, 18, 6, 6\)"):  # H_out of padding=1, not 0
        deform_conv2d(x, torch.zeros(1, 18, 6, 6, dtype=DTYPE), weight)
    with pytest.raises(ValueError, match=r"offset_groups \(offset.shape\[1\] / \(2\*kh\*kw\) = 2\) must be "
                                         r"positive and divide in_channels \(3\)"):
        deform_conv2d(x, torch.zeros(1, 36, 4, 4, dtype=DTYPE), weight)
    with pytest.raises(ValueError, match=r"mask must have shape \(N, offset_groups\*kh\*kw, H_out, W_out\) = "
                                         r"\(1, 9, 4, 4\)"):
        deform_conv2d(x, torch.zeros(1, 18, 4, 4, dtype=DTYPE), weight, mask=torch.ones(1, 18, 4, 4))
    with pytest.raises(ValueError, match=r"weight.shape\[1\] \(2\) must divide in_channels"):
        deform_conv2d(x, torch.zeros(1, 18, 4, 4, dtype=DTYPE), randn(2, 2, 3, 3))


# --------------------------------------------------------------------------
# Section 7: up-sampling equals F.interpolate and F.conv_transpose2d
# --------------------------------------------------------------------------

SCALES = [2, 3, 4, 0.5, 1.5, 2.5, 1.7, (2, 3), (1.3, 0.7)]


@pytest.mark.parametrize("scale", SCALES)
def test_upsample_nearest_equals_F_interpolate_nearest(scale):
    x = randn(2, 3, 5, 7)
    assert_close(upsample_nearest(x, scale), F.interpolate(x, scale_factor=scale, mode="nearest"))


def test_upsample_nearest_floors_like_pytorch_in_float32():
    # 11 / 2.2 is 4.999... in float64 but 11 * float32(1 / 2.2) floors to 5, which is what PyTorch reads
    x = randn(1, 1, 16, 3)
    assert_close(upsample_nearest(x, (2.2, 1)), F.interpolate(x, scale_factor=(2.2, 1), mode="nearest"))


def test_upsample_nearest_by_an_integer_makes_blocks():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=DTYPE).view(1, 1, 2, 2)
    expected = x.repeat_interleave(3, dim=2).repeat_interleave(3, dim=3)
    assert torch.equal(upsample_nearest(x, 3), expected)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("scale", SCALES)
def test_upsample_bilinear_equals_F_interpolate_bilinear(scale, align_corners):
    x = randn(2, 3, 5, 7)
    expected = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=align_corners)
    assert_close(upsample_bilinear(x, scale, align_corners=align_corners), expected)


def test_lecture_bilinear_2x2_to_4x4_example():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=DTYPE).view(1, 1, 2, 2)
    # align_corners=False (PyTorch's default): source coordinates -0.25→0, 0.25, 0.75, 1.25→1,
    # so the column weights are 0, 1/4, 3/4, 1 and every row is the row above plus a constant.
    half_pixel = torch.tensor([[1.00, 1.25, 1.75, 2.00],
                               [1.50, 1.75, 2.25, 2.50],
                               [2.50, 2.75, 3.25, 3.50],
                               [3.00, 3.25, 3.75, 4.00]], dtype=DTYPE)
    # align_corners=True: weights 0, 1/3, 2/3, 1
    corners = torch.tensor([[3, 4, 5, 6], [5, 6, 7, 8], [7, 8, 9, 10], [9, 10, 11, 12]], dtype=DTYPE) / 3
    got_false = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)[0, 0]
    got_true = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)[0, 0]
    assert_close(got_false, half_pixel)
    assert_close(got_true, corners)
    assert_close(upsample_bilinear(x, 2)[0, 0], half_pixel)
    assert_close(upsample_bilinear(x, 2, align_corners=True)[0, 0], corners)
    # The lecture's table is align_corners=False except ONE entry: row 2, column 3 (1-based) shows
    # 2.00, where align_corners=False gives 2.25 (and align_corners=True gives 7/3 = 2.33).
    # 2.00 breaks the table's own pattern: row 2 must be row 1 + 0.50 (1.75 + 0.50 = 2.25), and
    # the table must be point-symmetric, v[i, j] + v[3-i, 3-j] = 5 (2.75 + 2.25 = 5, not 4.75).
    lecture = torch.tensor([[1.00, 1.25, 1.75, 2.00],
                            [1.50, 1.75, 2.00, 2.50],
                            [2.50, 2.75, 3.25, 3.50],
                            [3.00, 3.25, 3.75, 4.00]], dtype=DTYPE)
    wrong = (lecture != got_false).nonzero().tolist()
    assert wrong == [[1, 2]]
    assert got_false[1, 2].item() == 2.25
    assert got_true[1, 2].item() == pytest.approx(7 / 3)
    assert lecture[1, 2] != got_true[1, 2]
    symmetric = lecture + lecture.flip(0, 1)
    assert (symmetric != 5).nonzero().tolist() == [[1, 2], [2, 1]]


@pytest.mark.parametrize("fn", [upsample_nearest, upsample_bilinear])
def test_upsample_rejects_bad_scale_factor(fn):
    x = randn(1, 1, 4, 4)
    for bad in (0, -2, float("inf"), "2", True):
        with pytest.raises(ValueError, match="scale_factor must be a positive number"):
            fn(x, bad)
    with pytest.raises(ValueError, match="shrinks the"):
        fn(x, 0.1)


# (N, C, H, W), (O, kh, kw), stride, padding, output_padding, dilation, bias
TRANSPOSE_CONFIGS = [
    ((1, 1, 3, 3), (1, 3, 3), 2, 0, 0, 1, False),
    ((2, 3, 4, 4), (2, 4, 4), 2, 1, 0, 1, True),           # the DCGAN up-sampler
    ((2, 3, 4, 5), (2, 3, 3), 2, 1, 1, 1, True),           # output_padding recovers the even size
    ((1, 2, 3, 4), (3, 3, 2), (3, 2), (2, 0), (1, 1), (1, 2), True),
    ((1, 2, 5, 5), (2, 3, 3), 1, 1, 0, 2, False),
    ((2, 2, 2, 3), (4, 1, 1), 3, 0, 2, 1, True),           # 1x1 copies, never overlapping
]


@pytest.mark.parametrize("x_shape,k,stride,padding,output_padding,dilation,with_bias", TRANSPOSE_CONFIGS)
def test_conv_transpose2d_equals_F_conv_transpose2d(x_shape, k, stride, padding, output_padding, dilation,
                                                    with_bias):
    x = randn(*x_shape, seed=1)
    weight = randn(x_shape[1], k[0], k[1], k[2], seed=2)
    bias = randn(k[0], seed=3) if with_bias else None
    expected = F.conv_transpose2d(x, weight, bias, stride, padding, output_padding, 1, dilation)
    assert_close(conv_transpose2d(x, weight, bias, stride, padding, output_padding, dilation), expected)


def test_conv_transpose2d_equals_nn_ConvTranspose2d_module():
    layer = nn.ConvTranspose2d(3, 4, kernel_size=3, stride=2, padding=1, output_padding=1).double()
    x = randn(2, 3, 5, 6)
    out = conv_transpose2d(x, layer.weight.detach(), layer.bias.detach(), stride=2, padding=1, output_padding=1)
    assert out.shape == (2, 4, 10, 12)
    assert_close(out, layer(x).detach())


def test_conv_transpose2d_of_ones_shows_the_checkerboard_overlap():
    # kernel 3, stride 2: interior pixels receive 1, 2 or 4 kernel copies
    out = conv_transpose2d(torch.ones(1, 1, 4, 4, dtype=DTYPE), torch.ones(1, 1, 3, 3, dtype=DTYPE), stride=2)
    assert sorted(out.unique().tolist()) == [1.0, 2.0, 4.0]
    assert out[0, 0, 2, 2] == 4 and out[0, 0, 2, 3] == 2 and out[0, 0, 3, 3] == 1


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    # <conv2d(x), y> = <x, conv_transpose2d(y)>: why it is called "transposed"
    x, weight = randn(1, 2, 7, 7, seed=1), randn(3, 2, 3, 3, seed=2)
    y = randn(1, 3, 4, 4, seed=3)
    lhs = (F.conv2d(x, weight, stride=2, padding=1) * y).sum()
    rhs = (x * conv_transpose2d(y, weight, stride=2, padding=1, output_padding=0)).sum()
    torch.testing.assert_close(lhs, rhs, **TOL)


@pytest.mark.parametrize("kwargs,match", [
    (dict(groups=2), r"conv_transpose2d implements groups=1 only, got groups=2"),
    (dict(stride=2, output_padding=2), r"output_padding \(2, 2\) must be smaller than stride \(2, 2\) or dilation"),
    (dict(padding=-1), r"padding must be non-negative, got -1"),
    (dict(padding=3), r"padding \(3, 3\) crops the whole 5x5 output away"),
    (dict(stride=0), r"stride must be positive"),
])
def test_conv_transpose2d_rejects_bad_arguments(kwargs, match):
    x, weight = randn(1, 2, 3, 3), randn(2, 2, 3, 3)
    with pytest.raises(ValueError, match=match):
        conv_transpose2d(x, weight, **kwargs)


def test_conv_transpose2d_rejects_conv2d_weight_layout():
    with pytest.raises(ValueError, match=r"weight must have shape \(in_channels, out_channels, kh, kw\) with "
                                         r"in_channels = x.shape\[1\] = 2"):
        conv_transpose2d(randn(1, 2, 3, 3), randn(4, 2, 3, 3))


# --------------------------------------------------------------------------
# Section 8: normalization equals nn.BatchNorm2d / LayerNorm / InstanceNorm2d / GroupNorm
# --------------------------------------------------------------------------

def test_normalize_gives_zero_mean_unit_biased_variance_over_dims():
    x = 3 + 2 * randn(4, 3, 5, 5)
    y = normalize(x, (0, 2, 3), eps=0.0)
    assert_close(y.mean((0, 2, 3)), torch.zeros(3, dtype=DTYPE))
    assert_close(y.var((0, 2, 3), correction=0), torch.ones(3, dtype=DTYPE))
    assert_close(normalize(x, 1), F.layer_norm(x.movedim(1, -1), (3,)).movedim(-1, 1))


def test_batch_norm_training_equals_BatchNorm2d_and_running_stats_after_several_steps():
    bn = nn.BatchNorm2d(3, momentum=0.2, eps=1e-3).double()
    with torch.no_grad():
        bn.weight.copy_(randn(3, seed=10))
        bn.bias.copy_(randn(3, seed=11))
    running_mean, running_var = torch.zeros(3, dtype=DTYPE), torch.ones(3, dtype=DTYPE)
    bn.train()
    for step in range(4):
        x = 1.5 * randn(4, 3, 5, 6, seed=step) + step
        expected = bn(x).detach()
        out = batch_norm(x, running_mean, running_var, bn.weight.detach(), bn.bias.detach(),
                         training=True, momentum=0.2, eps=1e-3)
        assert_close(out, expected)
        assert_close(running_mean, bn.running_mean)
        assert_close(running_var, bn.running_var)
    # eval mode: the running statistics, not the batch's
    bn.eval()
    x = randn(2, 3, 4, 4, seed=99)
    out = batch_norm(x, running_mean, running_var, bn.weight.detach(), bn.bias.detach(),
                     training=False, momentum=0.2, eps=1e-3)
    assert_close(out, bn(x).detach())


def test_batch_norm_running_var_uses_unbiased_variance_but_normalization_uses_biased():
    x = randn(2, 1, 2, 2, seed=3)                      # n = 8 values in the one channel
    n = 8
    running_mean, running_var = torch.zeros(1, dtype=DTYPE), torch.zeros(1, dtype=DTYPE)
    out = batch_norm(x, running_mean, running_var, training=True, momentum=1.0, eps=0.0)
    biased, unbiased = x.var(correction=0), x.var(correction=1)
    assert_close(running_var, unbiased.view(1))       # momentum 1: exactly the batch's unbiased variance
    assert_close(running_var, (biased * n / (n - 1)).view(1))
    assert_close(running_mean, x.mean().view(1))
    assert_close(out, (x - x.mean()) / biased.sqrt())  # normalized with the biased one
    assert_close(out.var(correction=0), torch.tensor(1.0, dtype=DTYPE))


def test_batch_norm_eval_does_not_touch_running_stats_and_none_stats_use_the_batch():
    x = randn(3, 2, 4, 4)
    running_mean, running_var = randn(2, seed=1), torch.rand(2, dtype=DTYPE) + 0.5
    saved = running_mean.clone(), running_var.clone()
    batch_norm(x, running_mean, running_var, training=False)
    assert torch.equal(running_mean, saved[0]) and torch.equal(running_var, saved[1])
    expected = F.batch_norm(x, None, None, training=True)
    assert_close(batch_norm(x, None, None, training=False), expected)


def test_batch_norm_equals_BatchNorm1d_on_vectors():
    bn = nn.BatchNorm1d(5).double().train()
    x = randn(8, 5)
    rm, rv = torch.zeros(5, dtype=DTYPE), torch.ones(5, dtype=DTYPE)
    assert_close(batch_norm(x, rm, rv, bn.weight.detach(), bn.bias.detach(), training=True), bn(x).detach())
    assert_close(rv, bn.running_var)


def test_batch_norm_rejects_one_value_per_channel_in_training():
    with pytest.raises(ValueError, match="more than 1 value per channel when training"):
        batch_norm(randn(1, 3, 1, 1), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean and running_var must both be"):
        batch_norm(randn(2, 3, 2, 2), torch.zeros(3), None, training=True)


@pytest.mark.parametrize("normalized_shape", [(6,), (4, 6), (3, 4, 6)])
def test_layer_norm_equals_nn_LayerNorm(normalized_shape):
    ln = nn.LayerNorm(normalized_shape, eps=1e-4).double()
    with torch.no_grad():
        ln.weight.copy_(randn(*normalized_shape, seed=1))
        ln.bias.copy_(randn(*normalized_shape, seed=2))
    x = randn(2, 3, 4, 6, seed=3)
    out = layer_norm(x, normalized_shape, ln.weight.detach(), ln.bias.detach(), eps=1e-4)
    assert_close(out, ln(x).detach())
    assert_close(layer_norm(x, normalized_shape), F.layer_norm(x, normalized_shape))


def test_layer_norm_rejects_a_shape_that_is_not_trailing():
    with pytest.raises(ValueError, match=r"normalized_shape \(3, 4\) must be the trailing shape of x"):
        layer_norm(randn(2, 3, 4, 6), (3, 4))


def test_instance_norm_equals_nn_InstanceNorm2d():
    x = 2 * randn(3, 4, 5, 6) + 1
    assert_close(instance_norm(x), nn.InstanceNorm2d(4)(x))
    affine = nn.InstanceNorm2d(4, affine=True, eps=1e-3).double()
    with torch.no_grad():
        affine.weight.copy_(randn(4, seed=1))
        affine.bias.copy_(randn(4, seed=2))
    out = instance_norm(x, eps=1e-3, weight=affine.weight.detach(), bias=affine.bias.detach())
    assert_close(out, affine(x).detach())


@pytest.mark.parametrize("num_groups", [1, 2, 3, 6])
def test_group_norm_equals_nn_GroupNorm(num_groups):
    gn = nn.GroupNorm(num_groups, 6, eps=1e-4).double()
    with torch.no_grad():
        gn.weight.copy_(randn(6, seed=1))
        gn.bias.copy_(randn(6, seed=2))
    x = randn(2, 6, 5, 4, seed=3)
    assert_close(group_norm(x, num_groups, gn.weight.detach(), gn.bias.detach(), eps=1e-4), gn(x).detach())


def test_group_norm_extremes_are_layer_norm_and_instance_norm():
    x = randn(2, 6, 5, 4)
    assert_close(group_norm(x, 1), layer_norm(x, (6, 5, 4)))
    assert_close(group_norm(x, 6), instance_norm(x))


def test_group_norm_rejects_groups_that_do_not_divide_channels():
    with pytest.raises(ValueError, match=r"num_channels \(x.shape\[1\] = 6\) must be divisible by num_groups \(4\)"):
        group_norm(randn(2, 6, 3, 3), 4)
    with pytest.raises(ValueError, match="num_groups must be positive"):
        group_norm(randn(2, 6, 3, 3), 0)


def test_norm_axes_describe_the_reductions_the_functions_use():
    assert NORM_AXES == {
        "batch": ("N", "H", "W"),
        "layer": ("C", "H", "W"),
        "instance": ("H", "W"),
        "group": ("C/G", "H", "W"),
    }
    letters = {"N": 0, "C": 1, "H": 2, "W": 3}
    x = randn(3, 4, 5, 5)
    for name, fn in [("batch", lambda t: batch_norm(t, None, None, training=True)),
                     ("layer", lambda t: layer_norm(t, t.shape[1:])),
                     ("instance", instance_norm)]:
        dims = tuple(letters[a] for a in NORM_AXES[name])
        assert_close(fn(x), normalize(x, dims))


# --------------------------------------------------------------------------
# Section 8: dropout
# --------------------------------------------------------------------------

def test_dropout_preserves_the_mean_within_statistical_tolerance():
    p, n = 0.3, 200_000
    x = torch.full((n,), 2.0, dtype=DTYPE)
    y = dropout(x, p, training=True, generator=torch.Generator().manual_seed(0))
    # each y is 2/(1-p) with probability 1-p, else 0: mean 2, std 2*sqrt(p/(1-p)); 5 standard errors
    std_error = 2 * (p / (1 - p)) ** 0.5 / n ** 0.5
    assert abs(y.mean().item() - 2.0) < 5 * std_error
    kept = (y != 0).double().mean().item()
    assert abs(kept - (1 - p)) < 5 * (p * (1 - p) / n) ** 0.5


def test_dropout_pattern_is_exact_zeros_and_scaled_values_given_a_generator():
    p = 0.4
    x = randn(4, 5, 6)
    y = dropout(x, p, training=True, generator=torch.Generator().manual_seed(7))
    keep = torch.rand(x.shape, generator=torch.Generator().manual_seed(7)) >= p
    assert torch.equal(y[~keep], torch.zeros_like(y[~keep]))
    assert_close(y[keep], x[keep] / (1 - p))
    # same seed, same mask
    again = dropout(x, p, training=True, generator=torch.Generator().manual_seed(7))
    assert torch.equal(y, again)


def test_dropout_is_identity_in_eval_and_at_p_zero_and_zeros_at_p_one():
    x = randn(3, 4)
    assert torch.equal(dropout(x, 0.5, training=False), x)
    assert torch.equal(dropout(x, 0.0, training=True), x)
    assert torch.equal(dropout(x, 1.0, training=True), torch.zeros_like(x))
    assert torch.equal(dropout(x, 1.0, training=True), F.dropout(x, 1.0, training=True))
    assert torch.equal(dropout(x, 0.5, training=False), F.dropout(x, 0.5, training=False))


def test_dropout_matches_F_dropout_scale():
    # F.dropout keeps a unit as x / (1 - p): the non-zero ratios are the same constant
    x = torch.ones(10_000, dtype=DTYPE)
    ours = dropout(x, 0.25, generator=torch.Generator().manual_seed(1))
    theirs = F.dropout(x, 0.25, training=True)
    assert set(ours.unique().tolist()) == set(theirs.unique().tolist()) == {0.0, 1 / 0.75}


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", True, None])
def test_dropout_rejects_p_outside_0_1(p):
    with pytest.raises(ValueError, match=r"dropout probability p must be a number with 0 <= p <= 1"):
        dropout(randn(3), p)
