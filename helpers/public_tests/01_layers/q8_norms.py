from otter.test_files import test_case

OK_FORMAT = False

name = "q8_norms"
points = [1]

@test_case(points=None, hidden=False)
def test_batch_norm_axes(normalize_mine, BN_DIMS):
    import torch
    from helpers import checks
    x = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(16), dtype=torch.float64)
    ref = torch.nn.BatchNorm2d(3, affine=False, track_running_stats=False).double()(x)
    got = checks.run_student(normalize_mine, x, BN_DIMS, question='01_layers/q8_norms')
    var_unbiased = x.var(dim=(0, 2, 3), keepdim=True, unbiased=True)
    checks.check_tensor(f'normalize_mine(x, BN_DIMS={BN_DIMS})', got, ref, atol=1e-09, mistakes={'unbiased variance (count - 1) used?': (x - x.mean(dim=(0, 2, 3), keepdim=True)) / torch.sqrt(var_unbiased + 1e-05)})

