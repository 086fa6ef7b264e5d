"""Unit 01_layers: the solutions pass every test case, and each hidden test fails for at least one
plausible wrong answer (a mutant), run in-process against otter's own test files."""
from __future__ import annotations

import course

UNIT = "01_layers"

# name -> (question, code that replaces the answer). Each is a mistake students make.
MUTANTS: dict[str, tuple[str, str]] = {
    "the receptive field's centre without the padding": ("q2_center", """
        def my_receptive_field_center(layers, index):
            r, S = 1, 1
            for k, s, p in layers:
                r += (k - 1) * S
                S *= s
            return index * S + (r - 1) / 2
    """),
    "where the field starts, not its centre": ("q2_center", """
        def my_receptive_field_center(layers, index):
            r, S, P = 1, 1, 0
            for k, s, p in layers:
                r += (k - 1) * S
                P += p * S
                S *= s
            return index * S - P
    """),
    "pointwise MACs as FLOPs": ("q5_pointwise", """
        pointwise_macs = 2 * 64 * 56 * 56 * 128
    """),
    "the 3x3 over the pointwise": ("q5_pointwise", """
        pointwise_over_3x3 = 9.0
    """),
    "a 3x3 kernel taken as 3 taps": ("q5_pointwise", """
        pointwise_over_3x3 = 1 / 3
    """),
    "the input's channels kept": ("q5_other", """
        def conv_output_shape(input_shape, out_channels, kernel_size, stride=1, padding=0):
            return (input_shape[0],) + tuple((n + 2 * padding - kernel_size) // stride + 1 for n in input_shape[1:])
    """),
    "one kernel size for every axis (tuples not read)": ("q5_other", """
        def conv_output_shape(input_shape, out_channels, kernel_size, stride=1, padding=0):
            first = lambda v: v[0] if isinstance(v, (tuple, list)) else v
            k, s, p = first(kernel_size), first(stride), first(padding)
            return (out_channels,) + tuple((n + 2 * p - k) // s + 1 for n in input_shape[1:])
    """),
    "the full network instead of an ensemble of thinned ones": ("q8_ensemble", """
        def thinned_ensemble(net, x, samples):
            net.eval()
            with torch.no_grad():
                return net(x)
    """),
    "the sum of the thinned networks, not their mean": ("q8_ensemble", """
        def thinned_ensemble(net, x, samples):
            was = net.training
            net.train()
            with torch.no_grad():
                total = sum(net(x) for _ in range(samples))
            net.train(was)
            return total
    """),
    "the network always left in evaluation mode": ("q8_ensemble", """
        def thinned_ensemble(net, x, samples):
            net.train()
            with torch.no_grad():
                total = sum(net(x) for _ in range(samples))
            net.eval()
            return total / samples
    """),
    "padding on one side only": ("q1_formula", """
        def my_conv_output_size(size, kernel_size, stride=1, padding=0):
            return (size - kernel_size + padding) // stride + 1
    """),
    "true division instead of floor": ("q1_formula", """
        def my_conv_output_size(size, kernel_size, stride=1, padding=0):
            return int(round((size - kernel_size + 2 * padding) / stride + 1))
    """),
    "max-pool forgotten in the shape trace": ("q1_shapes", """
        shapes = [(16, 64, 64), (16, 64, 64), (32, 32, 32), (64, 28, 28)]
    """),
    "max-pool forgotten in the shape trace of any size": ("q1_shapes", """
        def shapes_for(size):
            h1 = my_conv_output_size(size, 3, padding=1)
            h3 = my_conv_output_size(h1, 3, stride=2, padding=1)
            h4 = my_conv_output_size(h3, 5)
            return [(16, h1, h1), (16, h1, h1), (32, h3, h3), (64, h4, h4)]
    """),
    "a stride-2 layer taken to halve the size exactly": ("q1_shapes", """
        def shapes_for(size):
            h1 = size
            h2 = h1 // 2
            h3 = h2 // 2
            h4 = h3 - 4
            return [(16, h1, h1), (16, h2, h2), (32, h3, h3), (64, h4, h4)]
    """),
    "the max-pool rounds up (ceil) instead of down": ("q1_shapes", """
        def shapes_for(size):
            h1 = my_conv_output_size(size, 3, padding=1)
            h2 = -(-h1 // 2)
            h3 = my_conv_output_size(h2, 3, stride=2, padding=1)
            h4 = my_conv_output_size(h3, 5)
            return [(16, h1, h1), (16, h2, h2), (32, h3, h3), (64, h4, h4)]
    """),
    "receptive-field padding not scaled by the stride": ("q2_recurrence", """
        def my_receptive_field(layers):
            r, S, P = 1, 1, 0
            for k, s, p in layers:
                r += (k - 1) * S
                P += p
                S *= s
            return r, S, P
    """),
    "stride updated before the size": ("q2_numbers", """
        rf_three_3x3, rf_two_strided, jump_two_strided = 7, 11, 4
    """),
    "dilation ignored in the effective kernel": ("q3_dilation", """
        def my_effective_kernel_size(kernel_size, dilation):
            return kernel_size
        dilated_output_width, rf_dilation_stack = 3, 9
    """),
    "bilinear sampling clamps at the border instead of reading zeros": ("q4_bilinear", """
        def my_bilinear_sample(img, y, x):
            H, W = img.shape
            y = min(max(y, 0.0), H - 1.0)
            x = min(max(x, 0.0), W - 1.0)
            y0, x0 = min(math.floor(y), H - 2), min(math.floor(x), W - 2)
            wy, wx = y - y0, x - x0
            return ((1 - wy) * (1 - wx) * img[y0, x0] + (1 - wy) * wx * img[y0, x0 + 1]
                    + wy * (1 - wx) * img[y0 + 1, x0] + wy * wx * img[y0 + 1, x0 + 1])
    """),
    "deformable offsets read as (dx, dy)": ("q4_deform", """
        _right = my_deform_conv2d
        def my_deform_conv2d(x, offset, weight, padding=0):
            N, K2, H, W = offset.shape
            swapped = offset.view(N, K2 // 2, 2, H, W).flip(2).reshape(N, K2, H, W)
            return _right(x, swapped, weight, padding)
    """),
    "groups ignored in parameters and MACs": ("q5_cost", """
        def conv_params(c_in, c_out, kernel_size, groups=1, bias=True):
            return c_in * kernel_size * kernel_size * c_out + (c_out if bias else 0)
        def conv_macs(c_in, c_out, kernel_size, h_out, w_out, groups=1):
            return c_in * kernel_size * kernel_size * h_out * w_out * c_out
        def separable_ratio(c_out, kernel_size):
            return (conv_macs(64, 64, kernel_size, 56, 56, 64) + conv_macs(64, c_out, 1, 56, 56)) / conv_macs(
                64, c_out, kernel_size, 56, 56)
    """),
    "bias forgotten in the parameter count": ("q5_cost", """
        def conv_params(c_in, c_out, kernel_size, groups=1, bias=True):
            return c_in // groups * kernel_size * kernel_size * c_out
    """),
    "loops pad one side only": ("q6_loops", """
        _right = conv2d_loops
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            x = F.pad(x, (padding, 0, padding, 0))
            return _right(x, weight, bias, stride, 0)
    """),
    "im2col ignores dilation, groups and non-square kernels": ("q6_im2col", """
        def conv2d_im2col(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
            N, C_in, H, W = x.shape
            C_out, _, k, _ = weight.shape
            H_out = (H + 2 * padding - k) // stride + 1
            cols = F.unfold(x, k, padding=padding, stride=stride)
            out = (weight.reshape(C_out, -1) @ cols).view(N, C_out, H_out, -1)
            return out if bias is None else out + bias.view(1, -1, 1, 1)
    """),
    "nearest up-sampling tiles instead of repeating pixels": ("q7_upsample", """
        def upsample_nearest_mine(x, scale):
            return x.repeat(1, 1, scale, scale)
    """),
    "align_corners confused": ("q7_upsample", """
        _right = upsample_bilinear_mine
        def upsample_bilinear_mine(x, scale, align_corners=False):
            return _right(x, scale, align_corners=not align_corners)
    """),
    "wrong entry transposed, value left as printed": ("q7_table", """
        wrong_entry, correct_value = (2, 1), 2.0
    """),
    "output_padding ignored, padding not cropped": ("q7_transposed", """
        def my_conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0):
            return (size - 1) * stride - 2 * padding + kernel_size
        _right = conv_transpose2d_scatter
        def conv_transpose2d_scatter(x, weight, stride=1, padding=0):
            return _right(x, weight, stride, 0)
    """),
    "normalization with the unbiased variance": ("q8_norms", """
        def normalize_mine(x, dims, eps=1e-5):
            mean = x.mean(dim=dims, keepdim=True)
            return (x - mean) / torch.sqrt(x.var(dim=dims, keepdim=True, unbiased=True) + eps)
    """),
    "group norm splits channels the wrong way": ("q8_norms", """
        def group_norm_mine(x, num_groups, eps=1e-5):
            N, C, H, W = x.shape
            return normalize_mine(x.view(N, C // num_groups, num_groups, H, W), (1, 3, 4), eps).view(N, C, H, W)
    """),
    "batch norm stores the biased variance": ("q8_running", """
        def bn_running_update(running_mean, running_var, x, momentum=0.1):
            mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
            return (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var
    """),
    "dropout without the 1/(1-p) rescale": ("q8_dropout", """
        def dropout_mine(x, p, training=True):
            return x * (torch.rand_like(x) >= p).to(x.dtype) if training else x
    """),
    "calls F.conv2d instead of implementing it": ("q6_im2col", """
        def conv2d_im2col(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
            return F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    """),
    "calls the course's reference implementation": ("q6_loops", """
        from helpers.layers import conv2d_im2col as _ref
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            return _ref(x, weight, bias, stride=stride, padding=padding)
    """),
}


class TestRoundTrip(course.UnitRoundTrip):
    UNIT = UNIT
    MUTANTS = MUTANTS
