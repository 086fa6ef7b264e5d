from otter.test_files import test_case

OK_FORMAT = False

name = "q2_numbers"
points = [1, 2]

@test_case(points=None, hidden=False)
def test_out_channels_3a(out_channels_3a):
    import torch
    from torchvision.models.googlenet import Inception
    from helpers import checks
    with torch.no_grad():
        out = Inception(192, 64, 96, 128, 16, 32, 32).eval()(torch.zeros(1, 192, 8, 8))
    checks.check_int('out_channels_3a', out_channels_3a, int(out.shape[1]), mistakes={'the 1x1 reductions (96, 16) are inside branches, not outputs': 64 + 96 + 128 + 16 + 32 + 32})

@test_case(points=None, hidden=False)
def test_naive_inception_costs_4a(naive_inception_costs):
    import torch
    from torch import nn
    import helpers
    from helpers import checks

    class Naive(nn.Module):

        def __init__(self, c, a, b, d):
            super().__init__()
            self.b1, self.b2 = (nn.Conv2d(c, a, 1, bias=False), nn.Conv2d(c, b, 3, padding=1, bias=False))
            self.b3, self.b4 = (nn.Conv2d(c, d, 5, padding=2, bias=False), nn.MaxPool2d(3, 1, 1))

        def forward(self, x):
            return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)
    with torch.device('meta'):
        naive = Naive(480, 192, 208, 48)
        channels = int(naive(torch.empty(1, 480, 14, 14)).shape[1])
    macs = helpers.count_macs(naive, (480, 14, 14))
    got = checks.run_student(naive_inception_costs, 480, 192, 208, 48, 14, question='02_blocks/q2_numbers')
    if type(got) not in (tuple, list) or len(got) != 2:
        raise checks.CheckFailed(f'naive_inception_costs must return an (out_channels, macs) pair, got {got!r}')
    checks.check_int('naive_inception_costs(480, 192, 208, 48, 14)[0] (channels)', got[0], channels, mistakes={'the pooling branch passes all input channels through': 192 + 208 + 48})
    checks.check_int('naive_inception_costs(480, 192, 208, 48, 14)[1] (MACs)', got[1], macs, mistakes={'a K x K kernel has K^2 taps, not K': 480 * (192 + 3 * 208 + 5 * 48) * 14 * 14})

