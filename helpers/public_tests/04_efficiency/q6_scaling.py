from otter.test_files import test_case

OK_FORMAT = False

name = "q6_scaling"
points = [1, 1]

@test_case(points=None, hidden=False)
def test_predicted_macs(predicted_macs):
    from helpers import checks
    b0 = 385814752
    got = checks.run_student(predicted_macs, 2, b0, question='04_efficiency/q6_scaling')
    checks.check_number('predicted_macs(2, b0)', got, b0 * (1.2 * 1.1 ** 2 * 1.15 ** 2) ** 2, rel=1e-09, mistakes={'the squares forgotten: width and resolution count twice': b0 * (1.2 * 1.1 * 1.15) ** 2, '2^phi is the target, the coefficients give 1.92^phi': b0 * 4.0})

@test_case(points=None, hidden=False)
def test_choose_phi(choose_phi):
    from helpers import checks
    b0 = 385814752
    got = checks.run_student(choose_phi, 3000000000.0, b0, question='04_efficiency/q6_scaling')
    checks.check_int('choose_phi(3e9, b0)', got, 3, mistakes={'one step too far: the predicted cost must fit the budget': 4})

