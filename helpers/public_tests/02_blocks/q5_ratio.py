from otter.test_files import test_case

OK_FORMAT = False

name = "q5_ratio"
points = [1, 1]

@test_case(points=None, hidden=False)
def test_separable_macs_mobilenet_layer(separable_macs):
    import helpers
    from helpers import blocks, checks
    expected = helpers.count_macs(blocks.DepthwiseSeparable(32, 64), (32, 112, 112))
    got = checks.run_student(separable_macs, 32, 64, 3, 112, 112, question='02_blocks/q5_ratio')
    checks.check_int('separable_macs(32, 64, 3, 112, 112)', got, expected, mistakes={'depthwise counted as a full convolution (groups forgotten)?': (9 * 32 * 32 + 32 * 64) * 112 * 112, 'that is the standard convolution': 9 * 32 * 64 * 112 * 112})

@test_case(points=None, hidden=False)
def test_separable_ratio_formula(separable_ratio):
    from helpers import checks
    got = checks.run_student(separable_ratio, 64, 3, question='02_blocks/q5_ratio')
    checks.check_number('separable_ratio(64, 3)', got, 1 / 64 + 1 / 9, mistakes={'1/K instead of 1/K^2? a K x K kernel has K^2 taps': 1 / 64 + 1 / 3, 'inverted: standard / separable?': 1 / (1 / 64 + 1 / 9)})

