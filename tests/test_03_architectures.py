"""Unit 03_architectures: the solutions pass every test case, and each hidden test fails for at least
one plausible wrong answer (a mutant), run in-process against otter's own test files."""
from __future__ import annotations

import course

UNIT = "03_architectures"

# name -> (question, code that replaces the answer). Each is a mistake students make.
MUTANTS: dict[str, tuple[str, str]] = {
    "C3 connected to every S2 map": ("q0_lenet", """
        lenet5_params = dict(lenet5_params, C3=16 * (6 * 25 + 1))
    """),
    "subsampling without its trainable coefficient and bias": ("q0_lenet", """
        lenet5_params = dict(lenet5_params, S2=0, S4=0)
    """),
    "C5 without its biases": ("q0_lenet", """
        lenet5_params = dict(lenet5_params, C5=120 * 16 * 25, F6=lenet5_params["F6"] + 120)
    """),
    "VGG stage MACs as FLOPs": ("q1_vgg_stages", """
        _right = vgg_stage_macs
        def vgg_stage_macs(cfg, size=224):
            return [2 * m for m in _right(cfg, size)]
    """),
    "the lecture's rule taken as fact: every stage as stage 4": ("q1_vgg_stages", """
        _right = vgg_stage_macs
        def vgg_stage_macs(cfg, size=224):
            stages = _right(cfg, size)
            return [stages[3]] * len(stages)
    """),
    "the classifier counted in stage 5": ("q1_vgg_stages", """
        _right = vgg_stage_macs
        def vgg_stage_macs(cfg, size=224):
            stages = _right(cfg, size)
            return stages[:-1] + [stages[-1] + 512 * 7 * 7 * 4096 + 4096 * 4096 + 4096 * 1000]
    """),
    "the first VGG convolution taken to read 64 channels": ("q1_vgg_stages", """
        def vgg_stage_macs(cfg, size=224):
            stages, macs, c = [], 0, cfg[0]
            for v in cfg:
                if v == "M":
                    stages.append(macs)
                    macs, size = 0, size // 2
                else:
                    macs, c = macs + 9 * c * v * size * size, v
            return stages
    """),
    "the size halved rounding up after a max-pool": ("q1_vgg_stages", """
        def vgg_stage_macs(cfg, size=224):
            stages, macs, c = [], 0, 3
            for v in cfg:
                if v == "M":
                    stages.append(macs)
                    macs, size = 0, -(-size // 2)
                else:
                    macs, c = macs + 9 * c * v * size * size, v
            return stages
    """),
    "VGG16's stage MACs typed, whatever the column": ("q1_vgg_stages", """
        _vgg16 = vgg_stage_macs(VGG_CONFIGS["vgg16"])
        def vgg_stage_macs(cfg, size=224):
            return list(_vgg16)
    """),
    "VGG batch norm placed after the ReLU": ("q1_vgg_layers", """
        def make_vgg_layers(cfg, batch_norm=False):
            layers, c = [], 3
            for v in cfg:
                if v == "M":
                    layers.append(nn.MaxPool2d(2, 2))
                    continue
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)] + ([nn.BatchNorm2d(v)] if batch_norm else [])
                c = v
            return nn.Sequential(*layers)
    """),
    "VGG batch_norm argument ignored": ("q1_vgg_layers", """
        _right = make_vgg_layers
        def make_vgg_layers(cfg, batch_norm=False):
            return _right(cfg)
    """),
    "VGG convolutions without padding": ("q1_vgg_layers", """
        _right = make_vgg_layers
        def make_vgg_layers(cfg, batch_norm=False):
            net = _right(cfg, batch_norm)
            for m in net:
                if isinstance(m, nn.Conv2d):
                    m.padding = (0, 0)
            return net
    """),
    "calls torchvision's make_layers": ("q1_vgg_layers", """
        from torchvision.models import vgg as _tv_vgg
        def make_vgg_layers(cfg, batch_norm=False):
            return _tv_vgg.make_layers(cfg, batch_norm)
    """),
    "biases left out of the cost split": ("q1_cost_split", """
        def cost_split(net, input_size):
            macs = macs_by_module(net, input_size)
            split = {"conv_params": 0, "fc_params": 0, "conv_macs": 0, "fc_macs": 0}
            for name, m in net.named_modules():
                kind = "conv" if isinstance(m, nn.Conv2d) else "fc" if isinstance(m, nn.Linear) else None
                if kind:
                    split[kind + "_params"] += m.weight.numel()
                    split[kind + "_macs"] += macs[name]
            return split
    """),
    "AlexNet's 54.25 rounded up": ("q1_alexnet", """
        conv1_out_224_no_padding = 55
    """),
    "largest input giving 55 instead of the smallest": ("q1_alexnet", """
        conv1_input_for_55 = 230
    """),
    "VGG16's last stage taken to double the channels": ("q1_alexnet", """
        vgg16_stage_shapes = [(64, 112, 112), (128, 56, 56), (256, 28, 28), (512, 14, 14), (1024, 7, 7)]
    """),
    "1x1 reductions counted as Inception outputs": ("q2_inception_stack", """
        def inception_channels(table, in_channels=192):
            pairs = []
            for row in table.values():
                pairs.append((in_channels, sum(row)))
                in_channels = sum(row)
            return pairs
    """),
    "5x5 extra parameters of module 3a only": ("q2_paper_vs_torchvision", """
        googlenet_5x5_extra_params = 16 * 32 * 16
    """),
    "the 3x3 branch enlarged instead of the 5x5 one": ("q2_paper_vs_torchvision", """
        def extra_params_5x5(table):
            return sum(row[1] * row[2] * (25 - 9) for row in table.values())
        googlenet_5x5_extra_params = extra_params_5x5(GOOGLENET_INCEPTIONS)
    """),
    "all the 5x5 weights counted, not what they add over the 3x3": ("q2_paper_vs_torchvision", """
        def extra_params_5x5(table):
            return sum(row[3] * row[4] * 25 for row in table.values())
        googlenet_5x5_extra_params = extra_params_5x5(GOOGLENET_INCEPTIONS)
    """),
    "GoogLeNet's extra parameters typed, whatever the table": ("q2_paper_vs_torchvision", """
        def extra_params_5x5(table):
            return googlenet_5x5_extra_params
    """),
    "wrong stage counts for ResNet-152": ("q3_stages", """
        RESNET_STAGES = dict(RESNET_STAGES, resnet152=("bottleneck", [3, 4, 36, 3]))
    """),
    "ResNet-50 built from basic blocks": ("q3_stages", """
        RESNET_STAGES = dict(RESNET_STAGES, resnet50=("basic", [3, 4, 6, 3]))
    """),
    "projection only where the stride changes": ("q3_resnet", """
        _Right = MyResNet
        class MyResNet(_Right):
            def _make_stage(self, block, planes, num_blocks, stride):
                downsample = None
                if stride != 1:
                    downsample = nn.Sequential(blocks.conv1x1(self.inplanes, planes * block.expansion, stride),
                                               nn.BatchNorm2d(planes * block.expansion))
                stage = [block(self.inplanes, planes, stride, downsample)]
                self.inplanes = planes * block.expansion
                stage += [block(self.inplanes, planes) for _ in range(1, num_blocks)]
                return nn.Sequential(*stage)
    """),
    "layer1 strided like the other stages": ("q3_resnet", """
        _Right = MyResNet
        class MyResNet(_Right):
            def _make_stage(self, block, planes, num_blocks, stride):
                return _Right._make_stage(self, block, planes, num_blocks, 2)
    """),
    "subclasses torchvision's ResNet": ("q3_resnet", """
        class MyResNet(tv_resnet.ResNet):
            pass
    """),
    "ResNet-101 counted with ResNet-50's stages": ("q3_costs", """
        resnet_params = dict(resnet_params, resnet101=helpers.count_params(on_meta(MyResNet, tv_resnet.Bottleneck, [3, 4, 6, 3])))
    """),
    "to_v1 moves nothing": ("q3_costs", """
        def to_v1(net):
            return net
    """),
    "MobileNetV2 channels not rounded to multiples of 8": ("q4_mobilenet", """
        class MyMobileNetV2(nn.Module):
            def __init__(self, width_mult=1.0, num_classes=1000, dropout=0.2):
                super().__init__()
                c_in, last = int(32 * width_mult), int(1280 * max(1.0, width_mult))
                layers = [ConvNormAct(3, c_in, stride=2, activation_layer=nn.ReLU6)]
                for t, c, n, s in MOBILENET_V2_SETTINGS:
                    for i in range(n):
                        layers.append(tv_mobilenetv2.InvertedResidual(c_in, int(c * width_mult), s if i == 0 else 1, t))
                        c_in = int(c * width_mult)
                layers.append(ConvNormAct(c_in, last, kernel_size=1, activation_layer=nn.ReLU6))
                self.features = nn.Sequential(*layers)
                self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
            def forward(self, x):
                return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))
    """),
    "MobileNetV2's last convolution narrowed with the width": ("q4_mobilenet", """
        _Right = MyMobileNetV2
        class MyMobileNetV2(nn.Module):
            def __init__(self, width_mult=1.0, num_classes=1000, dropout=0.2):
                super().__init__()
                net = _Right(width_mult, num_classes, dropout)
                last = make_divisible(1280 * width_mult)
                c_in = net.features[-1][0].in_channels
                net.features[-1] = ConvNormAct(c_in, last, kernel_size=1, activation_layer=nn.ReLU6)
                self.features = net.features
                self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
            forward = _Right.forward
    """),
    "calls torchvision's MobileNetV2": ("q4_mobilenet", """
        def MyMobileNetV2(width_mult=1.0, num_classes=1000, dropout=0.2):
            return tv_mobilenetv2.MobileNetV2(num_classes=num_classes, width_mult=width_mult, dropout=dropout)
    """),
    "classifier's bias forgotten": ("q4_parts", """
        mobilenet_v2_parts = dict(mobilenet_v2_parts, classifier=1280 * 1000)
    """),
    "running statistics counted as batch-norm parameters": ("q4_parts", """
        mobilenet_v2_bn_params = 2 * mobilenet_v2_bn_params
    """),
    "compound scaling linear in phi": ("q5_compound", """
        def compound_scaling(phi, alpha=1.2, beta=1.1, gamma=1.15):
            return 1 + (alpha - 1) * phi, 1 + (beta - 1) * phi, 1 + (gamma - 1) * phi
    """),
    "width and resolution not squared in the FLOPs growth": ("q5_compound", """
        flops_growth = 1.2 * 1.1 * 1.15
    """),
    "EfficientNet channels not rounded to multiples of 8": ("q5_plan", """
        def efficientnet_plan(width_mult, depth_mult, stages=EFFICIENTNET_B0_STAGES):
            return [MBConvConfig(s.expand_ratio, s.kernel, s.stride, int(s.input_channels * width_mult),
                                 int(s.out_channels * width_mult), math.ceil(s.num_layers * depth_mult)) for s in stages]
    """),
    "EfficientNet repeats rounded to nearest instead of up": ("q5_plan", """
        def efficientnet_plan(width_mult, depth_mult, stages=EFFICIENTNET_B0_STAGES):
            return [MBConvConfig(s.expand_ratio, s.kernel, s.stride,
                                 MBConvConfig.adjust_channels(s.input_channels, width_mult),
                                 MBConvConfig.adjust_channels(s.out_channels, width_mult),
                                 round(s.num_layers * depth_mult)) for s in stages]
    """),
    "ConvNeXt block with ReLU": ("q6_block", """
        _Right = MyCNBlock
        class MyCNBlock(_Right):
            def __init__(self, dim, layer_scale=1e-6):
                super().__init__(dim, layer_scale)
                self.block[4] = nn.ReLU()
    """),
    "layer scale always initialised to 1": ("q6_block", """
        _Right = MyCNBlock
        class MyCNBlock(_Right):
            def __init__(self, dim, layer_scale=1e-6):
                super().__init__(dim, 1.0)
    """),
    "ConvNeXt block with BatchNorm": ("q6_block", """
        _Right = MyCNBlock
        class MyCNBlock(_Right):
            def __init__(self, dim, layer_scale=1e-6):
                super().__init__(dim, layer_scale)
                self.block[2] = nn.Identity()
                self.block[0] = nn.Sequential(self.block[0], nn.BatchNorm2d(dim))
    """),
    "ResNet's widths for ConvNeXt-T": ("q6_numbers", """
        convnext_t_dims = [64, 128, 256, 512]
    """),
    "ConvNeXt's stem taken with stride 2": ("q6_numbers", """
        _right = convnext_stage_sizes
        def convnext_stage_sizes(size=224):
            return [2 * s for s in _right(size)]
    """),
    "ConvNeXt's stem taken as ResNet's (7x7/2, then a 3x3/2 max-pool with padding)": ("q6_numbers", """
        def convnext_stage_sizes(size=224):
            size = (size + 2 * 3 - 7) // 2 + 1
            sizes = [(size + 2 - 3) // 2 + 1]
            for _ in range(3):
                sizes.append((sizes[-1] - 2) // 2 + 1)
            return sizes
    """),
    "ConvNeXt's stage sizes typed for 224": ("q6_numbers", """
        def convnext_stage_sizes(size=224):
            return [56, 28, 14, 7]
    """),
    "receptive field grown by each layer's own stride": ("q7_rf", """
        def chain_receptive_field(layers):
            size = 1
            for k, s in layers:
                size += (k - 1) * s
            return size
    """),
    "MobileNetV2 taken as global too": ("q7_global", """
        global_networks = {"efficientnet_b0", "mobilenet_v2"}
    """),
    "Pareto front with strict dominance only": ("q7_pareto", """
        def pareto_names(points):
            front = [p for p in points if not any(q[1] > p[1] and q[2] < p[2] for q in points)]
            return [n for n, _, _ in sorted(front, key=lambda p: p[2])]
    """),
    "Pareto front unordered": ("q7_pareto", """
        _right = pareto_names
        def pareto_names(points):
            return sorted(_right(points))
    """),
    "residual block without the shortcut, curves rerun": ("q8_claim", """
        class MyResidualBlock(PlainBlock):
            pass
        curves = {}
        for label, block in [("plain", PlainBlock), ("residual", MyResidualBlock)]:
            torch.manual_seed(0)
            curves[label] = train(deep_net(block), X, y, 150)
    """),
    "last step's loss instead of the mean of the last 10": ("q8_claim", """
        plain_final_loss, residual_final_loss = curves["plain"][-1], curves["residual"][-1]
    """),
    "ReLU on the branch before the sum": ("q8_residual", """
        _Right = MyResidualBlock
        class MyResidualBlock(_Right):
            def forward(self, x):
                return x + F.relu(self.conv2(F.relu(self.conv1(x))))
    """),
}


class TestRoundTrip(course.UnitRoundTrip):
    UNIT = UNIT
    MUTANTS = MUTANTS
