from otter.test_files import test_case

OK_FORMAT = False

name = "q7_global"
points = [1]

@test_case(points=None, hidden=False)
def test_global_networks_form(global_networks):
    from helpers import checks
    if not isinstance(global_networks, (set, frozenset)) or not all((isinstance(n, str) for n in global_networks)):
        raise checks.CheckFailed(f'global_networks must be a set of network names, got {global_networks!r}')
    if 'vgg16' in global_networks:
        raise checks.CheckFailed("vgg16's features are convolutions and pools only: a feature sees a 212-pixel window, not the whole image\n" + checks.HIDDEN_NOTE)

