from otter.test_files import test_case

OK_FORMAT = False

name = "q3_bottleneck"
points = [1, 1]

@test_case(points=None, hidden=False)
def test_bottleneck_identity_shortcut(MyBottleneck):
    import torch
    from torchvision.models import resnet as tv
    from helpers import blocks, checks
    FORBID = (tv.BasicBlock.forward, tv.Bottleneck.forward, blocks.BasicBlock.forward, blocks.Bottleneck.forward)

    def randomized(module, seed):
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for key, t in module.state_dict().items():
                if t.is_floating_point():
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5 if key.endswith('running_var') else 0.5 * torch.randn(t.shape, generator=g))
        return module.double().eval()

    def load_into(mine, ref, what, reveal):
        if not isinstance(mine, torch.nn.Module):
            raise checks.CheckFailed(f'{what}: expected an nn.Module, got {type(mine).__name__}')
        mine = mine.double().eval()
        theirs, ours = (ref.state_dict(), mine.state_dict())
        missing, extra = (sorted(set(theirs) - set(ours)), sorted(set(ours) - set(theirs)))
        wrong = [k for k in theirs if k in ours and tuple(ours[k].shape) != tuple(theirs[k].shape)]
        if not (missing or extra or wrong):
            mine.load_state_dict(theirs, strict=True)
            return mine

        def conv_layers(keys):
            return {k.split('.conv.')[-1].split('.')[0] for k in ('.' + k for k in keys) if '.conv.' in k}
        hint = ''
        if missing and all(('downsample' in k.split('.') for k in missing)):
            hint = ": projection shortcut missing: the block changes channels or resolution, so its shortcut needs `downsample` (a 1x1 conv with the block's stride, then batch norm)"
        elif extra and all(('downsample' in k.split('.') for k in extra)):
            hint = ': projection where none is needed: with stride 1 and as many channels out as in, the shortcut is the identity (no parameters)'
        elif any((k.endswith('.bias') and k[:-5] + '.weight' in ours and (ours[k[:-5] + '.weight'].ndim == 4) for k in extra)):
            hint = ': a convolution has a bias, but a batch norm follows it, so it has none (bias=False)'
        elif len(conv_layers(ours)) > len(conv_layers(theirs)):
            hint = ': `conv` has a layer too many: with expand_ratio == 1 there is no expansion convolution'
        elif 0 < len(conv_layers(ours)) < len(conv_layers(theirs)):
            hint = ': `conv` lacks a layer: with expand_ratio != 1 the block starts with a 1x1 expansion (ConvNormAct)'
        elif any((theirs[k].ndim == 4 and theirs[k].shape[1] == 1 and (ours[k].shape[1] != 1) and (ours[k].shape[2:] == theirs[k].shape[2:]) for k in wrong)):
            hint = ': groups forgotten: a depthwise convolution has groups = channels, its weight is (C, 1, k, k)'
        if reveal:
            shapes = ', '.join((f'{k} (yours {tuple(ours[k].shape)}, reference {tuple(theirs[k].shape)})' for k in wrong))
            detail = f" (missing: {missing}; unexpected: {extra}; shapes differ: {shapes or 'none'})"
        else:
            detail = ' (parameter names or shapes differ)'
        raise checks.CheckFailed(f"{what}: the reference block's weights do not load into yours with strict=True{detail}{hint}")
    checks.check_int('MyBottleneck.expansion', getattr(MyBottleneck, 'expansion', None), 4)
    ref = randomized(tv.Bottleneck(64, 16), seed=30)
    mine = load_into(checks.run_student(MyBottleneck, 64, 16, stride=1, functions=FORBID), ref, 'MyBottleneck(64, 16)', True)
    x = torch.randn(2, 64, 6, 6, generator=torch.Generator().manual_seed(31), dtype=torch.float64)
    with torch.no_grad():
        out = ref.bn3(ref.conv3(ref.relu(ref.bn2(ref.conv2(ref.relu(ref.bn1(ref.conv1(x))))))))
        got = checks.run_student(mine, x.clone(), functions=FORBID, name="MyBottleneck(64, 16)'s forward")
    checks.check_tensor('MyBottleneck(64, 16)(x)', got, torch.relu(out + x), atol=1e-09, mistakes={'shortcut forgotten? G(x) = x + F(x)': torch.relu(out), 'ReLU after the addition forgotten?': out + x})

