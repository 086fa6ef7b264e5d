from otter.test_files import test_case

OK_FORMAT = False

name = "q2_center"
points = [1]

@test_case(points=None, hidden=False)
def test_receptive_field_center_lecture_example(my_receptive_field_center):
    import torch
    from helpers import checks
    layers = [(3, 2, 1), (3, 2, 1)]
    net = torch.nn.Sequential(*[torch.nn.Conv1d(1, 1, k, stride=s, padding=p, bias=False) for k, s, p in layers])
    for conv in net:
        torch.nn.init.ones_(conv.weight)
    x = torch.zeros(1, 1, 32, requires_grad=True)
    net(x)[0, 0, 1].backward()
    seen = x.grad[0, 0].nonzero().flatten()
    centre = (seen.min().item() + seen.max().item()) / 2
    got = checks.run_student(my_receptive_field_center, layers, 1, question='01_layers/q2_center')
    checks.check_number('my_receptive_field_center([(3, 2, 1), (3, 2, 1)], 1)', got, centre, mistakes={'the padding moves the field left by P = 3 pixels': centre + 3, 'that is where the field starts, not its centre': centre - 3})

