from otter.test_files import test_case

OK_FORMAT = False

name = "q2_inception_stack"
points = [1]

@test_case(points=None, hidden=False)
def test_inception_channels_googlenet(inception_channels, GOOGLENET_INCEPTIONS):
    import torch
    from helpers.runtime import meta_device
    import torchvision.models as tvm
    from helpers import checks
    with meta_device():
        net = tvm.googlenet(weights=None, aux_logits=False, init_weights=False)
    expected = []
    for name in GOOGLENET_INCEPTIONS:
        block = getattr(net, 'inception' + name)
        out = block.branch1.conv.out_channels + block.branch2[1].conv.out_channels + block.branch3[1].conv.out_channels + block.branch4[1].conv.out_channels
        expected.append((block.branch1.conv.in_channels, out))
    got = checks.run_student(inception_channels, GOOGLENET_INCEPTIONS, question='03_architectures/q2_inception_stack')
    if type(got) not in (list, tuple) or len(got) != len(expected):
        raise checks.CheckFailed(f'inception_channels must return {len(expected)} (in, out) pairs, got {got!r}')
    for name, pair, want in zip(GOOGLENET_INCEPTIONS, got, expected):
        checks.check_ints(f'inception {name} (in, out)', pair, want)

