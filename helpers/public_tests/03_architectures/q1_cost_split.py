from otter.test_files import test_case

OK_FORMAT = False

name = "q1_cost_split"
points = [1]

@test_case(points=None, hidden=False)
def test_cost_split_vgg16(cost_split):
    """judge: kernel. The student's function takes a network the test builds."""
    import torch
    from helpers.runtime import meta_device
    from torch import nn
    import torchvision.models as tvm
    import helpers
    from helpers import checks
    from helpers.counting import macs_by_module
    with meta_device():
        net = tvm.vgg16(weights=None)
    macs = macs_by_module(net, (3, 224, 224))
    convs = [(n, m) for n, m in net.named_modules() if isinstance(m, nn.Conv2d)]
    fcs = [(n, m) for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    expected = {'conv_params': sum((helpers.count_params(m) for _, m in convs)), 'fc_params': sum((helpers.count_params(m) for _, m in fcs)), 'conv_macs': sum((macs[n] for n, _ in convs)), 'fc_macs': sum((macs[n] for n, _ in fcs))}
    got = checks.run_student(cost_split, net, (3, 224, 224), question='03_architectures/q1_cost_split')
    if not isinstance(got, dict):
        raise checks.CheckFailed(f'cost_split must return a dict, got {type(got).__name__}')
    no_bias = {'conv_params': sum((m.weight.numel() for _, m in convs)), 'fc_params': sum((m.weight.numel() for _, m in fcs))}
    for key in ('conv_params', 'fc_params', 'conv_macs', 'fc_macs'):
        checks.check_int(f'cost_split(vgg16)[{key!r}]', got.get(key), expected[key], mistakes={'biases forgotten?': no_bias.get(key)})

