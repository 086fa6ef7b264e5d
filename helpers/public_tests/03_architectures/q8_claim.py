from otter.test_files import test_case

OK_FORMAT = False

name = "q8_claim"
points = [1]

@test_case(points=None, hidden=False)
def test_final_losses(curves, plain_final_loss, residual_final_loss, residual_trains_better):
    from helpers import checks
    if not isinstance(curves, dict) or set(curves) != {'plain', 'residual'}:
        raise checks.CheckFailed("curves must be the dict {'plain': losses, 'residual': losses} of the training cell")
    for name, got, curve in [('plain_final_loss', plain_final_loss, curves['plain']), ('residual_final_loss', residual_final_loss, curves['residual'])]:
        checks.check_number(name, got, sum(curve[-10:]) / 10, mistakes={"that is the last step's loss alone, not the mean of the last 10": curve[-1]})
    if type(residual_trains_better) is not bool or residual_trains_better != (residual_final_loss < plain_final_loss):
        raise checks.CheckFailed('residual_trains_better must be the bool residual_final_loss < plain_final_loss\n' + checks.HIDDEN_NOTE)

