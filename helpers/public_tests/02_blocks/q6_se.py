from otter.test_files import test_case

OK_FORMAT = False

name = "q6_se"
points = [1]

@test_case(points=None, hidden=False)
def test_squeeze_excitation(MySqueezeExcitation):
    import torch
    from torchvision.ops import SqueezeExcitation
    from helpers import blocks, checks
    g = torch.Generator().manual_seed(100)
    ref = SqueezeExcitation(16, 4).double().eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    mine = checks.run_student(MySqueezeExcitation, 16, 4, question='02_blocks/q6_se')
    if not isinstance(mine, torch.nn.Module):
        raise checks.CheckFailed(f'MySqueezeExcitation(16, 4): expected an nn.Module, got {type(mine).__name__}')
    mine = mine.double().eval()
    try:
        mine.load_state_dict(ref.state_dict(), strict=True)
    except RuntimeError as e:
        raise checks.CheckFailed(f"torchvision.ops.SqueezeExcitation's weights do not load into yours: {e}") from None
    x = torch.randn(2, 16, 5, 6, generator=g, dtype=torch.float64)

    def excite(z):
        return torch.sigmoid(ref.fc2(torch.relu(ref.fc1(z))))
    with torch.no_grad():
        got = checks.run_student(mine, x.clone(), name="MySqueezeExcitation(16, 4)'s forward", question='02_blocks/q6_se')
        mistakes = {'SE using max instead of average pooling? the squeeze is a global *average*': excite(x.amax(dim=(2, 3), keepdim=True)) * x, "sigmoid forgotten? each channel's weight must lie in (0, 1)": ref.fc2(torch.relu(ref.fc1(x.mean(dim=(2, 3), keepdim=True)))) * x, 'the weights returned instead of the rescaled input?': excite(x.mean(dim=(2, 3), keepdim=True))}
    checks.check_tensor('MySqueezeExcitation(16, 4)(x)', got, ref(x.clone()), atol=1e-09, mistakes=mistakes)

