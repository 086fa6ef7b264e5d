from otter.test_files import test_case

OK_FORMAT = False

name = "q4_count"
points = [1]

@test_case(points=None, hidden=False)
def test_bottleneck_params_resnext50_layer1(bottleneck_params, resnext_width):
    import helpers
    from helpers import checks
    from torchvision.models import resnext50_32x4d
    block = resnext50_32x4d(weights=None).layer1[0]
    checks.check_int('resnext_width', resnext_width, block.conv2.out_channels, mistakes={'that is the width d of one group; the 3x3 has C * d channels': 4})
    expected = helpers.count_params(block)
    got = checks.run_student(bottleneck_params, 64, 64, groups=32, base_width=4, question='02_blocks/q4_count')
    checks.check_int('bottleneck_params(64, 64, groups=32, base_width=4)', got, expected, mistakes={'groups ignored: a grouped 3x3 has C_in/G * 9 * C_out weights': expected - 128 * 4 * 9 + 128 * 128 * 9, 'batch-norm weights and biases forgotten?': expected - 2 * (128 + 128 + 256 + 256), 'projection shortcut forgotten (64 in, 256 out)?': expected - 64 * 256 - 2 * 256})

