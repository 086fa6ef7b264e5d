from otter.test_files import test_case

OK_FORMAT = False

name = "q8_dropout"
points = [1]

@test_case(points=None, hidden=False)
def test_dropout_eval_is_identity(dropout_mine):
    import torch
    from helpers import checks
    x = torch.randn(100)
    got = checks.run_student(dropout_mine, x, 0.5, training=False, question='01_layers/q8_dropout')
    checks.check_tensor('dropout_mine(x, 0.5, training=False)', got, x, mistakes={'scaled by 1/(1-p) in eval? inverted dropout scales in training only': 2 * x})

