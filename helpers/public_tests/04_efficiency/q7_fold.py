from otter.test_files import test_case

OK_FORMAT = False

name = "q7_fold"
points = [2]

@test_case(points=None, hidden=False)
def test_fold_batchnorm_no_conv_bias(fold_batchnorm):
    """judge: kernel. The student's function takes modules the test builds."""
    import torch
    from torch import nn
    from torch.nn.utils import fusion
    from helpers import bench, checks
    torch.manual_seed(0)
    conv = checks.randomized(nn.Conv2d(4, 6, 3, padding=1, bias=False), 1)
    bn = checks.randomized(nn.BatchNorm2d(6), 2)
    x = torch.randn(2, 4, 7, 7, dtype=torch.float64)
    with torch.no_grad():
        expected = bn(conv(x))
        ref = fusion.fuse_conv_bn_eval(conv, bn)
    folded = checks.run_student(fold_batchnorm, conv, bn, question='04_efficiency/q7_fold')
    if not isinstance(folded, nn.Conv2d):
        raise checks.CheckFailed(f'fold_batchnorm must return an nn.Conv2d, got {type(folded).__name__}')
    if folded.bias is None:
        raise checks.CheckFailed('the folded convolution needs a bias: batch norm shifts each channel\n' + checks.HIDDEN_NOTE)
    with torch.no_grad():
        got = folded.double()(x)
        no_beta = expected - bn.bias.reshape(1, -1, 1, 1)
    checks.check_tensor('fold_batchnorm(conv, bn)(x)', got, expected, atol=1e-09, rtol=1e-09, mistakes={"batch norm's shift beta is missing from the bias": no_beta})
    checks.check_tensor('the folded weight', folded.weight.detach().double(), ref.weight.detach(), atol=1e-09, rtol=1e-09)

