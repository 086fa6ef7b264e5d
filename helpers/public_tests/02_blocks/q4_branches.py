from otter.test_files import test_case

OK_FORMAT = False

name = "q4_branches"
points = [1]

@test_case(points=None, hidden=False)
def test_resnext_as_branches_small(resnext_as_branches):
    import torch
    import torch.nn.functional as F
    from helpers import checks
    g = torch.Generator().manual_seed(62)
    x = torch.randn(1, 8, 5, 5, generator=g, dtype=torch.float64)
    w1 = torch.randn(8, 8, 1, 1, generator=g, dtype=torch.float64)
    w2 = torch.randn(8, 2, 3, 3, generator=g, dtype=torch.float64)
    w3 = torch.randn(8, 8, 1, 1, generator=g, dtype=torch.float64)
    got = checks.run_student(resnext_as_branches, x, w1, w2, w3, 4, question='02_blocks/q4_branches')
    expected = F.conv2d(F.relu(F.conv2d(F.relu(F.conv2d(x, w1)), w2, padding=1, groups=4)), w3)
    branches = [F.conv2d(F.relu(F.conv2d(F.relu(F.conv2d(x, w1[2 * i:2 * i + 2])), w2[2 * i:2 * i + 2], padding=1)), w3[:, 2 * i:2 * i + 2]) for i in range(4)]
    checks.check_tensor('resnext_as_branches(x, w1, w2, w3, 4)', got, expected, atol=1e-09, mistakes={"ReLU applied to each branch's output before the sum?": sum((F.relu(b) for b in branches)), 'branches averaged instead of summed?': sum(branches) / 4})

