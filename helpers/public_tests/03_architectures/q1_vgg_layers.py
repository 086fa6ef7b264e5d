from otter.test_files import test_case

OK_FORMAT = False

name = "q1_vgg_layers"
points = [1]

@test_case(points=None, hidden=False)
def test_vgg16_features(make_vgg_layers, VGG_CONFIGS):
    import torch
    from helpers.runtime import meta_device
    from torchvision.models import vgg as tv
    from helpers import checks
    model_shortcuts = checks.model_shortcuts
    randomized = checks.randomized
    from helpers.runtime import one_thread
    load_into = checks.load_reference_weights
    with meta_device():
        ref = tv.vgg16(weights=None).features
    ref = randomized(ref, seed=0)
    mine = load_into(checks.run_student(make_vgg_layers, VGG_CONFIGS['vgg16'], question='03_architectures/q1_vgg_layers'), ref, "make_vgg_layers(VGG_CONFIGS['vgg16'])", True)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad(), one_thread():
        got = checks.run_student(mine, x.clone(), name="your VGG16 features' forward", question='03_architectures/q1_vgg_layers')
        expected = ref(x.clone())
    checks.check_tensor("make_vgg_layers(VGG_CONFIGS['vgg16'])(x)", got, expected, atol=1e-06, rtol=1e-06)

