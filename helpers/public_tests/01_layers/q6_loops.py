from otter.test_files import test_case

OK_FORMAT = False

name = "q6_loops"
points = [1]

@test_case(points=None, hidden=False)
def test_conv2d_loops_small(conv2d_loops):
    import torch
    import torch.nn.functional as F
    from helpers import checks
    g = torch.Generator().manual_seed(7)
    x = torch.randn(1, 2, 6, 6, generator=g, dtype=torch.float64)
    w = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64)
    got = checks.run_student(conv2d_loops, x, w, question='01_layers/q6_loops')
    checks.check_tensor('conv2d_loops(x, w)', got, F.conv2d(x, w), atol=1e-09)

