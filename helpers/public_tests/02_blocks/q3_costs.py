from otter.test_files import test_case

OK_FORMAT = False

name = "q3_costs"
points = [1]

@test_case(points=None, hidden=False)
def test_macs_basic_256(macs_basic_256):
    import helpers
    from helpers import checks
    from torchvision.models import resnet as tv
    checks.check_int('macs_basic_256', macs_basic_256, helpers.count_macs(tv.BasicBlock(256, 256), (256, 56, 56)), mistakes={'only one of the two 3x3 convolutions counted?': 256 * 9 * 256 * 56 * 56})

