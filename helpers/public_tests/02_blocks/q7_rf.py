from otter.test_files import test_case

OK_FORMAT = False

name = "q7_rf"
points = [1]

@test_case(points=None, hidden=False)
def test_rf_basic_block(rf_basic_block):
    import helpers
    from helpers import checks
    from torchvision.models import resnet as tv
    checks.check_int('rf_basic_block', rf_basic_block, helpers.receptive_field(tv.BasicBlock(8, 8), (8, 32, 32)).size, mistakes={'the shortcut sees 1 pixel, the residual branch 5x5: the sum sees the larger': 1, '3x3 + 3x3 is 5, not 6 or 9: each stride-1 layer adds k - 1': 9})

