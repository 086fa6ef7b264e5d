"""helpers.bench against oracles: a simulated asynchronous device for the timing method, brute force
for the Pareto front and the batch budget, PyTorch's own fusion for batch-norm folding, real output
shapes for the arithmetic intensity, and tensor sizes for memory."""
import math
import random
import statistics

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import fusion

from helpers import bench


# --------------------------------------------------------------------------- time
def test_simulated_device_shows_why_sync_matters():
    dev = bench.SimulatedDevice([0.5, 0.5], launch=0.001)
    start = dev.clock(); dev.fn(); unsynced = dev.clock() - start
    dev.sync()
    start = dev.clock(); dev.fn(); dev.sync(); synced = dev.clock() - start
    assert unsynced == pytest.approx(0.001)
    assert synced == pytest.approx(0.501)
    with pytest.raises(RuntimeError, match="more than the 2 times"):
        dev.fn()


def test_measure_excludes_warmup_and_takes_the_median():
    timed = [1.0, 1.3, 9.0, 1.1, 1.2]
    dev = bench.SimulatedDevice([5.0, 5.0] + timed, launch=0.001)
    t = bench.measure(dev.fn, warmup=2, repeats=5, sync=dev.sync, clock=dev.clock)
    assert t.times == pytest.approx(tuple(x + 0.001 for x in timed))
    assert t.median == pytest.approx(1.201)
    assert t.warmup == 2 and dev.calls == 7


def test_measure_never_reads_the_clock_with_work_pending():
    dev = bench.SimulatedDevice([3.0, 0.5, 0.25], launch=0.01)
    t = bench.measure(dev.fn, warmup=1, repeats=2, sync=dev.sync, clock=dev.clock)
    assert t.times == pytest.approx((0.51, 0.26))  # the warm-up's 3 s never leak in
    pending = False
    for event in dev.log:
        pending = (pending or event == "fn") and event != "sync"
        assert not (event == "clock" and pending)


def test_measure_times_a_real_callable_on_cpu():
    calls = []
    t = bench.measure(lambda: calls.append(1), warmup=2, repeats=3, device="cpu")
    assert len(calls) == 5 and len(t.times) == 3 and all(x >= 0 for x in t.times)
    assert "median of 3, 2 warm-up" in str(t)


@pytest.mark.parametrize("kwargs,match", [
    ({"warmup": -1}, "warmup must be non-negative"),
    ({"repeats": 0}, "repeats must be positive"),
    ({"repeats": 2.5}, "repeats must be an int"),
])
def test_measure_rejects_bad_counts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench.measure(lambda: None, **kwargs)
    with pytest.raises(ValueError, match="fn must be a callable"):
        bench.measure(3)


def test_synchronizer_is_a_no_op_on_cpu_and_waits_on_cuda():
    assert bench.synchronizer("cpu")() is None
    if torch.cuda.is_available():
        sync = bench.synchronizer("cuda")
        torch.randn(512, 512, device="cuda") @ torch.randn(512, 512, device="cuda")
        sync()
        assert torch.cuda.current_stream().query()


def test_speedup_is_the_ratio_of_medians():
    slow, fast = bench.Timing((2.0, 2.2, 9.0), 1), bench.Timing((1.0, 1.1, 1.0), 1)
    assert bench.speedup(slow, fast) == pytest.approx(2.2)
    assert bench.speedup(fast, slow) == pytest.approx(1 / 2.2)
    with pytest.raises(ValueError, match="improved must be a Timing"):
        bench.speedup(slow, 1.0)


def test_throughput_sweeps_batch_sizes():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    results = bench.throughput(net, (3, 8, 8), [1, 4], device="cpu", warmup=1, repeats=2)
    assert list(results) == [1, 4]
    assert all(isinstance(t, bench.Timing) and len(t.times) == 2 for t in results.values())
    with pytest.raises(ValueError, match="batch size must be positive"):
        bench.throughput(net, (3, 8, 8), [0], device="cpu")
    with pytest.raises(ValueError, match="input_size must be one sample's shape"):
        bench.throughput(net, 8, [1], device="cpu")


# --------------------------------------------------------------------------- roofline
def test_peak_and_bandwidth_are_positive_rates():
    for rate in (bench.peak_matmul_flops("cpu", n=64, repeats=2), bench.copy_bandwidth("cpu", numel=4096, repeats=2)):
        assert math.isfinite(rate) and rate > 0
    with pytest.raises(ValueError, match="n must be positive"):
        bench.peak_matmul_flops("cpu", n=0)


@pytest.mark.parametrize("c_in,c_out,k,stride,padding,dilation,groups,size", [
    (8, 16, 3, 1, 1, 1, 1, 10), (8, 8, 3, 1, 1, 1, 8, 10), (6, 12, 5, 2, 2, 1, 3, 11), (4, 4, 3, 1, 2, 2, 1, 9),
])
def test_conv_arithmetic_intensity_from_real_shapes(c_in, c_out, k, stride, padding, dilation, groups, size):
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=False)
    x = torch.zeros(1, c_in, size, size, dtype=torch.float64)
    out = F.conv2d(x, conv.weight.double(), stride=stride, padding=padding, dilation=dilation, groups=groups)
    macs = out.numel() * (c_in // groups) * k * k
    expected = 2 * macs / ((x.numel() + conv.weight.numel() + out.numel()) * 2)
    assert bench.conv_arithmetic_intensity(conv, (c_in, size, size), bytes_per_element=2) == pytest.approx(expected)


def test_depthwise_is_less_intense_than_dense():
    dense = nn.Conv2d(64, 64, 3, padding=1, bias=False)
    depthwise = nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False)
    assert bench.conv_arithmetic_intensity(depthwise, (64, 56, 56)) < bench.conv_arithmetic_intensity(dense, (64, 56, 56)) / 10
    with pytest.raises(ValueError, match="conv must be an nn.Conv2d"):
        bench.conv_arithmetic_intensity(nn.Linear(2, 2), (2,))


