from otter.test_files import test_case

OK_FORMAT = False

name = "q2_costs"
points = [1]

@test_case(points=None, hidden=False)
def test_inception_costs_3a(inception_costs):
    import torch
    from torch import nn
    import helpers
    from helpers import checks

    def conv(i, o, k):
        return nn.Conv2d(i, o, k, padding=k // 2, bias=False)
    branches = [conv(192, 64, 1), nn.Sequential(conv(192, 96, 1), conv(96, 128, 3)), nn.Sequential(conv(192, 16, 1), conv(16, 32, 5)), nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(192, 32, 1))]
    got = checks.run_student(inception_costs, 192, 64, 96, 128, 16, 32, 32, 28, question='02_blocks/q2_costs')
    if type(got) not in (list, tuple) or len(got) != 4 or any((type(p) not in (list, tuple) or len(p) != 2 for p in got)):
        raise checks.CheckFailed(f'inception_costs must return four (params, macs) pairs, got {got!r}')
    unreduced = {1: (192 * 9 * 128, 192 * 9 * 128 * 784), 2: (192 * 25 * 32, 192 * 25 * 32 * 784)}
    for i, branch in enumerate(branches):
        params, macs = (helpers.count_params(branch), helpers.count_macs(branch, (192, 28, 28)))
        checks.check_int(f'inception 3a, branch {i + 1} params', got[i][0], params, mistakes={'1x1 reduction forgotten?': unreduced.get(i, (None,))[0]})
        checks.check_int(f'inception 3a, branch {i + 1} MACs', got[i][1], macs, mistakes={'1x1 reduction forgotten?': unreduced.get(i, (None, None))[1]})

