from otter.test_files import test_case

OK_FORMAT = False

name = "q1_formula"
points = [2]

@test_case(points=None, hidden=False)
def test_conv_output_size_lecture_examples(my_conv_output_size):
    import helpers
    from helpers import checks
    for size, k, s, p in [(5, 4, 1, 2), (5, 3, 2, 1)]:
        got = checks.run_student(my_conv_output_size, size, k, stride=s, padding=p, question='01_layers/q1_formula')
        checks.check_int(f'my_conv_output_size({size}, {k}, stride={s}, padding={p})', got, helpers.conv_output_size(size, k, stride=s, padding=p), mistakes={'padding added on one side only?': (size - k + p) // s + 1, 'padding forgotten?': (size - k) // s + 1})

