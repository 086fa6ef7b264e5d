from otter.test_files import test_case

OK_FORMAT = False

name = "q5_pointwise"
points = [1]

@test_case(points=None, hidden=False)
def test_pointwise_macs(pointwise_macs):
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from helpers import checks
    with torch.device('meta'), FlopCounterMode(display=False) as counter:
        torch.nn.Conv2d(64, 128, 1, bias=False)(torch.empty(1, 64, 56, 56))
    macs = counter.get_total_flops() // 2
    checks.check_int('pointwise_macs', pointwise_macs, macs, mistakes={'those are FLOPs (2 per MAC)': 2 * macs, "that is the 3x3 convolution's cost": 9 * macs})

