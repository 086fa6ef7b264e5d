from otter.test_files import test_case

OK_FORMAT = False

name = "q3_resnet"
points = [2]

@test_case(points=None, hidden=False)
def test_my_resnet18(MyResNet):
    import torch
    from torchvision.models import resnet as tv
    from helpers import checks
    model_shortcuts = checks.model_shortcuts
    randomized = checks.randomized
    from helpers.runtime import one_thread
    load_into = checks.load_reference_weights
    ref = randomized(tv.resnet18(weights=None, num_classes=10), seed=10)
    mine = load_into(checks.run_student(MyResNet, tv.BasicBlock, [2, 2, 2, 2], num_classes=10, question='03_architectures/q3_resnet'), ref, 'MyResNet(BasicBlock, [2, 2, 2, 2], num_classes=10)', True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    with torch.no_grad(), one_thread():
        got = checks.run_student(mine, x.clone(), name="MyResNet's forward", question='03_architectures/q3_resnet')
        expected = ref(x.clone())
    checks.check_tensor('MyResNet(BasicBlock, [2, 2, 2, 2], num_classes=10)(x)', got, expected, atol=1e-08, rtol=1e-08)

