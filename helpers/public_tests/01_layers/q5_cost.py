from otter.test_files import test_case

OK_FORMAT = False

name = "q5_cost"
points = [1]

@test_case(points=None, hidden=False)
def test_conv_params_standard(conv_params):
    import torch
    import helpers
    from helpers import checks
    got = checks.run_student(conv_params, 16, 32, 3, question='01_layers/q5_cost')
    checks.check_int('conv_params(16, 32, 3)', got, helpers.count_params(torch.nn.Conv2d(16, 32, 3)), mistakes={'bias forgotten?': 16 * 9 * 32})

