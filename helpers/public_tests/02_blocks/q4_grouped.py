from otter.test_files import test_case

OK_FORMAT = False

name = "q4_grouped"
points = [1]

@test_case(points=None, hidden=False)
def test_grouped_conv_by_groups_small(grouped_conv_by_groups):
    """judge: kernel. Its own dispatch mode around the call must see the student's operators, which run in the kernel."""
    import torch
    import torch.nn.functional as F
    from torch.utils._python_dispatch import TorchDispatchMode
    from helpers import checks, layers

    class NoGroupedConv(TorchDispatchMode):

        @classmethod
        def _should_skip_dynamo(cls):
            return False

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if getattr(func, 'overloadpacket', None) is not None and func.overloadpacket.__name__ in ('convolution', '_convolution'):
                if (args[8] if len(args) > 8 else kwargs.get('groups', 1)) != 1:
                    raise checks.ShortcutUsed('your code runs a grouped convolution (groups > 1): run one ordinary convolution per group instead')
            return func(*args, **kwargs)
    g = torch.Generator().manual_seed(60)
    x = torch.randn(1, 4, 5, 5, generator=g, dtype=torch.float64)
    w = torch.randn(6, 2, 3, 3, generator=g, dtype=torch.float64)
    with NoGroupedConv():
        got = checks.run_student(grouped_conv_by_groups, x, w, 2, padding=1, question='02_blocks/q4_grouped')
    interleaved = torch.cat([F.conv2d(x[:, i::2], w[3 * i:3 * i + 3], padding=1) for i in range(2)], 1)
    checks.check_tensor('grouped_conv_by_groups(x, w, 2, padding=1)', got, F.conv2d(x, w, padding=1, groups=2), atol=1e-09, mistakes={'channels taken interleaved (x[:, g::G]) instead of in consecutive blocks?': interleaved})

