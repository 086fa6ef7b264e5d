from otter.test_files import test_case

OK_FORMAT = False

name = "q8_ensemble"
points = [2]

@test_case(points=None, hidden=False)
def test_thinned_ensemble_of_a_linear_layer(thinned_ensemble):
    """judge: kernel. The student's function takes a network the test builds."""
    import torch
    from helpers import checks
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(20, 3)).eval()
    x = torch.randn(4, 20)
    with torch.no_grad():
        full = net(x)
    got = checks.run_student(thinned_ensemble, net, x, 4000, question='01_layers/q8_ensemble')
    if net.training:
        raise checks.CheckFailed('thinned_ensemble left the network in training mode; it was in evaluation mode')
    checks.check_tensor('thinned_ensemble(net, x, 4000)', got, full, atol=0.08, rtol=0, mistakes={'the sum of the outputs, not their mean': 4000 * full})

