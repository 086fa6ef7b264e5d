from otter.test_files import test_case

OK_FORMAT = False

name = "q4_deform"
points = [1]

@test_case(points=None, hidden=False)
def test_deform_conv2d_zero_offsets_is_conv(my_deform_conv2d):
    import torch
    import torch.nn.functional as F
    from helpers import checks
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 2, 5, 5, generator=g, dtype=torch.float64)
    w = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64)
    offset = torch.zeros(1, 18, 5, 5, dtype=torch.float64)
    got = checks.run_student(my_deform_conv2d, x, offset, w, padding=1, question='01_layers/q4_deform')
    checks.check_tensor('my_deform_conv2d at zero offsets', got, F.conv2d(x, w, padding=1), atol=1e-09)

