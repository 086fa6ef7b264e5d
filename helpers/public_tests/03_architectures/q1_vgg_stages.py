from otter.test_files import test_case

OK_FORMAT = False

name = "q1_vgg_stages"
points = [1]

@test_case(points=None, hidden=False)
def test_vgg16_stage_macs_form(vgg16_stage_macs):
    import torch
    import torchvision.models as tvm
    from torch.utils.flop_counter import FlopCounterMode
    from helpers import checks
    if type(vgg16_stage_macs) not in (list, tuple) or len(vgg16_stage_macs) != 5:
        raise checks.CheckFailed(f'vgg16_stage_macs must be a list of five ints, got {vgg16_stage_macs!r}')
    with torch.device('meta'):
        first = tvm.vgg16(weights=None).features[:4]
        with FlopCounterMode(display=False) as counter:
            first(torch.empty(1, 3, 224, 224))
    macs = counter.get_total_flops() // 2
    checks.check_int('vgg16_stage_macs[0]', vgg16_stage_macs[0], macs, mistakes={'those are FLOPs (2 per MAC)': 2 * macs, 'the first convolution reads 3 channels, not 64': 2 * 224 * 224 * 64 * 64 * 9})

