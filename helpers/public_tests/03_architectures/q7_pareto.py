from otter.test_files import test_case

OK_FORMAT = False

name = "q7_pareto"
points = [1]

@test_case(points=None, hidden=False)
def test_pareto_names_published(pareto_names):
    import torchvision.models as tvm
    from helpers import checks
    points = []
    for name in ['alexnet', 'vgg16', 'googlenet', 'resnet18', 'resnet50', 'resnet152', 'mobilenet_v2', 'efficientnet_b0', 'efficientnet_b3', 'convnext_tiny']:
        meta = tvm.get_model_weights(name).IMAGENET1K_V1.meta
        points.append((name, meta['_metrics']['ImageNet-1K']['acc@1'], meta['_ops']))
    front = sorted((p for p in points if not any((q[1] >= p[1] and q[2] <= p[2] and (q != p) and (q[1] > p[1] or q[2] < p[2]) for q in points))), key=lambda p: p[2])
    got = checks.run_student(pareto_names, list(points), question='03_architectures/q7_pareto')
    if type(got) not in (list, tuple) or not all((isinstance(n, str) for n in got)):
        raise checks.CheckFailed(f'pareto_names must return a list of names, got {got!r}')
    if list(got) != [p[0] for p in front]:
        raise checks.CheckFailed(f'pareto_names(published points): got {list(got)}, expected {[p[0] for p in front]}' + ('' if set(got) != {p[0] for p in front} else ': the names are right, the order is not (increasing gmacs)') + '\n' + checks.HIDDEN_NOTE)

