from otter.test_files import test_case

OK_FORMAT = False

name = "q1_alexnet"
points = [1, 1]

@test_case(points=None, hidden=False)
def test_conv1_out_224_no_padding(conv1_out_224_no_padding):
    import torch
    from helpers.runtime import meta_device
    from helpers import checks
    with meta_device():
        out = torch.nn.Conv2d(3, 96, 11, stride=4)(torch.empty(1, 3, 224, 224))
    checks.check_int('conv1_out_224_no_padding', conv1_out_224_no_padding, int(out.shape[-1]), mistakes={'PyTorch floors (224 - 11) / 4 + 1 = 54.25; it does not round up': 55})

@test_case(points=None, hidden=False)
def test_vgg16_stage_shapes(vgg16_stage_shapes):
    import torch
    from helpers.runtime import meta_device
    import torchvision.models as tvm
    from helpers import checks
    with meta_device():
        features = tvm.vgg16(weights=None).features
        shapes, x = ([], torch.empty(1, 3, 224, 224))
        for layer in features:
            x = layer(x)
            if isinstance(layer, torch.nn.MaxPool2d):
                shapes.append(tuple((int(s) for s in x.shape[1:])))
    if type(vgg16_stage_shapes) not in (list, tuple) or len(vgg16_stage_shapes) != 5:
        raise checks.CheckFailed(f'vgg16_stage_shapes must be a list of five (C, H, W) tuples, got {vgg16_stage_shapes!r}')
    for i, (got, expected) in enumerate(zip(vgg16_stage_shapes, shapes)):
        checks.check_ints(f'vgg16_stage_shapes[{i}]', got, expected)

