from otter.test_files import test_case

OK_FORMAT = False

name = "q2_numbers"
points = [1]

@test_case(points=None, hidden=False)
def test_rf_three_3x3(rf_three_3x3):
    import torch
    import helpers
    from helpers import checks
    net = torch.nn.Sequential(*[torch.nn.Conv2d(1, 1, 3) for _ in range(3)])
    expected = helpers.empirical_receptive_field(net, (1, 32, 32)).size
    checks.check_int('rf_three_3x3', rf_three_3x3, expected, mistakes={'stride-1 layers each add k - 1 = 2': 9})

