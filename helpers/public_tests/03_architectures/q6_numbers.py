from otter.test_files import test_case

OK_FORMAT = False

name = "q6_numbers"
points = [1]

@test_case(points=None, hidden=False)
def test_convnext_t_depths(convnext_t_depths):
    import torch
    import torchvision.models as tvm
    from helpers import checks
    with torch.device('meta'):
        net = tvm.convnext_tiny(weights=None)
    checks.check_ints('convnext_t_depths', convnext_t_depths, [len(net.features[i]) for i in (1, 3, 5, 7)])

