from otter.test_files import test_case

OK_FORMAT = False

name = "q7_speedup"
points = [1]

@test_case(points=None, hidden=False)
def test_speedup(speedup):
    from helpers import checks
    got = checks.run_student(speedup, [2.0, 2.2, 9.0], [1.0, 1.1, 1.0], question='04_efficiency/q7_speedup')
    checks.check_number('speedup([2.0, 2.2, 9.0], [1.0, 1.1, 1.0])', got, 2.2, mistakes={'inverted: baseline over new, > 1 when the new version is faster': 1 / 2.2, 'means, not medians': 13.2 / 3 / (3.1 / 3)})

