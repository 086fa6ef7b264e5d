from otter.test_files import test_case

OK_FORMAT = False

name = "q1_shapes"
points = [1, 3]

@test_case(points=None, hidden=False)
def test_shapes_form(shapes):
    from helpers import checks
    if type(shapes) is not list or len(shapes) != 4:
        raise checks.CheckFailed(f'shapes must be a list of four (C, H, W) tuples, got {shapes!r}')
    checks.check_ints('shapes[0]', shapes[0], (16, 64, 64))

@test_case(points=None, hidden=False)
def test_shapes_for_32(shapes_for):
    import torch
    from torch import nn
    from helpers import checks
    with torch.device('meta'):
        net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.Conv2d(32, 64, 5))
        x, expected = (torch.empty(1, 3, 32, 32), [])
        for layer in net:
            x = layer(x)
            expected.append(tuple((int(v) for v in x.shape[1:])))
    got = checks.run_student(shapes_for, 32, question='01_layers/q1_shapes')
    if type(got) is not list or len(got) != 4:
        raise checks.CheckFailed(f'shapes_for(32) must return a list of four (C, H, W) tuples, got {got!r}')
    for i in range(4):
        checks.check_ints(f'shapes_for(32)[{i}]', got[i], expected[i])

