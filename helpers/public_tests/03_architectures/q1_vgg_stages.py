from otter.test_files import test_case

OK_FORMAT = False

name = "q1_vgg_stages"
points = [1]

@test_case(points=None, hidden=False)
def test_vgg16_stage_macs_form(vgg_stage_macs, VGG_CONFIGS):
    import torch
    from helpers.runtime import meta_device
    import torchvision.models as tvm
    from torch.utils.flop_counter import FlopCounterMode
    from helpers import checks
    got = checks.run_student(vgg_stage_macs, list(VGG_CONFIGS['vgg16']), 224, question='03_architectures/q1_vgg_stages')
    if type(got) not in (list, tuple) or len(got) != 5:
        raise checks.CheckFailed(f"vgg_stage_macs(VGG_CONFIGS['vgg16']) must be a list of five ints, one per stage, got {got!r}")
    with meta_device():
        first = tvm.vgg16(weights=None).features[:4]
        with FlopCounterMode(display=False) as counter:
            first(torch.empty(1, 3, 224, 224))
    macs = counter.get_total_flops() // 2
    checks.check_int("vgg_stage_macs(VGG_CONFIGS['vgg16'])[0]", got[0], macs, mistakes={'those are FLOPs (2 per MAC)': 2 * macs, 'the first convolution reads 3 channels, not 64': 2 * 224 * 224 * 64 * 64 * 9, 'the biases are not products of weights': macs + 2 * 224 * 224 * 64})

