from otter.test_files import test_case

OK_FORMAT = False

name = "q3_costs"
points = [1, 1]

@test_case(points=None, hidden=False)
def test_macs_basic_256(macs_basic_256):
    import helpers
    from helpers import checks
    from torchvision.models import resnet as tv
    checks.check_int('macs_basic_256', macs_basic_256, helpers.count_macs(tv.BasicBlock(256, 256), (256, 56, 56)), mistakes={'only one of the two 3x3 convolutions counted?': 256 * 9 * 256 * 56 * 56})

@test_case(points=None, hidden=False)
def test_bottleneck_macs_resnet50_first_block(bottleneck_macs):
    import helpers
    from helpers import blocks, checks
    block = blocks.Bottleneck(64, 64, 1, downsample=blocks.projection(64, 256, 1))
    expected = helpers.count_macs(block, (64, 56, 56))
    got = checks.run_student(bottleneck_macs, 64, 64, 56, question='02_blocks/q3_costs')
    checks.check_int('bottleneck_macs(64, 64, 56)', got, expected, mistakes={'projection forgotten: 64 channels in, 256 out': expected - 64 * 256 * 56 * 56})

