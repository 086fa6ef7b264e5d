from otter.test_files import test_case

OK_FORMAT = False

name = "q4_mobilenet"
points = [2]

@test_case(points=None, hidden=False)
def test_my_mobilenet_v2(MyMobileNetV2):
    import torch
    from torchvision.models import mobilenetv2 as tv
    from helpers import checks
    model_shortcuts = checks.model_shortcuts
    randomized = checks.randomized
    from helpers.runtime import one_thread
    load_into = checks.load_reference_weights
    ref = randomized(tv.mobilenet_v2(weights=None, num_classes=10), seed=20)
    mine = load_into(checks.run_student(MyMobileNetV2, num_classes=10, question='03_architectures/q4_mobilenet'), ref, 'MyMobileNetV2(num_classes=10)', True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(21), dtype=torch.float64)
    with torch.no_grad(), one_thread():
        got = checks.run_student(mine, x.clone(), name="MyMobileNetV2's forward", question='03_architectures/q4_mobilenet')
        expected = ref(x.clone())
    checks.check_tensor('MyMobileNetV2(num_classes=10)(x)', got, expected, atol=1e-08, rtol=1e-08)

