from otter.test_files import test_case

OK_FORMAT = False

name = "q2_torchvision"
points = [1]

@test_case(points=None, hidden=False)
def test_paper_minus_torchvision_params_form(paper_minus_torchvision_params):
    from helpers import checks
    if type(paper_minus_torchvision_params) is not int:
        raise checks.CheckFailed(f'paper_minus_torchvision_params must be an int, got {paper_minus_torchvision_params!r}')
    if paper_minus_torchvision_params <= 0:
        raise checks.CheckFailed('paper_minus_torchvision_params must be positive: a 5x5 kernel has more weights than a 3x3\n' + checks.HIDDEN_NOTE)

