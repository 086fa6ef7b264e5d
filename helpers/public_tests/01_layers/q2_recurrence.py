from otter.test_files import test_case

OK_FORMAT = False

name = "q2_recurrence"
points = [2]

@test_case(points=None, hidden=False)
def test_receptive_field_lecture_example(my_receptive_field):
    import helpers
    from helpers import checks
    layers = [(3, 2, 1), (3, 2, 1)]
    got = checks.run_student(my_receptive_field, layers, question='01_layers/q2_recurrence')
    rf = helpers.receptive_field(layers)
    checks.check_ints('my_receptive_field([(3, 2, 1), (3, 2, 1)])', got, (rf.size, rf.stride, rf.padding))

