from otter.test_files import test_case

OK_FORMAT = False

name = "q1_shapes"
points = [1]

@test_case(points=None, hidden=False)
def test_shapes_form(shapes):
    from helpers import checks
    if type(shapes) is not list or len(shapes) != 4:
        raise checks.CheckFailed(f'shapes must be a list of four (C, H, W) tuples, got {shapes!r}')
    checks.check_ints('shapes[0]', shapes[0], (16, 64, 64))

