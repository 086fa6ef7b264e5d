from otter.test_files import test_case

OK_FORMAT = False

name = "q8_residual"
points = [1]

@test_case(points=None, hidden=False)
def test_my_residual_block(MyResidualBlock):
    import torch
    import torch.nn.functional as F
    from helpers import checks
    g = torch.Generator().manual_seed(40)
    mine = checks.run_student(MyResidualBlock, 6, question='03_architectures/q8_residual')
    ref = {'conv1.weight': torch.randn(6, 6, 3, 3, generator=g, dtype=torch.float64), 'conv1.bias': torch.randn(6, generator=g, dtype=torch.float64), 'conv2.weight': torch.randn(6, 6, 3, 3, generator=g, dtype=torch.float64), 'conv2.bias': torch.randn(6, generator=g, dtype=torch.float64)}
    if not isinstance(mine, torch.nn.Module):
        raise checks.CheckFailed(f'MyResidualBlock(6): expected an nn.Module, got {type(mine).__name__}')
    mine = mine.double()
    try:
        mine.load_state_dict(ref, strict=True)
    except RuntimeError as e:
        raise checks.CheckFailed(f'MyResidualBlock(6) must have exactly conv1 and conv2 (3x3, with bias): {e}') from None
    x = torch.randn(2, 6, 5, 5, generator=g, dtype=torch.float64)
    branch = F.conv2d(F.relu(F.conv2d(x, ref['conv1.weight'], ref['conv1.bias'], padding=1)), ref['conv2.weight'], ref['conv2.bias'], padding=1)
    with torch.no_grad():
        got = checks.run_student(mine, x.clone(), name="MyResidualBlock(6)'s forward", question='03_architectures/q8_residual')
    checks.check_tensor('MyResidualBlock(6)(x)', got, F.relu(x + branch), atol=1e-09, mistakes={'shortcut forgotten? that is PlainBlock': F.relu(branch), 'ReLU after the sum forgotten?': x + branch, 'ReLU on the branch before the sum?': x + F.relu(branch)})

