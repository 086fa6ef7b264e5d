from otter.test_files import test_case

OK_FORMAT = False

name = "q8_running"
points = [1]

@test_case(points=None, hidden=False)
def test_bn_running_update_one_step(bn_running_update):
    import torch
    from helpers import checks
    x = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(19), dtype=torch.float64)
    bn = torch.nn.BatchNorm2d(3).double().train()
    bn(x)
    got = checks.run_student(bn_running_update, torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64), x, question='01_layers/q8_running')
    if not isinstance(got, tuple) or len(got) != 2:
        raise checks.CheckFailed(f'bn_running_update must return (running_mean, running_var), got {type(got).__name__}')
    checks.check_tensor('running_mean', got[0], bn.running_mean)
    biased = 0.9 + 0.1 * x.var(dim=(0, 2, 3), unbiased=False)
    checks.check_tensor('running_var', got[1], bn.running_var, mistakes={'biased variance stored? PyTorch stores the unbiased one': biased})

