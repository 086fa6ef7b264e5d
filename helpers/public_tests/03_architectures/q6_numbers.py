from otter.test_files import test_case

OK_FORMAT = False

name = "q6_numbers"
points = [1]

@test_case(points=None, hidden=False)
def test_convnext_stage_sizes_224(convnext_stage_sizes):
    import torch
    from helpers.runtime import meta_device
    import torchvision.models as tvm
    from helpers import checks
    with meta_device():
        features, x, expected = (tvm.convnext_tiny(weights=None).features, torch.empty(1, 3, 224, 224), [])
        for i, layer in enumerate(features):
            x = layer(x)
            if i in (1, 3, 5, 7):
                expected.append(int(x.shape[-1]))
    got = checks.run_student(convnext_stage_sizes, 224, question='03_architectures/q6_numbers')
    if type(got) not in (list, tuple) or len(got) != 4:
        raise checks.CheckFailed(f'convnext_stage_sizes(224) must be a list of four ints, one per stage, got {got!r}')
    checks.check_int('convnext_stage_sizes(224)[0]', got[0], expected[0], mistakes={"the stem's stride is 4 (patchify), not 2": 2 * expected[0]})
    checks.check_ints('convnext_stage_sizes(224)', got, expected)

