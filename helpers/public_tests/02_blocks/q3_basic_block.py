from otter.test_files import test_case

OK_FORMAT = False

name = "q3_basic_block"
points = [1, 1]

@test_case(points=None, hidden=False)
def test_basic_block_identity_shortcut(MyBasicBlock):
    import torch
    from torchvision.models import resnet as tv
    from helpers import blocks, checks
    randomized = checks.randomized
    load_into = checks.load_reference_weights
    ref = randomized(tv.BasicBlock(16, 16), seed=0)
    mine = load_into(checks.run_student(MyBasicBlock, 16, 16, stride=1, question='02_blocks/q3_basic_block'), ref, 'MyBasicBlock(16, 16)', True)
    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        branch = ref.bn2(ref.conv2(ref.relu(ref.bn1(ref.conv1(x)))))
        got = checks.run_student(mine, x.clone(), name="MyBasicBlock(16, 16)'s forward", question='02_blocks/q3_basic_block')
    checks.check_tensor('MyBasicBlock(16, 16)(x)', got, torch.relu(branch + x), atol=1e-09, mistakes={'shortcut forgotten? G(x) = x + F(x)': torch.relu(branch), 'ReLU after the addition forgotten?': branch + x, 'ReLU applied to F(x) before the addition instead of after it?': torch.relu(branch) + x})

@test_case(points=None, hidden=False)
def test_basic_block_projection_shortcut(MyBasicBlock):
    import torch
    import torch.nn.functional as F
    from torchvision.models import resnet as tv
    from helpers import blocks, checks
    randomized = checks.randomized
    load_into = checks.load_reference_weights
    projection = torch.nn.Sequential(tv.conv1x1(16, 32, 2), torch.nn.BatchNorm2d(32))
    ref = randomized(tv.BasicBlock(16, 32, 2, downsample=projection), seed=2)
    mine = load_into(checks.run_student(MyBasicBlock, 16, 32, stride=2, question='02_blocks/q3_basic_block'), ref, 'MyBasicBlock(16, 32, stride=2)', True)
    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        expected = ref(x.clone())
        late = ref.bn2(F.conv2d(ref.relu(ref.bn1(F.conv2d(x, ref.conv1.weight, padding=1))), ref.conv2.weight, stride=2, padding=1))
        got = checks.run_student(mine, x.clone(), name="MyBasicBlock(16, 32, stride=2)'s forward", question='02_blocks/q3_basic_block')
    checks.check_tensor('MyBasicBlock(16, 32, stride=2)(x)', got, expected, atol=1e-09, mistakes={'stride on conv2 instead of conv1?': torch.relu(late + ref.downsample(x))})

