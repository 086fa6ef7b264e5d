from otter.test_files import test_case

OK_FORMAT = False

name = "q3_costs"
points = [1, 1]

@test_case(points=None, hidden=False)
def test_resnet_params(resnet_params):
    import torchvision.models as tvm
    from helpers import checks
    if not isinstance(resnet_params, dict):
        raise checks.CheckFailed(f'resnet_params must be a dict, got {type(resnet_params).__name__}')
    for name in ['resnet18', 'resnet50']:
        expected = tvm.get_model_weights(name).IMAGENET1K_V1.meta['num_params']
        checks.check_int(f'resnet_params[{name!r}]', resnet_params.get(name), expected)

@test_case(points=None, hidden=False)
def test_to_v1_resnet50(to_v1):
    """judge: kernel. The student's function must change, in place, a network the test builds."""
    import torch
    from helpers.runtime import meta_device
    import torchvision.models as tvm
    import helpers
    from helpers import checks
    with meta_device():
        net, oracle = (tvm.resnet50(weights=None), tvm.resnet50(weights=None))
    for stage in (oracle.layer2, oracle.layer3, oracle.layer4):
        stage[0].conv1.stride, stage[0].conv2.stride = ((2, 2), (1, 1))
    v1_5 = helpers.count_macs(net, (3, 224, 224))
    got = checks.run_student(to_v1, net, question='03_architectures/q3_costs')
    if got is not net:
        raise checks.CheckFailed('to_v1(net) must change net in place and return it')
    checks.check_int('count_macs(to_v1(resnet50()), (3, 224, 224))', helpers.count_macs(net, (3, 224, 224)), helpers.count_macs(oracle, (3, 224, 224)), mistakes={'nothing moved: that is still v1.5': v1_5})

