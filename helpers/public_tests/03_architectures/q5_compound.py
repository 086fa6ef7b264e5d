from otter.test_files import test_case

OK_FORMAT = False

name = "q5_compound"
points = [1]

@test_case(points=None, hidden=False)
def test_compound_scaling(compound_scaling, flops_growth):
    from helpers import checks
    got = checks.run_student(compound_scaling, 1, question='03_architectures/q5_compound')
    if type(got) not in (tuple, list) or len(got) != 3:
        raise checks.CheckFailed(f'compound_scaling must return (depth_mult, width_mult, resolution_mult), got {got!r}')
    for name, value, expected in zip(('depth_mult', 'width_mult', 'resolution_mult'), got, (1.2, 1.1, 1.15)):
        checks.check_number(f'compound_scaling(1) {name}', value, expected)
    checks.check_number('flops_growth', flops_growth, 1.2 * 1.1 ** 2 * 1.15 ** 2, mistakes={'width and resolution enter squared: alpha * beta**2 * gamma**2': 1.2 * 1.1 * 1.15})

