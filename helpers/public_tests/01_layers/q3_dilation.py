from otter.test_files import test_case

OK_FORMAT = False

name = "q3_dilation"
points = [1]

@test_case(points=None, hidden=False)
def test_dilated_output_width(dilated_output_width):
    import torch
    from helpers import checks
    out = torch.nn.Conv2d(1, 1, 3, dilation=2)(torch.zeros(1, 1, 7, 7)).shape[-1]
    checks.check_int('dilated_output_width', dilated_output_width, int(out), mistakes={'dilation ignored?': 5})

