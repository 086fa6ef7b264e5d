from otter.test_files import test_case

OK_FORMAT = False

name = "q5_block"
points = [1]

@test_case(points=None, hidden=False)
def test_depthwise_separable_block(MyDepthwiseSeparable):
    import torch
    import helpers
    from helpers import blocks, checks
    randomized = checks.randomized
    load_into = checks.load_reference_weights
    ref = randomized(blocks.DepthwiseSeparable(16, 32), seed=70)
    mine = load_into(checks.run_student(MyDepthwiseSeparable, 16, 32, stride=1, question='02_blocks/q5_block'), ref, 'MyDepthwiseSeparable(16, 32)', True)
    checks.check_int("MyDepthwiseSeparable(16, 32)'s parameter count", helpers.count_params(mine), helpers.count_params(ref))
    x = torch.randn(2, 16, 6, 6, generator=torch.Generator().manual_seed(71), dtype=torch.float64)
    with torch.no_grad():
        expected = ref(x.clone())
        no_relu = ref.pointwise[1](ref.pointwise[0](ref.depthwise(x.clone())))
        got = checks.run_student(mine, x.clone(), name="MyDepthwiseSeparable(16, 32)'s forward", question='02_blocks/q5_block')
    checks.check_tensor('MyDepthwiseSeparable(16, 32)(x)', got, expected, atol=1e-09, mistakes={'ReLU after the pointwise batch norm forgotten?': no_relu})