@test_case(points=None, hidden=False)
def test_bottleneck_stride_on_the_3x3(MyBottleneck):
    import torch
    from torchvision.models import resnet as tv
    from helpers import blocks, checks
    FORBID = (tv.BasicBlock.forward, tv.Bottleneck.forward, blocks.BasicBlock.forward, blocks.Bottleneck.forward)

    def randomized(module, seed):
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for key, t in module.state_dict().items():
                if t.is_floating_point():
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5 if key.endswith('running_var') else 0.5 * torch.randn(t.shape, generator=g))
        return module.double().eval()

    def load_into(mine, ref, what, reveal):
        if not isinstance(mine, torch.nn.Module):
            raise checks.CheckFailed(f'{what}: expected an nn.Module, got {type(mine).__name__}')
        mine = mine.double().eval()
        theirs, ours = (ref.state_dict(), mine.state_dict())
        missing, extra = (sorted(set(theirs) - set(ours)), sorted(set(ours) - set(theirs)))
        wrong = [k for k in theirs if k in ours and tuple(ours[k].shape) != tuple(theirs[k].shape)]
        if not (missing or extra or wrong):
            mine.load_state_dict(theirs, strict=True)
            return mine

        def conv_layers(keys):
            return {k.split('.conv.')[-1].split('.')[0] for k in ('.' + k for k in keys) if '.conv.' in k}
        hint = ''
        if missing and all(('downsample' in k.split('.') for k in missing)):
            hint = ": projection shortcut missing: the block changes channels or resolution, so its shortcut needs `downsample` (a 1x1 conv with the block's stride, then batch norm)"
        elif extra and all(('downsample' in k.split('.') for k in extra)):
            hint = ': projection where none is needed: with stride 1 and as many channels out as in, the shortcut is the identity (no parameters)'
        elif any((k.endswith('.bias') and k[:-5] + '.weight' in ours and (ours[k[:-5] + '.weight'].ndim == 4) for k in extra)):
            hint = ': a convolution has a bias, but a batch norm follows it, so it has none (bias=False)'
        elif len(conv_layers(ours)) > len(conv_layers(theirs)):
            hint = ': `conv` has a layer too many: with expand_ratio == 1 there is no expansion convolution'
        elif 0 < len(conv_layers(ours)) < len(conv_layers(theirs)):
            hint = ': `conv` lacks a layer: with expand_ratio != 1 the block starts with a 1x1 expansion (ConvNormAct)'
        elif any((theirs[k].ndim == 4 and theirs[k].shape[1] == 1 and (ours[k].shape[1] != 1) and (ours[k].shape[2:] == theirs[k].shape[2:]) for k in wrong)):
            hint = ': groups forgotten: a depthwise convolution has groups = channels, its weight is (C, 1, k, k)'
        if reveal:
            shapes = ', '.join((f'{k} (yours {tuple(ours[k].shape)}, reference {tuple(theirs[k].shape)})' for k in wrong))
            detail = f" (missing: {missing}; unexpected: {extra}; shapes differ: {shapes or 'none'})"
        else:
            detail = ' (parameter names or shapes differ)'
        raise checks.CheckFailed(f"{what}: the reference block's weights do not load into yours with strict=True{detail}{hint}")
    downsample = torch.nn.Sequential(tv.conv1x1(32, 64, 2), torch.nn.BatchNorm2d(64))
    ref = randomized(tv.Bottleneck(32, 16, 2, downsample=downsample), seed=32)
    v1 = blocks.Bottleneck(32, 16, 2, downsample=blocks.projection(32, 64, 2), stride_on_3x3=False).double().eval()
    v1.load_state_dict(ref.state_dict())
    mine = load_into(checks.run_student(MyBottleneck, 32, 16, stride=2, functions=FORBID), ref, 'MyBottleneck(32, 16, stride=2)', True)
    x = torch.randn(2, 32, 8, 8, generator=torch.Generator().manual_seed(33), dtype=torch.float64)
    with torch.no_grad():
        expected, stride_on_1x1 = (ref(x.clone()), v1(x.clone()))
        got = checks.run_student(mine, x.clone(), functions=FORBID, name="MyBottleneck(32, 16, stride=2)'s forward")
    checks.check_tensor('MyBottleneck(32, 16, stride=2)(x)', got, expected, atol=1e-09, mistakes={'stride on the 1x1 (ResNet v1) instead of the 3x3 (v1.5)?': stride_on_1x1})

