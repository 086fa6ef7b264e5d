from otter.test_files import test_case

OK_FORMAT = False

name = "q7_upsample"
points = [1]

@test_case(points=None, hidden=False)
def test_upsample_lecture_example(upsample_nearest_mine, upsample_bilinear_mine):
    import torch
    import torch.nn.functional as F
    from helpers import checks
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    got = checks.run_student(upsample_nearest_mine, x, 2, question='01_layers/q7_upsample')
    checks.check_tensor('upsample_nearest_mine(x, 2)', got, F.interpolate(x, scale_factor=2, mode='nearest'))
    got = checks.run_student(upsample_bilinear_mine, x, 2, question='01_layers/q7_upsample')
    checks.check_tensor('upsample_bilinear_mine(x, 2)', got, F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False), mistakes={'align_corners=True used where the default is False?': F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True)})

