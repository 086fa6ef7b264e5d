from otter.test_files import test_case

OK_FORMAT = False

name = "q3_bottleneck"
points = [1, 1]

@test_case(points=None, hidden=False)
def test_bottleneck_identity_shortcut(MyBottleneck):
    import torch
    from torchvision.models import resnet as tv
    from helpers import blocks, checks
    randomized = checks.randomized
    load_into = checks.load_reference_weights
    checks.check_int('MyBottleneck.expansion', getattr(MyBottleneck, 'expansion', None), 4)
    ref = randomized(tv.Bottleneck(64, 16), seed=30)
    mine = load_into(checks.run_student(MyBottleneck, 64, 16, stride=1, question='02_blocks/q3_bottleneck'), ref, 'MyBottleneck(64, 16)', True)
    x = torch.randn(2, 64, 6, 6, generator=torch.Generator().manual_seed(31), dtype=torch.float64)
    with torch.no_grad():
        out = ref.bn3(ref.conv3(ref.relu(ref.bn2(ref.conv2(ref.relu(ref.bn1(ref.conv1(x))))))))
        got = checks.run_student(mine, x.clone(), name="MyBottleneck(64, 16)'s forward", question='02_blocks/q3_bottleneck')
    checks.check_tensor('MyBottleneck(64, 16)(x)', got, torch.relu(out + x), atol=1e-09, mistakes={'shortcut forgotten? G(x) = x + F(x)': torch.relu(out), 'ReLU after the addition forgotten?': out + x})

@test_case(points=None, hidden=False)
def test_bottleneck_stride_on_the_3x3(MyBottleneck):
    import torch
    from torchvision.models import resnet as tv
    from helpers import blocks, checks
    randomized = checks.randomized
    load_into = checks.load_reference_weights
    downsample = torch.nn.Sequential(tv.conv1x1(32, 64, 2), torch.nn.BatchNorm2d(64))
    ref = randomized(tv.Bottleneck(32, 16, 2, downsample=downsample), seed=32)
    v1 = blocks.Bottleneck(32, 16, 2, downsample=blocks.projection(32, 64, 2), stride_on_3x3=False).double().eval()
    v1.load_state_dict(ref.state_dict())
    mine = load_into(checks.run_student(MyBottleneck, 32, 16, stride=2, question='02_blocks/q3_bottleneck'), ref, 'MyBottleneck(32, 16, stride=2)', True)
    x = torch.randn(2, 32, 8, 8, generator=torch.Generator().manual_seed(33), dtype=torch.float64)
    with torch.no_grad():
        expected, stride_on_1x1 = (ref(x.clone()), v1(x.clone()))
        got = checks.run_student(mine, x.clone(), name="MyBottleneck(32, 16, stride=2)'s forward", question='02_blocks/q3_bottleneck')
    checks.check_tensor('MyBottleneck(32, 16, stride=2)(x)', got, expected, atol=1e-09, mistakes={'stride on the 1x1 (ResNet v1) instead of the 3x3 (v1.5)?': stride_on_1x1})

