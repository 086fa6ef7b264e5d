from otter.test_files import test_case

OK_FORMAT = False

name = "q6_block"
points = [2]

@test_case(points=None, hidden=False)
def test_my_cnblock(MyCNBlock):
    import torch
    import torch.nn.functional as F
    from torchvision.models import convnext as tv
    from helpers import checks
    model_shortcuts = checks.model_shortcuts
    randomized = checks.randomized
    from helpers.runtime import one_thread
    load_into = checks.load_reference_weights
    ref = randomized(tv.CNBlock(16, 1e-06, 0.0), seed=30)
    mine = load_into(checks.run_student(MyCNBlock, 16, question='03_architectures/q6_block'), ref, 'MyCNBlock(16)', True)
    x = torch.randn(2, 16, 6, 6, generator=torch.Generator().manual_seed(31), dtype=torch.float64)
    with torch.no_grad(), one_thread():
        got = checks.run_student(mine, x.clone(), name="MyCNBlock(16)'s forward", question='03_architectures/q6_block')
        branch = ref.block(x.clone())
        b = ref.block
        relu = b[6](b[5](F.relu(b[3](b[2](b[1](b[0](x.clone())))))))
    checks.check_tensor('MyCNBlock(16)(x)', got, x + ref.layer_scale * branch, atol=1e-09, mistakes={'layer scale forgotten? the branch is multiplied by layer_scale': x + branch, 'residual forgotten? the output is x + layer_scale * block(x)': ref.layer_scale * branch, 'ReLU instead of GELU?': x + ref.layer_scale * relu})

