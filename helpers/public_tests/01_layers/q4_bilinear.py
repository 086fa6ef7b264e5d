from otter.test_files import test_case

OK_FORMAT = False

name = "q4_bilinear"
points = [1]

@test_case(points=None, hidden=False)
def test_bilinear_sample_midpoint(my_bilinear_sample):
    import torch
    from helpers import checks
    img = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    got = checks.run_student(my_bilinear_sample, img, 0.5, 0.5, question='01_layers/q4_bilinear')
    checks.check_number('my_bilinear_sample(img, 0.5, 0.5)', float(got), 2.5)

