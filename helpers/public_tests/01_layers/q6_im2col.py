from otter.test_files import test_case

OK_FORMAT = False

name = "q6_im2col"
points = [1]

@test_case(points=None, hidden=False)
def test_conv2d_im2col_plain(conv2d_im2col):
    import torch
    import torch.nn.functional as F
    from helpers import checks
    g = torch.Generator().manual_seed(9)
    x = torch.randn(2, 4, 7, 7, generator=g, dtype=torch.float64)
    w = torch.randn(6, 4, 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    got = checks.run_student(conv2d_im2col, x, w, b, padding=1, question='01_layers/q6_im2col')
    checks.check_tensor('conv2d_im2col(x, w, b, padding=1)', got, F.conv2d(x, w, b, padding=1), atol=1e-09, mistakes={'bias forgotten?': F.conv2d(x, w, padding=1)})

