from otter.test_files import test_case

OK_FORMAT = False

name = "q1_stages"
points = [1, 2]

@test_case(points=None, hidden=False)
def test_stage_costs_resnet18(stage_costs):
    """judge: kernel. The student's function takes a network the test builds."""
    import torchvision
    import helpers
    from helpers import checks
    net = torchvision.models.resnet18()
    stages = ['layer1', 'layer3', 'fc']
    got = checks.run_student(stage_costs, net, (3, 64, 64), stages, question='04_efficiency/q1_stages')
    if not isinstance(got, dict) or sorted(got) != sorted(stages):
        raise checks.CheckFailed(f'stage_costs must return a dict with the keys {stages}, got {got!r}')
    macs = helpers.counting.macs_by_module(net, (3, 64, 64))
    for name in stages:
        if type(got[name]) not in (tuple, list) or len(got[name]) != 2:
            raise checks.CheckFailed(f'stage_costs(...)[{name!r}] must be a (params, macs) pair, got {got[name]!r}')
        checks.check_int(f'params of {name}', got[name][0], helpers.count_params(net.get_submodule(name)), mistakes={"that is the whole network's count": helpers.count_params(net)})
        checks.check_int(f'MACs of {name}', got[name][1], macs[name], mistakes={"a stage's MACs include its children's": 0, "that is the whole network's count": macs['']})

@test_case(points=None, hidden=False)
def test_layer4_shares(layer4_param_share, layer4_mac_share):
    import torchvision
    import helpers
    from helpers import checks
    net = torchvision.models.resnet50()
    p = helpers.count_params(net.layer4) / helpers.count_params(net)
    mac = helpers.counting.macs_by_module(net, (3, 224, 224))
    checks.check_number('layer4_param_share', layer4_param_share, p, rel=0.001, mistakes={'a percentage: give a fraction between 0 and 1': 100 * p})
    checks.check_number('layer4_mac_share', layer4_mac_share, mac['layer4'] / mac[''], rel=0.001, mistakes={'a percentage: give a fraction between 0 and 1': 100 * mac['layer4'] / mac['']})

