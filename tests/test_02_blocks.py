"""Unit 02_blocks: the solutions pass every test case, and each hidden test fails for at least one
plausible wrong answer (a mutant), run in-process against otter's own test files."""
from __future__ import annotations

import course

UNIT = "02_blocks"

# name -> (question, code that replaces the answer). Each is a mistake students make.
MUTANTS: dict[str, tuple[str, str]] = {
    "bias counted in a VGG count that has no bias": ("q1_vgg_params", """
        def stack_params(channels, kernel_size, num_layers, bias=False):
            return num_layers * (channels * channels * kernel_size * kernel_size + channels)
    """),
    "bias never counted, even when the convolutions have one": ("q1_vgg_params", """
        def stack_params(channels, kernel_size, num_layers, bias=False):
            return num_layers * channels * channels * kernel_size * kernel_size
    """),
    "weight ratio given instead of the fraction saved": ("q1_vgg_numbers", """
        saving_two_3x3, saving_three_3x3 = 18 / 25, 27 / 49
    """),
    "max-pools ignored in the VGG receptive field": ("q1_vgg_numbers", """
        rf_vgg_two_blocks = 9
    """),
    "naive pooling branch projected to 32 channels as in module 3a": ("q2_numbers", """
        naive_out_channels = 64 + 128 + 32 + 32
    """),
    "naive module's channels without the pooling branch, for any configuration": ("q2_numbers", """
        def naive_inception_costs(in_channels, ch1x1, ch3x3, ch5x5, size):
            return ch1x1 + ch3x3 + ch5x5, in_channels * (ch1x1 + 9 * ch3x3 + 25 * ch5x5) * size * size
    """),
    "a K x K kernel counted as K taps in the naive module": ("q2_numbers", """
        def naive_inception_costs(in_channels, ch1x1, ch3x3, ch5x5, size):
            return ch1x1 + ch3x3 + ch5x5 + in_channels, in_channels * (ch1x1 + 3 * ch3x3 + 5 * ch5x5) * size * size
    """),
    "1x1 reductions forgotten in the branch costs": ("q2_costs", """
        def inception_costs(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, size, kernel5=5):
            def conv(c_in, c_out, k):
                return (c_in * k * k * c_out, c_in * k * k * c_out * size * size)
            return [conv(in_channels, ch1x1, 1), conv(in_channels, ch3x3, 3), conv(in_channels, ch5x5, kernel5),
                    conv(in_channels, pool_proj, 1)]
    """),
    "branch 3 always costed as a 5x5": ("q2_costs", """
        _right = inception_costs
        def inception_costs(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, size, kernel5=5):
            return _right(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, size)
    """),
    "torchvision's 3x3 thought to have more weights than the paper's 5x5": ("q2_torchvision", """
        paper_minus_torchvision_params = -16 * 32 * 16
    """),
    "projection shortcut missing": ("q3_basic_block", """
        class MyBasicBlock(nn.Module):
            expansion = 1
            def __init__(self, inplanes, planes, stride=1):
                super().__init__()
                self.conv1, self.bn1 = conv3x3(inplanes, planes, stride), nn.BatchNorm2d(planes)
                self.conv2, self.bn2 = conv3x3(planes, planes), nn.BatchNorm2d(planes)
                self.relu = nn.ReLU(inplace=True)
            def forward(self, x):
                out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
                return self.relu(out + x) if out.shape == x.shape else self.relu(out)
    """),
    "projection on every block, also where the identity fits": ("q3_basic_block", """
        class MyBasicBlock(nn.Module):
            expansion = 1
            def __init__(self, inplanes, planes, stride=1):
                super().__init__()
                self.conv1, self.bn1 = conv3x3(inplanes, planes, stride), nn.BatchNorm2d(planes)
                self.conv2, self.bn2 = conv3x3(planes, planes), nn.BatchNorm2d(planes)
                self.relu = nn.ReLU(inplace=True)
                self.downsample = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
            def forward(self, x):
                out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
                return self.relu(out + self.downsample(x))
    """),
    "basic block strides its second 3x3": ("q3_basic_block", """
        _Right = MyBasicBlock
        class MyBasicBlock(_Right):
            def __init__(self, inplanes, planes, stride=1):
                super().__init__(inplanes, planes, stride)
                self.conv1.stride, self.conv2.stride = (1, 1), (stride, stride)
    """),
    "stride on the 1x1 (ResNet v1) instead of the 3x3": ("q3_bottleneck", """
        _Right = MyBottleneck
        class MyBottleneck(_Right):
            def __init__(self, inplanes, planes, stride=1):
                super().__init__(inplanes, planes, stride)
                self.conv1.stride, self.conv2.stride = (stride, stride), (1, 1)
    """),
    "calls the reference block": ("q3_bottleneck", """
        class MyBottleneck(helpers.blocks.Bottleneck):
            def __init__(self, inplanes, planes, stride=1):
                downsample = None
                if stride != 1 or inplanes != planes * 4:
                    downsample = helpers.blocks.projection(inplanes, planes * 4, stride)
                super().__init__(inplanes, planes, stride, downsample)
    """),
    "bottleneck without the ReLU after the addition": ("q3_bottleneck", """
        _Right = MyBottleneck
        class MyBottleneck(_Right):
            def forward(self, x):
                identity = x if self.downsample is None else self.downsample(x)
                out = self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))
                return self.bn3(self.conv3(out)) + identity
    """),
    "v1 and v1.5 MACs swapped": ("q3_costs", """
        macs_v1, macs_v1_5 = macs_v1_5, macs_v1
    """),
    "bottleneck's 3x3 costed at 256 channels": ("q3_costs", """
        macs_bottleneck_256 = (256 * 64 + 256 * 9 * 256 + 64 * 256) * 56 * 56
    """),
    "projection forgotten in the bottleneck's MACs": ("q3_costs", """
        def bottleneck_macs(inplanes, planes, size, stride=1, stride_on_3x3=True):
            out = (size - 1) // stride + 1
            first = size if stride_on_3x3 else out
            return inplanes * planes * first * first + (planes * 9 * planes + planes * planes * 4) * out * out
    """),
    "the stride's place ignored: every bottleneck costed as v1.5": ("q3_costs", """
        _right = bottleneck_macs
        def bottleneck_macs(inplanes, planes, size, stride=1, stride_on_3x3=True):
            return _right(inplanes, planes, size, stride)
    """),
    "a stride-2 output taken as size // 2 (odd sizes)": ("q3_costs", """
        def bottleneck_macs(inplanes, planes, size, stride=1, stride_on_3x3=True):
            out = size // stride
            first = size if stride_on_3x3 else out
            macs = inplanes * planes * first * first + (planes * 9 * planes + planes * planes * 4) * out * out
            if stride != 1 or inplanes != planes * 4:
                macs += inplanes * planes * 4 * out * out
            return macs
    """),
    "groups taken as interleaved channels": ("q4_grouped", """
        def grouped_conv_by_groups(x, weight, groups, padding=0):
            ws = weight.chunk(groups, dim=0)
            return torch.cat([F.conv2d(x[:, g::groups], ws[g], padding=padding) for g in range(groups)], dim=1)
    """),
    "calls the grouped F.conv2d": ("q4_grouped", """
        def grouped_conv_by_groups(x, weight, groups, padding=0):
            return F.conv2d(x, weight, padding=padding, groups=groups)
    """),
    "ReLU on each branch's output before the sum": ("q4_branches", """
        def resnext_as_branches(x, w1, w2, w3, groups):
            d = w1.shape[0] // groups
            out = 0
            for g in range(groups):
                part = slice(g * d, (g + 1) * d)
                h = F.relu(F.conv2d(F.relu(F.conv2d(x, w1[part])), w2[part], padding=1))
                out = out + F.relu(F.conv2d(h, w3[:, part]))
            return out
    """),
    "groups ignored in the ResNeXt count": ("q4_count", """
        def bottleneck_params(inplanes, planes, stride=1, groups=1, base_width=64):
            width = int(planes * (base_width / 64.0)) * groups
            out = planes * 4
            params = inplanes * width + 2 * width + width * 9 * width + 2 * width + width * out + 2 * out
            if stride != 1 or inplanes != out:
                params += inplanes * out + 2 * out
            return params
    """),
    "batch-norm parameters forgotten": ("q4_count", """
        def bottleneck_params(inplanes, planes, stride=1, groups=1, base_width=64):
            width = int(planes * (base_width / 64.0)) * groups
            out = planes * 4
            params = inplanes * width + width // groups * 9 * width + width * out
            if stride != 1 or inplanes != out:
                params += inplanes * out
            return params
    """),
    "1/K instead of 1/K^2 in the separable ratio": ("q5_ratio", """
        def separable_ratio(c_out, kernel_size):
            return 1 / c_out + 1 / kernel_size
    """),
    "groups forgotten in the separable MACs": ("q5_ratio", """
        def separable_macs(c_in, c_out, kernel_size, h_out, w_out):
            return (kernel_size * kernel_size * c_in * c_in + c_in * c_out) * h_out * w_out
    """),
    "groups forgotten in the depthwise convolution": ("q5_block", """
        class MyDepthwiseSeparable(nn.Module):
            def __init__(self, in_channels, out_channels, stride=1):
                super().__init__()
                self.depthwise = ConvNormAct(in_channels, in_channels, kernel_size=3, stride=stride)
                self.pointwise = ConvNormAct(in_channels, out_channels, kernel_size=1)
            def forward(self, x):
                return self.pointwise(self.depthwise(x))
    """),
    "ReLU after the last 1x1 of the inverted residual": ("q6_inverted_residual", """
        _Right = MyInvertedResidual
        class MyInvertedResidual(_Right):
            def __init__(self, inp, oup, stride, expand_ratio):
                super().__init__(inp, oup, stride, expand_ratio)
                self.conv.append(nn.ReLU6())
    """),
    "residual whenever in == out, also at stride 2": ("q6_inverted_residual", """
        _Right = MyInvertedResidual
        class MyInvertedResidual(_Right):
            def __init__(self, inp, oup, stride, expand_ratio):
                super().__init__(inp, oup, stride, expand_ratio)
                self.use_res_connect = inp == oup
    """),
    "expansion convolution kept when t = 1": ("q6_inverted_residual", """
        class MyInvertedResidual(nn.Module):
            def __init__(self, inp, oup, stride, expand_ratio):
                super().__init__()
                hidden = int(round(inp * expand_ratio))
                self.use_res_connect = stride == 1 and inp == oup
                self.conv = nn.Sequential(
                    ConvNormAct(inp, hidden, kernel_size=1, activation_layer=nn.ReLU6),
                    ConvNormAct(hidden, hidden, stride=stride, groups=hidden, activation_layer=nn.ReLU6),
                    conv1x1(hidden, oup), nn.BatchNorm2d(oup))
            def forward(self, x):
                return x + self.conv(x) if self.use_res_connect else self.conv(x)
    """),
    "SE using max instead of average pooling": ("q6_se", """
        _Right = MySqueezeExcitation
        class MySqueezeExcitation(_Right):
            def forward(self, x):
                scale = torch.sigmoid(self.fc2(self.activation(self.fc1(x.amax(dim=(2, 3), keepdim=True)))))
                return scale * x
    """),
    "SE ignores its activation argument": ("q6_se", """
        _Right = MySqueezeExcitation
        class MySqueezeExcitation(_Right):
            def __init__(self, input_channels, squeeze_channels, activation=nn.ReLU):
                super().__init__(input_channels, squeeze_channels)
    """),
    "SE thought to keep the receptive field local": ("q6_global", """
        mbconv_se_is_global = False
    """),
    "MBConv's depthwise taken as 3x3": ("q6_global", """
        rf_mbconv_without_se = 3
    """),
    "torchvision's Inception taken to see what the paper's does": ("q7_rf", """
        rf_inception_torchvision = 5
    """),
    "v1's strided bottleneck taken to see 3x3 like v1.5": ("q7_rf", """
        rf_bottleneck_v1_stride2 = 3
    """),
    "receptive fields of stacked blocks added": ("q7_rf", """
        rf_three_basic_blocks, rf_three_bottlenecks = 15, 9
    """),
}


class TestRoundTrip(course.UnitRoundTrip):
    UNIT = UNIT
    MUTANTS = MUTANTS
