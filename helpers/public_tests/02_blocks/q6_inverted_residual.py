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
    randomized = checks.randomized
    load_into = checks.load_reference_weights
    ref = randomized(tv.InvertedResidual(16, 16, 1, 6), seed=80)
    mine = load_into(checks.run_student(MyInvertedResidual, 16, 16, 1, 6, question='02_blocks/q6_inverted_residual'), ref, 'MyInvertedResidual(16, 16, 1, 6)', True)
    x = torch.randn(2, 16, 6, 6, generator=torch.Generator().manual_seed(81), dtype=torch.float64)
    with torch.no_grad():
        branch = ref.conv(x.clone())
        got = checks.run_student(mine, x.clone(), name="MyInvertedResidual(16, 16, 1, 6)'s forward", question='02_blocks/q6_inverted_residual')
    linear = "ReLU after the last 1x1 of the inverted residual: MobileNetV2's bottleneck is linear"
    checks.check_tensor('MyInvertedResidual(16, 16, 1, 6)(x)', got, x + branch, atol=1e-09, mistakes={linear: x + branch.clamp(0, 6), linear + ' ': x + branch.clamp(min=0), linear + ' (and the sum clipped too)': (x + branch).clamp(0, 6), 'shortcut forgotten: stride 1 and inp == oup, so the input is added': branch})

@test_case(points=None, hidden=False)
def test_inverted_residual_without_shortcut(MyInvertedResidual):
    import torch
    from torchvision.models import efficientnet as tv_eff
    from torchvision.models import mobilenetv2 as tv
    from helpers import blocks, checks
    randomized = checks.randomized
    load_into = checks.load_reference_weights
    ref = randomized(tv.InvertedResidual(16, 24, 2, 6), seed=82)
    mine = load_into(checks.run_student(MyInvertedResidual, 16, 24, 2, 6, question='02_blocks/q6_inverted_residual'), ref, 'MyInvertedResidual(16, 24, 2, 6)', True)
    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(83), dtype=torch.float64)
    with torch.no_grad():
        expected = ref(x.clone())
        got = checks.run_student(mine, x.clone(), name="MyInvertedResidual(16, 24, 2, 6)'s forward", question='02_blocks/q6_inverted_residual')
    linear = "ReLU after the last 1x1 of the inverted residual: MobileNetV2's bottleneck is linear"
    checks.check_tensor('MyInvertedResidual(16, 24, 2, 6)(x)', got, expected, atol=1e-09, mistakes={linear: expected.clamp(0, 6), linear + ' ': expected.clamp(min=0)})

