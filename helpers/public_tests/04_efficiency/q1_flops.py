from otter.test_files import test_case

OK_FORMAT = False

name = "q1_flops"
points = [1]

@test_case(points=None, hidden=False)
def test_small_macs(small_macs):
    import torch
    from torch import nn
    import helpers
    from helpers import checks
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 16 * 16, 10))
    macs = helpers.count_macs(net, (3, 32, 32))
    checks.check_int('small_macs', small_macs, macs, mistakes={'those are FLOPs (2 per MAC), not MACs': 2 * macs, "biases are not MACs in torchvision's convention": macs + 16 * 32 * 32 + 10})

