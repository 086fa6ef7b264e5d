from otter.test_files import test_case

OK_FORMAT = False

name = "q5_batch"
points = [1]

@test_case(points=None, hidden=False)
def test_max_batch_size_adam(max_batch_size):
    from helpers import bench, checks
    got = checks.run_student(max_batch_size, 1000, 100, 30, question='04_efficiency/q5_batch')
    checks.check_int('max_batch_size(1000, 100, 30)', got, 20, mistakes={'the gradients forgotten (one more copy of the parameters)': 23, "the optimiser's state forgotten": 26})

