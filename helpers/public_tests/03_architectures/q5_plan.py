from otter.test_files import test_case

OK_FORMAT = False

name = "q5_plan"
points = [1]

@test_case(points=None, hidden=False)
def test_efficientnet_plan_b2(efficientnet_plan):
    import torch
    from helpers.runtime import meta_device
    import torchvision.models as tvm
    from helpers import checks
    model_shortcuts = checks.model_shortcuts
    with meta_device():
        net = tvm.efficientnet_b2(weights=None)
    expected = []
    for stage in list(net.features)[1:-1]:
        convs = [m for m in stage[0].modules() if isinstance(m, torch.nn.Conv2d)]
        depthwise = next((m for m in convs if m.groups > 1))
        expected.append((depthwise.kernel_size[0], depthwise.stride[0], convs[0].in_channels, convs[-1].out_channels, len(stage)))
    got = checks.run_student(efficientnet_plan, 1.1, 1.2, question='03_architectures/q5_plan')
    if type(got) not in (list, tuple) or len(got) != len(expected):
        raise checks.CheckFailed(f'efficientnet_plan must return {len(expected)} rows, got {got!r}')
    for i, (row, want) in enumerate(zip(got, expected)):
        fields = tuple((getattr(row, f, None) for f in ('kernel', 'stride', 'input_channels', 'out_channels', 'num_layers')))
        hint = ''
        if fields[2:4] != want[2:4]:
            hint = ' (channels: c * width_mult rounded to a multiple of 8 with adjust_channels?)'
        elif fields[4] != want[4]:
            hint = ' (repeats: n * depth_mult rounded up with math.ceil?)'
        if fields != want:
            raise checks.CheckFailed(f'efficientnet_plan(1.1, 1.2)[{i}]: (kernel, stride, in, out, layers) = {fields}, expected {want}{hint}\n' + checks.HIDDEN_NOTE)

