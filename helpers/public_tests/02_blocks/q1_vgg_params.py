from otter.test_files import test_case

OK_FORMAT = False

name = "q1_vgg_params"
points = [1]

@test_case(points=None, hidden=False)
def test_stack_params_two_3x3(stack_params):
    import torch
    import helpers
    from helpers import checks
    stack = torch.nn.Sequential(*[torch.nn.Conv2d(64, 64, 3, padding=1, bias=False) for _ in range(2)])
    got = checks.run_student(stack_params, 64, 3, 2, question='02_blocks/q1_vgg_params')
    checks.check_int('stack_params(64, 3, 2)', got, helpers.count_params(stack), mistakes={'bias counted, but these convolutions have none (bias=False)?': 18 * 64 * 64 + 2 * 64, 'one layer counted instead of two?': 9 * 64 * 64})

