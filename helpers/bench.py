"""Measuring what a network costs on the running device: time, memory, and the roofline.

Introduced in notebooks/04_efficiency.ipynb. The notebook asks students to write
:func:`measure`'s method themselves (section 3) and reuses these versions afterwards.

* time -- :func:`measure` (warm-up, synchronise, median of repeats), :func:`synchronizer`,
  :func:`throughput` (a batch-size sweep), :func:`speedup`, and :class:`SimulatedDevice`,
  an asynchronous device on a virtual clock that shows (and tests) why the method matters;
* the roofline -- :func:`peak_matmul_flops`, :func:`copy_bandwidth`,
  :func:`conv_arithmetic_intensity`, :func:`attainable_flops`;
* memory -- :func:`parameter_bytes`, :func:`saved_activation_bytes`, :func:`max_batch_size`;
* making it cheaper without changing the answer -- :func:`fold_batchnorm`;
* choosing a model -- :func:`pareto_front`.

Why the method matters: on a GPU, ``model(x)`` only *queues* kernels and returns
while the GPU is still working, so a clock read right after it measures the launch,
not the work. The first calls pay one-off costs (memory allocation, cuDNN picking an
algorithm, lazy initialisation), and any machine has the odd slow call when something
else runs. Hence: warm up untimed, synchronise before reading the clock, and report the
median of several timed calls.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from helpers import runtime
from helpers._args import check_int
from helpers.counting import _check_input_size, count_macs
from helpers.shortcuts import answers

__all__ = [
    "SimulatedDevice",
    "Timing",
    "attainable_flops",
    "conv_arithmetic_intensity",
    "copy_bandwidth",
    "fold_batchnorm",
    "max_batch_size",
    "measure",
    "parameter_bytes",
    "pareto_front",
    "peak_matmul_flops",
    "saved_activation_bytes",
    "speedup",
    "synchronizer",
    "throughput",
]


# --------------------------------------------------------------------------- #
# Time
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Timing:
    """Seconds per timed call (warm-up calls excluded), and their median."""

    times: tuple[float, ...]
    warmup: int

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    def __str__(self) -> str:
        return f"{self.median * 1e3:.3g} ms (median of {len(self.times)}, {self.warmup} warm-up)"


def synchronizer(device: torch.device | str | None = None) -> Callable[[], None]:
    """A function that returns once ``device`` has finished the work queued on it.

    CUDA (and Apple's MPS) run asynchronously: a call returns when its kernels are
    queued. The CPU runs each operator to completion, so its synchroniser does nothing.
    """
    device = torch.device(device) if device is not None else runtime.device()
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    if device.type == "mps":
        return torch.mps.synchronize
    return lambda: None


@answers("04_efficiency/q3_measure")
def measure(fn: Callable[[], object], *, warmup: int = 3, repeats: int = 10,
            sync: Callable[[], None] | None = None, device: torch.device | str | None = None,
            clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones.

    Each timed call is bracketed by synchronisations (``sync``, by default
    :func:`synchronizer` of ``device``), so the clock stops when the device has
    finished, and no work queued earlier leaks into it. ``clock`` is injectable so
    that the method itself can be tested with a simulated device.
    """
    warmup = check_int("warmup", warmup, minimum=0)
    repeats = check_int("repeats", repeats, minimum=1)
    if not callable(fn):
        raise ValueError(f"fn must be a callable taking no arguments, got {type(fn).__name__}")
    sync = sync if sync is not None else synchronizer(device)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()  # nothing queued before may count
        start = clock()
        fn()
        sync()  # the clock stops when the work is done, not when it is queued
        times.append(clock() - start)
    return Timing(tuple(times), warmup)


class SimulatedDevice:
    """An asynchronous accelerator in miniature, on a virtual clock: for testing a timing method.

    ``fn()`` takes ``launch`` seconds to *queue* its work and returns; the work itself
    (``durations[k]`` seconds for the k-th call) runs on the device after that, one
    call after another. ``sync()`` waits until the queue is empty, and ``clock()``
    reads the virtual time. So ``clock(); fn(); clock()`` measures only the launch,
    exactly what happens with CUDA, while ``clock(); fn(); sync(); clock()`` measures
    ``launch + durations[k]``. ``log`` records the calls in order.
    """

    def __init__(self, durations: Sequence[float], launch: float = 1e-3):
        self.durations = [float(d) for d in durations]
        self.launch = float(launch)
        self.now = 0.0          # virtual time
        self.busy_until = 0.0   # when the queued work will be done
        self.calls = 0
        self.log: list[str] = []

    def fn(self) -> None:
        if self.calls >= len(self.durations):
            raise RuntimeError(f"fn was called more than the {len(self.durations)} times this test expects")
        self.now += self.launch
        self.busy_until = max(self.busy_until, self.now) + self.durations[self.calls]
        self.calls += 1
        self.log.append("fn")

    def sync(self) -> None:
        self.now = max(self.now, self.busy_until)
        self.log.append("sync")

    def clock(self) -> float:
        self.log.append("clock")
        return self.now


@answers("04_efficiency/q7_speedup")
def speedup(baseline: Timing, improved: Timing) -> float:
    """How many times faster ``improved`` is: the ratio of the medians (> 1 is faster)."""
    for name, t in (("baseline", baseline), ("improved", improved)):
        if not isinstance(t, Timing):
            raise ValueError(f"{name} must be a Timing from helpers.bench.measure, got {type(t).__name__}")
    return baseline.median / improved.median


def throughput(model: nn.Module, input_size: Sequence[int], batch_sizes: Sequence[int], *,
               device: torch.device | str | None = None, warmup: int = 2, repeats: int = 5,
               dtype: torch.dtype = torch.float32) -> dict[int, Timing]:
    """A batch-size sweep: batch size -> :class:`Timing` of one inference forward pass.

    Images per second are ``batch / timing.median``. The model itself is moved to
    ``device`` (the course's device by default) and put in eval mode; gradients are off.
    """
    size = _check_input_size(input_size)
    device = torch.device(device) if device is not None else runtime.device()
    if not batch_sizes:
        raise ValueError("batch_sizes must name at least one batch size")
    model = model.to(device=device, dtype=dtype).eval()
    results = {}
    with torch.inference_mode():
        for b in batch_sizes:
            b = check_int("batch size", b, minimum=1)
            x = torch.randn(b, *size, device=device, dtype=dtype)
            results[b] = measure(lambda: model(x), warmup=warmup, repeats=repeats, device=device)
    return results


# --------------------------------------------------------------------------- #
# The roofline: what the device can do, and what a layer asks of it
# --------------------------------------------------------------------------- #
def peak_matmul_flops(device: torch.device | str | None = None, *, n: int = 1024,
                      dtype: torch.dtype = torch.float32, repeats: int = 5) -> float:
    """Floating-point operations per second of an ``n x n`` matrix product on ``device``.

    A large matrix product is the most compute-bound thing a framework runs, so its
    rate stands in for the device's peak: ``2 n^3`` FLOPs (one multiply and one add
    per MAC) divided by the median time.
    """
    n = check_int("n", n, minimum=1)
    device = torch.device(device) if device is not None else runtime.device()
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    t = measure(lambda: a @ b, warmup=2, repeats=repeats, device=device)
    return 2 * n ** 3 / t.median


def copy_bandwidth(device: torch.device | str | None = None, *, numel: int = 2 ** 24,
                   dtype: torch.dtype = torch.float32, repeats: int = 5) -> float:
    """Bytes per second that ``dst.copy_(src)`` moves on ``device``.

    A copy does no arithmetic: each element is read once and written once, so
    ``2 * numel * element size`` bytes move per call, and the rate is the memory
    bandwidth a memory-bound layer can hope for.
    """
    numel = check_int("numel", numel, minimum=1)
    device = torch.device(device) if device is not None else runtime.device()
    src = torch.randn(numel, device=device, dtype=dtype)
    dst = torch.empty_like(src)
    t = measure(lambda: dst.copy_(src), warmup=2, repeats=repeats, device=device)
    return 2 * numel * src.element_size() / t.median


@answers("04_efficiency/q4_intensity")
def conv_arithmetic_intensity(conv: nn.Conv2d, input_size: Sequence[int], bytes_per_element: int = 4) -> float:
    """FLOPs per byte of one convolution on one input of shape ``input_size = (C, H, W)``.

    FLOPs are ``2 * count_macs`` (a MAC is a multiply and an add); the bytes are the
    least any implementation must move: read the input and the weights once, write
    the output once (biases are too few to matter and are left out).
    """
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(f"conv must be an nn.Conv2d, got {type(conv).__name__}")
    size = _check_input_size(input_size)
    bytes_per_element = check_int("bytes_per_element", bytes_per_element, minimum=1)
    macs = count_macs(conv, size)  # on meta tensors: nothing computed
    out_numel = macs // conv.weight[0].numel()  # each output element costs (C_in/groups)*kh*kw MACs
    elements = math.prod(size) + conv.weight.numel() + out_numel
    return 2 * macs / (elements * bytes_per_element)


@answers("04_efficiency/q4_intensity")
def attainable_flops(intensity: float, peak_flops: float, bandwidth: float) -> float:
    """The roofline: ``min(peak, intensity * bandwidth)`` FLOP/s.

    Below the ridge point ``peak / bandwidth`` FLOPs per byte a layer is memory-bound:
    the device waits for data, and fewer MACs do not make it proportionally faster.
    """
    for name, v in (("intensity", intensity), ("peak_flops", peak_flops), ("bandwidth", bandwidth)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    return min(peak_flops, intensity * bandwidth)


# --------------------------------------------------------------------------- #
# Memory
# --------------------------------------------------------------------------- #
@answers("04_efficiency/q5_param_bytes")
def parameter_bytes(module: nn.Module) -> int:
    """Bytes the parameters occupy: each parameter's ``numel * element_size`` (its dtype's size)."""
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    return sum(p.numel() * p.element_size() for p in module.parameters())


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps from ``model(x)``'s forward pass for the backward pass.

    This is the activation memory of training: it grows with the batch, unlike the
    parameters. Tensors that share storage count once, and the parameters themselves
    (which autograd also saves, e.g. a convolution's weight) are left out. In
    inference (``torch.inference_mode()``) nothing is saved and activations live only
    until the next layer has read them.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a batch tensor, got {type(x).__name__}")
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(storages.values())


@answers("04_efficiency/q5_batch")
def max_batch_size(budget_bytes: int, fixed_bytes: int, per_sample_bytes: int) -> int:
    """The largest batch ``b`` with ``fixed_bytes + b * per_sample_bytes <= budget_bytes`` (0 if none).

    ``fixed_bytes`` is what does not grow with the batch (parameters, and for training
    their gradients and the optimiser's state); ``per_sample_bytes`` what does
    (activations).
    """
    budget = check_int("budget_bytes", budget_bytes, minimum=0)
    fixed = check_int("fixed_bytes", fixed_bytes, minimum=0)
    per_sample = check_int("per_sample_bytes", per_sample_bytes, minimum=1)
    return max(0, (budget - fixed) // per_sample)


# --------------------------------------------------------------------------- #
# Cheaper, same answer
# --------------------------------------------------------------------------- #
@answers("04_efficiency/q7_fold")
def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """One convolution that computes ``bn(conv(x))`` for a batch norm in eval mode.

    In eval mode batch norm is a per-channel affine map,
    ``y = gamma * (z - mean) / sqrt(var + eps) + beta``, so with
    ``scale = gamma / sqrt(var + eps)`` it folds into the convolution before it:
    ``W' = W * scale`` (per output channel) and ``b' = (b - mean) * scale + beta``
    (``b = 0`` when the convolution has no bias). The folded layer always has a bias.
    """
    if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
        raise ValueError(f"conv must be an nn.Conv2d and bn an nn.BatchNorm2d, "
                         f"got {type(conv).__name__} and {type(bn).__name__}")
    if bn.num_features != conv.out_channels:
        raise ValueError(f"bn.num_features ({bn.num_features}) must equal conv.out_channels ({conv.out_channels})")
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("bn must track running statistics (track_running_stats=True) to be folded")
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                       padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True,
                       padding_mode=conv.padding_mode, device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        scale = torch.rsqrt(bn.running_var + bn.eps)  # (C_out,)
        if bn.affine:
            scale = scale * bn.weight
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        shift = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
        folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))  # (C_out, C_in/groups, kh, kw)
        folded.bias.copy_((bias - bn.running_mean) * scale + shift)
    return folded


# --------------------------------------------------------------------------- #
# Choosing a model
# --------------------------------------------------------------------------- #
@answers("04_efficiency/q2_pareto", "03_architectures/q7_pareto")
def pareto_front(costs: Sequence[float], scores: Sequence[float]) -> list[int]:
    """Indices (ascending) of the points that no other point dominates.

    Point ``j`` dominates point ``i`` when it costs no more *and* scores no less, and is
    strictly better in one of the two. For a model zoo, ``costs`` are MACs (or
    parameters, or latency) and ``scores`` accuracies: the front holds the models worth
    considering at some budget. Two identical points do not dominate each other.
    """
    costs, scores = list(costs), list(scores)
    if len(costs) != len(scores):
        raise ValueError(f"costs and scores must have the same length, got {len(costs)} and {len(scores)}")
    front = []
    best, best_cost = -math.inf, None  # the best score so far, and the cost of its cheapest point
    # Cheapest first, best first among equal costs: everything before a point costs no more.
    for i in sorted(range(len(costs)), key=lambda i: (costs[i], -scores[i])):
        if scores[i] > best:
            front.append(i)
            best, best_cost = scores[i], costs[i]
        elif scores[i] == best and costs[i] == best_cost:  # a duplicate of a point on the front
            front.append(i)
    return sorted(front)