def test_attainable_flops_is_the_roofline():
    assert bench.attainable_flops(2.0, 1e12, 1e11) == 2e11          # memory-bound
    assert bench.attainable_flops(50.0, 1e12, 1e11) == 1e12         # compute-bound
    with pytest.raises(ValueError, match="bandwidth must be a positive number"):
        bench.attainable_flops(1.0, 1.0, 0)


# --------------------------------------------------------------------------- memory
def test_parameter_bytes_follows_each_dtype():
    net = nn.Sequential(nn.Conv2d(3, 8, 3).half(), nn.Linear(10, 20).double(), nn.BatchNorm2d(8).to(torch.bfloat16))
    assert bench.parameter_bytes(net) == sum(p.nbytes for p in net.parameters())
    assert bench.parameter_bytes(nn.Linear(10, 20)) == 4 * (200 + 20)
    with pytest.raises(ValueError, match="module must be a torch.nn.Module"):
        bench.parameter_bytes([1, 2])


@pytest.mark.parametrize("batch", [1, 3])
def test_saved_activation_bytes_counts_what_backward_keeps(batch):
    # Linear saves its input (for the weight's gradient), ReLU its output; the second Linear's input is
    # that same output (counted once); the weights are parameters (not counted).
    net = nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU(), nn.Linear(8, 2))
    assert bench.saved_activation_bytes(net, torch.randn(batch, 4)) == batch * (4 + 8) * 4
    with pytest.raises(ValueError, match="x must be a batch tensor"):
        bench.saved_activation_bytes(net, [1.0])


def test_saved_activation_bytes_grows_with_the_batch():
    # Per sample: the conv's input (3x8x8), batch norm's input (the conv's 4x6x6 output) and the ReLU's
    # output (4x6x6), float32; batch norm's per-channel statistics do not grow with the batch.
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    one = bench.saved_activation_bytes(net, torch.randn(1, 3, 8, 8))
    four = bench.saved_activation_bytes(net, torch.randn(4, 3, 8, 8))
    assert four - one == 3 * 4 * (3 * 8 * 8 + 2 * 4 * 6 * 6)


def test_max_batch_size_against_brute_force():
    rng = random.Random(0)
    for _ in range(200):
        budget, fixed, per = rng.randint(0, 500), rng.randint(0, 300), rng.randint(1, 40)
        b = 0
        while fixed + (b + 1) * per <= budget:
            b += 1
        assert bench.max_batch_size(budget, fixed, per) == b
    with pytest.raises(ValueError, match="per_sample_bytes must be positive"):
        bench.max_batch_size(10, 1, 0)


# --------------------------------------------------------------------------- folding
def _random_bn(c: int, seed: int, affine: bool = True) -> nn.BatchNorm2d:
    g = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm2d(c, eps=1e-3, affine=affine).double().eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(c, generator=g))
        bn.running_var.copy_(torch.rand(c, generator=g) + 0.5)
        if affine:
            bn.weight.copy_(torch.randn(c, generator=g))
            bn.bias.copy_(torch.randn(c, generator=g))
    return bn


@pytest.mark.parametrize("bias,groups,stride", [(False, 1, 1), (True, 1, 2), (True, 4, 1), (False, 8, 2)])
def test_fold_batchnorm_matches_torch_fusion(bias, groups, stride):
    conv = nn.Conv2d(8, 8, 3, stride=stride, padding=1, groups=groups, bias=bias).double().eval()
    bn = _random_bn(8, seed=groups)
    folded = bench.fold_batchnorm(conv, bn)
    ref = fusion.fuse_conv_bn_eval(conv, bn)
    x = torch.randn(2, 8, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), bn(conv(x)), rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(folded.weight, ref.weight, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(folded.bias, ref.bias, rtol=1e-12, atol=1e-12)
    assert (folded.stride, folded.groups) == (conv.stride, conv.groups)


def test_fold_batchnorm_without_affine_and_bad_input():
    conv = nn.Conv2d(3, 4, 1).double()
    bn = _random_bn(4, seed=1, affine=False)
    x = torch.randn(1, 3, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(bench.fold_batchnorm(conv, bn)(x), bn(conv(x)))
    with pytest.raises(ValueError, match=r"bn.num_features \(5\) must equal conv.out_channels \(4\)"):
        bench.fold_batchnorm(conv, nn.BatchNorm2d(5))


# --------------------------------------------------------------------------- Pareto front
def test_pareto_front_against_brute_force():
    rng = random.Random(1)
    for n in (0, 1, 2, 5, 30):
        costs = [rng.randint(1, 6) for _ in range(n)]
        scores = [rng.randint(1, 6) for _ in range(n)]
        costs, scores = costs + costs[:2], scores + scores[:2]  # exact duplicates
        expected = [i for i in range(len(costs)) if not any(
            costs[j] <= costs[i] and scores[j] >= scores[i] and (costs[j] < costs[i] or scores[j] > scores[i])
            for j in range(len(costs)))]
        assert bench.pareto_front(costs, scores) == expected
    with pytest.raises(ValueError, match="same length"):
        bench.pareto_front([1, 2], [1])


def test_timing_median_is_statistics_median():
    t = bench.Timing((4.0, 1.0, 3.0, 2.0), 0)
    assert t.median == statistics.median(t.times) == 2.5 and t.min == 1.0
