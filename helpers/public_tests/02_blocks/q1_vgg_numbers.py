from otter.test_files import test_case

OK_FORMAT = False

name = "q1_vgg_numbers"
points = [1]

@test_case(points=None, hidden=False)
def test_saving_two_3x3(saving_two_3x3):
    import torch
    import helpers
    from helpers import checks
    two = helpers.count_params(torch.nn.Sequential(*[torch.nn.Conv2d(64, 64, 3, bias=False) for _ in range(2)]))
    one = helpers.count_params(torch.nn.Conv2d(64, 64, 5, bias=False))
    checks.check_number('saving_two_3x3', saving_two_3x3, 1 - two / one, mistakes={'that is the ratio of the weights, not the fraction saved': two / one})

