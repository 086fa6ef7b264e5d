from otter.test_files import test_case

OK_FORMAT = False

name = "q4_intensity"
points = [1]

@test_case(points=None, hidden=False)
def test_arithmetic_intensity_3x3(arithmetic_intensity):
    from torch import nn
    from helpers import bench, checks
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=False)
    expected = bench.conv_arithmetic_intensity(conv, (64, 56, 56))
    got = checks.run_student(arithmetic_intensity, 64, 64, 3, 56, question='04_efficiency/q4_intensity')
    checks.check_number('arithmetic_intensity(64, 64, 3, 56)', got, expected, rel=1e-09, mistakes={'MACs counted, not FLOPs (a MAC is 2 FLOPs)': expected / 2, 'elements counted, not bytes (4 bytes each in float32)': expected * 4})

