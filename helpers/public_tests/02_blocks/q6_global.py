from otter.test_files import test_case

OK_FORMAT = False

name = "q6_global"
points = [1]

@test_case(points=None, hidden=False)
def test_mbconv_se_is_global(mbconv_se_is_global):
    import helpers
    from helpers import blocks, checks
    block = blocks.MBConv(blocks.MBConvConfig(6, 5, 1, 16, 16, 1), 0.0)
    if type(mbconv_se_is_global) is not bool:
        raise checks.CheckFailed(f'mbconv_se_is_global must be True or False, got {mbconv_se_is_global!r}')
    if mbconv_se_is_global != helpers.receptive_field(block, (16, 32, 32)).is_global:
        raise checks.CheckFailed('mbconv_se_is_global is not right: SE multiplies every pixel by weights computed from the average of all pixels\n' + checks.HIDDEN_NOTE)

