from otter.test_files import test_case

OK_FORMAT = False

name = "q1_flops"
points = [1, 1]

@test_case(points=None, hidden=False)
def test_small_macs(small_macs):
    import torch
    from torch import nn
    import helpers
    from helpers import checks
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 16 * 16, 10))
    macs = helpers.count_macs(net, (3, 32, 32))
    checks.check_int('small_macs', small_macs, macs, mistakes={'those are FLOPs (2 per MAC), not MACs': 2 * macs, "biases are not MACs in torchvision's convention": macs + 16 * 32 * 32 + 10})

@test_case(points=None, hidden=False)
def test_small_counts_other_network(small_counts):
    import math
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode
    import helpers
    from helpers import checks

    def counts(channels, size, num_classes):
        """count_macs, FlopCounterMode, and ptflops' module rules (ptflops/pytorch_ops.py) with forward hooks."""
        net = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(channels * (size // 2) ** 2, num_classes)).eval()
        total, functional = ([0], [0])

        def hook(m, inputs, out):
            x = inputs[0]
            if isinstance(m, nn.Conv2d):
                positions = x.shape[0] * math.prod(out.shape[2:])
                total[0] += math.prod(m.kernel_size) * m.in_channels * (m.out_channels // m.groups) * positions
                total[0] += m.out_channels * positions if m.bias is not None else 0
            elif isinstance(m, nn.Linear):
                total[0] += x.numel() * out.shape[-1] + (out.shape[-1] if m.bias is not None else 0)
            elif isinstance(m, nn.BatchNorm2d):
                total[0] += x.numel() * (2 if m.affine else 1)
            elif isinstance(m, nn.ReLU):
                total[0] += out.numel()
            elif isinstance(m, nn.MaxPool2d):
                total[0] += x.numel()
            if isinstance(m, (nn.ReLU, nn.MaxPool2d)):
                functional[0] += x.numel()
        for layer in net:
            layer.register_forward_hook(hook)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(torch.zeros(1, 3, size, size))
        return [helpers.count_macs(net, (3, size, size)), int(counter.get_total_flops()), total[0], total[0] + functional[0]]
    expected = counts(8, 16, 5)
    got = checks.run_student(small_counts, 8, 16, 5, question='04_efficiency/q1_flops')
    if type(got) not in (tuple, list) or len(got) != 4:
        raise checks.CheckFailed(f'small_counts must return (macs, flops, ptflops, ptflops_default), got {got!r}')
    mistakes = [{'those are FLOPs (2 per MAC), not MACs': expected[1]}, {'those are MACs: a MAC is two FLOPs': expected[0]}, {"that is torchvision's count: ptflops adds biases, norms, activations and pooling": expected[0]}, {'that is count_functional=False: the default counts ReLU and max-pool twice': expected[2]}]
    for i, name in enumerate(['macs', 'flops', 'ptflops', 'ptflops_default']):
        checks.check_int(f'small_counts(8, 16, 5): {name}', got[i], expected[i], mistakes=mistakes[i])

