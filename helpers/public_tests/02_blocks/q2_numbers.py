from otter.test_files import test_case

OK_FORMAT = False

name = "q2_numbers"
points = [1]

@test_case(points=None, hidden=False)
def test_out_channels_3a(out_channels_3a):
    import torch
    from torchvision.models.googlenet import Inception
    from helpers import checks
    with torch.no_grad():
        out = Inception(192, 64, 96, 128, 16, 32, 32).eval()(torch.zeros(1, 192, 8, 8))
    checks.check_int('out_channels_3a', out_channels_3a, int(out.shape[1]), mistakes={'the 1x1 reductions (96, 16) are inside branches, not outputs': 64 + 96 + 128 + 16 + 32 + 32})

