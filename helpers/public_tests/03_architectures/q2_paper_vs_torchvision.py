from otter.test_files import test_case

OK_FORMAT = False

name = "q2_paper_vs_torchvision"
points = [1]

@test_case(points=None, hidden=False)
def test_googlenet_5x5_extra_params_form(googlenet_5x5_extra_params):
    from helpers import checks
    if type(googlenet_5x5_extra_params) is not int or googlenet_5x5_extra_params <= 0:
        raise checks.CheckFailed(f'googlenet_5x5_extra_params must be a positive int: a 5x5 kernel has more weights than a 3x3, got {googlenet_5x5_extra_params!r}\n' + checks.HIDDEN_NOTE)

