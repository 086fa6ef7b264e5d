from otter.test_files import test_case

OK_FORMAT = False

name = "q4_parts"
points = [1]

@test_case(points=None, hidden=False)
def test_mobilenet_v2_parts(mobilenet_v2_parts):
    import torch
    from helpers.runtime import meta_device
    import torchvision.models as tvm
    import helpers
    from helpers import checks
    with meta_device():
        net = tvm.mobilenet_v2(weights=None)
    expected = {'stem': helpers.count_params(net.features[0]), 'blocks': helpers.count_params(net.features[1:18]), 'last_conv': helpers.count_params(net.features[18]), 'classifier': helpers.count_params(net.classifier)}
    if not isinstance(mobilenet_v2_parts, dict):
        raise checks.CheckFailed(f'mobilenet_v2_parts must be a dict, got {type(mobilenet_v2_parts).__name__}')
    checks.check_int("mobilenet_v2_parts['classifier']", mobilenet_v2_parts.get('classifier'), expected['classifier'], mistakes={"the classifier's bias forgotten?": 1280 * 1000})
    checks.check_int('sum of mobilenet_v2_parts', sum((v for v in mobilenet_v2_parts.values() if type(v) is int)), tvm.MobileNet_V2_Weights.IMAGENET1K_V1.meta['num_params'])

