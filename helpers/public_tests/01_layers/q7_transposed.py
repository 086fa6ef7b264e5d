from otter.test_files import test_case

OK_FORMAT = False

name = "q7_transposed"
points = [1]

@test_case(points=None, hidden=False)
def test_conv_transpose_output_size_doubles(my_conv_transpose_output_size):
    import torch
    from helpers import checks
    out = torch.nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1)(torch.zeros(1, 1, 8, 8)).shape[-1]
    got = checks.run_student(my_conv_transpose_output_size, 8, 4, stride=2, padding=1, question='01_layers/q7_transposed')
    checks.check_int('my_conv_transpose_output_size(8, 4, stride=2, padding=1)', got, int(out), mistakes={'padding added instead of cropped?': 7 * 2 + 2 + 4})

