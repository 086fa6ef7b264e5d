from otter.test_files import test_case

OK_FORMAT = False

name = "q0_lenet"
points = [1]

@test_case(points=None, hidden=False)
def test_lenet5_params_total(lenet5_params):
    from helpers import checks
    if not isinstance(lenet5_params, dict) or sorted(lenet5_params) != sorted(['C1', 'S2', 'C3', 'S4', 'C5', 'F6']):
        raise checks.CheckFailed(f'lenet5_params must be a dict with the keys C1, S2, C3, S4, C5, F6; got {lenet5_params!r}')
    checks.check_int('lenet5_params["C1"]', lenet5_params['C1'], 156, mistakes={'each of the six maps also has a bias': 150})
    total = sum(lenet5_params.values()) if all((type(v) is int for v in lenet5_params.values())) else None
    checks.check_int('the sum of lenet5_params', total, 60000, mistakes={'C3 is not connected to every S2 map (Table I)': 60900, 'S2 and S4 have a trainable coefficient and bias per map': 59956})

