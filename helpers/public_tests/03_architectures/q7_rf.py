from otter.test_files import test_case

OK_FORMAT = False

name = "q7_rf"
points = [1]

@test_case(points=None, hidden=False)
def test_chain_receptive_field_vgg16(chain_receptive_field):
    import torch
    from helpers.runtime import meta_device
    import torchvision.models as tvm
    import helpers
    from helpers import checks, receptive
    with meta_device():
        features = tvm.vgg16(weights=None).features

    def pair(v):
        return v if isinstance(v, int) else v[0]
    layers = [(pair(m.kernel_size), pair(m.stride)) for m in features if isinstance(m, (torch.nn.Conv2d, torch.nn.MaxPool2d))]
    expected = helpers.receptive_field(features, (3, 224, 224)).size
    wrong, jump = (1, 1)
    for k, s in layers:
        wrong += (k - 1) * s
    got = checks.run_student(chain_receptive_field, layers, question='03_architectures/q7_rf')
    checks.check_int("chain_receptive_field(VGG16's layers)", got, expected, mistakes={'each layer adds (k - 1) times the product of the strides BEFORE it, not its own stride': wrong})

