from otter.test_files import test_case

OK_FORMAT = False

name = "q4_grouped"
points = [1]

@test_case(points=None, hidden=False)
def test_grouped_conv_by_groups_small(grouped_conv_by_groups):
    import torch
    import torch.nn.functional as F
    from helpers import checks
    g = torch.Generator().manual_seed(60)
    x = torch.randn(1, 4, 5, 5, generator=g, dtype=torch.float64)
    w = torch.randn(6, 2, 3, 3, generator=g, dtype=torch.float64)
    got = checks.run_student(grouped_conv_by_groups, x, w, 2, padding=1, question='02_blocks/q4_grouped')
    interleaved = torch.cat([F.conv2d(x[:, i::2], w[3 * i:3 * i + 3], padding=1) for i in range(2)], 1)
    checks.check_tensor('grouped_conv_by_groups(x, w, 2, padding=1)', got, F.conv2d(x, w, padding=1, groups=2), atol=1e-09, mistakes={'channels taken interleaved (x[:, g::G]) instead of in consecutive blocks?': interleaved})

