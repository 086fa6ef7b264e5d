from otter.test_files import test_case

OK_FORMAT = False

name = "q5_param_bytes"
points = [1]

@test_case(points=None, hidden=False)
def test_parameter_bytes_float32(parameter_bytes):
    """judge: kernel. The student's function takes a network the test builds."""
    import torchvision
    import helpers
    from helpers import bench, checks
    net = torchvision.models.resnet18()
    got = checks.run_student(parameter_bytes, net, question='04_efficiency/q5_param_bytes')
    checks.check_int('parameter_bytes(resnet18)', got, sum((p.numel() * p.element_size() for p in net.parameters())), mistakes={'that is the number of parameters, not bytes': helpers.count_params(net)})

