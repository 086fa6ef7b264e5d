from otter.test_files import test_case

OK_FORMAT = False

name = "q3_stages"
points = [1]

@test_case(points=None, hidden=False)
def test_resnet50_stages(RESNET_STAGES):
    import torch
    from helpers.runtime import meta_device
    import torchvision.models as tvm
    from helpers import checks
    if not isinstance(RESNET_STAGES, dict) or 'resnet50' not in RESNET_STAGES:
        raise checks.CheckFailed("RESNET_STAGES must be a dict with the key 'resnet50'")
    with meta_device():
        net = tvm.resnet50(weights=None)
    block, layers = RESNET_STAGES['resnet50']
    if block != 'bottleneck':
        raise checks.CheckFailed(f"RESNET_STAGES['resnet50']: block {block!r} is not right: ResNet-50 and deeper use the 1x1-3x3-1x1 bottleneck\n" + checks.HIDDEN_NOTE)
    checks.check_ints("RESNET_STAGES['resnet50'] layers", layers, [len(net.layer1), len(net.layer2), len(net.layer3), len(net.layer4)])

