from otter.test_files import test_case

OK_FORMAT = False

name = "q6_inverted_residual"
points = [1, 1]

@test_case(points=None, hidden=False)
def test_inverted_residual_with_shortcut(MyInvertedResidual):
    import torch
    from torchvision.models import efficientnet as tv_eff
    from torchvision.models import mobilenetv2 as tv
    from helpers import blocks, checks
    FORBID = (tv.InvertedResidual.forward, tv_eff.MBConv.forward, blocks.InvertedResidual.forward, blocks.MBConv.forward)

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
    ref = randomized(tv.InvertedResidual(16, 16, 1, 6), seed=80)
    mine = load_into(checks.run_student(MyInvertedResidual, 16, 16, 1, 6, functions=FORBID), ref, 'MyInvertedResidual(16, 16, 1, 6)', True)
    x = torch.randn(2, 16, 6, 6, generator=torch.Generator().manual_seed(81), dtype=torch.float64)
    with torch.no_grad():
        branch = ref.conv(x.clone())
        got = checks.run_student(mine, x.clone(), functions=FORBID, name="MyInvertedResidual(16, 16, 1, 6)'s forward")
    linear = "ReLU after the last 1x1 of the inverted residual: MobileNetV2's bottleneck is linear"
    checks.check_tensor('MyInvertedResidual(16, 16, 1, 6)(x)', got, x + branch, atol=1e-09, mistakes={linear: x + branch.clamp(0, 6), linear + ' ': x + branch.clamp(min=0), linear + ' (and the sum clipped too)': (x + branch).clamp(0, 6), 'shortcut forgotten: stride 1 and inp == oup, so the input is added': branch})

@test_case(points=None, hidden=False)
def test_inverted_residual_without_shortcut(MyInvertedResidual):
    import torch
    from torchvision.models import efficientnet as tv_eff
    from torchvision.models import mobilenetv2 as tv
    from helpers import blocks, checks
    FORBID = (tv.InvertedResidual.forward, tv_eff.MBConv.forward, blocks.InvertedResidual.forward, blocks.MBConv.forward)

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
    ref = randomized(tv.InvertedResidual(16, 24, 2, 6), seed=82)
    mine = load_into(checks.run_student(MyInvertedResidual, 16, 24, 2, 6, functions=FORBID), ref, 'MyInvertedResidual(16, 24, 2, 6)', True)
    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(83), dtype=torch.float64)
    with torch.no_grad():
        expected = ref(x.clone())
        got = checks.run_student(mine, x.clone(), functions=FORBID, name="MyInvertedResidual(16, 24, 2, 6)'s forward")
    linear = "ReLU after the last 1x1 of the inverted residual: MobileNetV2's bottleneck is linear"
    checks.check_tensor('MyInvertedResidual(16, 24, 2, 6)(x)', got, expected, atol=1e-09, mistakes={linear: expected.clamp(0, 6), linear + ' ': expected.clamp(min=0)})

