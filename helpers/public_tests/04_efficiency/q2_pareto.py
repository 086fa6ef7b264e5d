from otter.test_files import test_case

OK_FORMAT = False

name = "q2_pareto"
points = [1]

@test_case(points=None, hidden=False)
def test_pareto_front_small(pareto_front):
    from helpers import bench, checks
    costs = [1.0, 2.0, 3.0, 2.5, 4.0]
    scores = [70.0, 75.0, 74.0, 76.0, 76.0]
    got = checks.run_student(pareto_front, costs, scores, question='04_efficiency/q2_pareto')
    checks.check_ints('pareto_front(costs, scores)', list(got) if isinstance(got, (list, tuple)) else got, (0, 1, 3))

