"""Unit 04_efficiency: the solutions pass every test case, and each hidden test fails for at least one
plausible wrong answer (a mutant), run in-process against otter's own test files."""
from __future__ import annotations

import course

UNIT = "04_efficiency"

# name -> (question, code that replaces the answer). Each is a mistake students make.
MUTANTS: dict[str, tuple[str, str]] = {
    "a stage's MACs without its children's": ("q1_stages", """
        def stage_costs(model, input_size, stages):
            own = helpers.counting._trace(model, input_size).exclusive
            return {name: (helpers.count_params(model.get_submodule(name)), own[name]) for name in stages}
    """),
    "the whole network's parameters for every stage": ("q1_stages", """
        def stage_costs(model, input_size, stages):
            macs = macs_by_module(model, input_size)
            return {name: (helpers.count_params(model), macs[name]) for name in stages}
    """),
    "shares given as percentages": ("q1_stages", """
        layer4_param_share, layer4_mac_share = 100 * layer4_param_share, 100 * layer4_mac_share
    """),
    "FLOPs counted as MACs": ("q1_flops", """
        small_macs = 2 * (16 * 32 * 32 * 27 + 16 * 16 * 16 * 10)
    """),
    "MACs reported as FLOPs": ("q1_flops", """
        small_flops = 16 * 32 * 32 * 27 + 16 * 16 * 16 * 10
    """),
    "ptflops' count without the bias adds": ("q1_flops", """
        small_ptflops = 16 * 32 * 32 * 27 + 16 * 16 * 16 * 10 + 4 * 16 * 32 * 32
    """),
    "ptflops' default (ReLU and max-pool twice) given for count_functional=False": ("q1_flops", """
        small_ptflops = small_ptflops_default
    """),
    "count_functional=False's count given as ptflops' default": ("q1_flops", """
        small_ptflops_default = small_ptflops
    """),
    "FLOPs counted as MACs, for any configuration": ("q1_flops", """
        _right = small_counts
        def small_counts(channels, size, num_classes=10):
            macs, flops, once, default = _right(channels, size, num_classes)
            return flops, flops, once, default
    """),
    "the max-pool counted on its output elements in ptflops' rules": ("q1_flops", """
        _right = small_counts
        def small_counts(channels, size, num_classes=10):
            macs, flops, once, default = _right(channels, size, num_classes)
            fewer = channels * size * size - channels * (size // 2) ** 2
            return macs, flops, once - fewer, default - 2 * fewer
    """),
    "the linear layer's bias forgotten in ptflops' rules": ("q1_flops", """
        _right = small_counts
        def small_counts(channels, size, num_classes=10):
            macs, flops, once, default = _right(channels, size, num_classes)
            return macs, flops, once - num_classes, default - num_classes
    """),
    "identical points drop each other from the front": ("q2_pareto", """
        def pareto_front(costs, scores):
            front, best = [], float("-inf")
            for i in sorted(range(len(costs)), key=lambda i: (costs[i], -scores[i])):
                if scores[i] > best:
                    front.append(i)
                    best = scores[i]
            return sorted(front)
    """),
    "dominance only when strictly better in both": ("q2_pareto", """
        def pareto_front(costs, scores):
            n = len(costs)
            return [i for i in range(n) if not any(costs[j] < costs[i] and scores[j] > scores[i] for j in range(n))]
    """),
    "calls the reference Pareto front": ("q2_pareto", """
        def pareto_front(costs, scores):
            return bench.pareto_front(costs, scores)
    """),
    "no synchronisation": ("q3_measure", """
        def measure(fn, warmup, repeats, sync, clock=time.perf_counter):
            for _ in range(warmup):
                fn()
            times = []
            for _ in range(repeats):
                start = clock()
                fn()
                times.append(clock() - start)
            return statistics.median(times)
    """),
    "the mean instead of the median": ("q3_measure", """
        def measure(fn, warmup, repeats, sync, clock=time.perf_counter):
            for _ in range(warmup):
                fn()
            times = []
            for _ in range(repeats):
                sync()
                start = clock()
                fn()
                sync()
                times.append(clock() - start)
            return statistics.mean(times)
    """),
    "the warm-up calls timed too": ("q3_measure", """
        def measure(fn, warmup, repeats, sync, clock=time.perf_counter):
            times = []
            for _ in range(warmup + repeats):
                sync()
                start = clock()
                fn()
                sync()
                times.append(clock() - start)
            return statistics.median(times)
    """),
    "one sync after the whole loop (the total over repeats)": ("q3_measure", """
        def measure(fn, warmup, repeats, sync, clock=time.perf_counter):
            for _ in range(warmup):
                fn()
            sync()
            start = clock()
            for _ in range(repeats):
                fn()
            sync()
            return (clock() - start) / repeats
    """),
    "no sync before the clock starts: warm-up work leaks in": ("q3_measure", """
        def measure(fn, warmup, repeats, sync, clock=time.perf_counter):
            for _ in range(warmup):
                fn()
            times = []
            for _ in range(repeats):
                start = clock()
                fn()
                sync()
                times.append(clock() - start)
            return statistics.median(times)
    """),
    "time.perf_counter read instead of the clock argument": ("q3_measure", """
        def measure(fn, warmup, repeats, sync, clock=time.perf_counter):
            for _ in range(warmup):
                fn()
            times = []
            for _ in range(repeats):
                sync()
                start = time.perf_counter()
                fn()
                sync()
                times.append(time.perf_counter() - start)
            return statistics.median(times)
    """),
    "calls the reference measure": ("q3_measure", """
        def measure(fn, warmup, repeats, sync, clock=time.perf_counter):
            return bench.measure(fn, warmup=warmup, repeats=repeats, sync=sync, clock=clock).median
    """),
    "intensity from MACs, not FLOPs": ("q4_intensity", """
        _right = arithmetic_intensity
        def arithmetic_intensity(c_in, c_out, kernel_size, size, groups=1, bytes_per_element=4):
            return _right(c_in, c_out, kernel_size, size, groups, bytes_per_element) / 2
    """),
    "the weights' bytes forgotten": ("q4_intensity", """
        def arithmetic_intensity(c_in, c_out, kernel_size, size, groups=1, bytes_per_element=4):
            macs = c_out * size * size * (c_in // groups) * kernel_size * kernel_size
            return 2 * macs / ((c_in + c_out) * size * size * bytes_per_element)
    """),
    "groups ignored in the intensity": ("q4_intensity", """
        _right = arithmetic_intensity
        def arithmetic_intensity(c_in, c_out, kernel_size, size, groups=1, bytes_per_element=4):
            return _right(c_in, c_out, kernel_size, size, 1, bytes_per_element)
    """),
    "memory-bound read the wrong way round": ("q4_intensity", """
        def memory_bound(intensity, peak_flops, bandwidth):
            return intensity > peak_flops / bandwidth
    """),
    "four bytes for every dtype": ("q5_param_bytes", """
        def parameter_bytes(model):
            return 4 * sum(p.numel() for p in model.parameters())
    """),
    "parameters counted, not bytes": ("q5_param_bytes", """
        def parameter_bytes(model):
            return sum(p.numel() for p in model.parameters())
    """),
    "gradients forgotten": ("q5_batch", """
        def max_batch_size(budget_bytes, param_bytes, activation_bytes_per_sample, optimizer_states=2):
            return max(0, (budget_bytes - param_bytes * (1 + optimizer_states)) // activation_bytes_per_sample)
    """),
    "a batch that fills the budget exactly refused": ("q5_batch", """
        def max_batch_size(budget_bytes, param_bytes, activation_bytes_per_sample, optimizer_states=2):
            return max(0, (budget_bytes - param_bytes * (2 + optimizer_states) - 1) // activation_bytes_per_sample)
    """),
    "a negative batch when the fixed part does not fit": ("q5_batch", """
        def max_batch_size(budget_bytes, param_bytes, activation_bytes_per_sample, optimizer_states=2):
            return (budget_bytes - param_bytes * (2 + optimizer_states)) // activation_bytes_per_sample
    """),
    "the squares forgotten in the compound factor": ("q6_scaling", """
        def predicted_macs(phi, b0_macs, alpha=1.2, beta=1.1, gamma=1.15):
            return b0_macs * (alpha * beta * gamma) ** phi
    """),
    "exactly 2^phi": ("q6_scaling", """
        def predicted_macs(phi, b0_macs, alpha=1.2, beta=1.1, gamma=1.15):
            return b0_macs * 2.0 ** phi
    """),
    "phi rounded up: one step past the budget": ("q6_scaling", """
        def choose_phi(budget_macs, b0_macs, alpha=1.2, beta=1.1, gamma=1.15):
            if b0_macs > budget_macs:
                return None
            return math.ceil(math.log(budget_macs / b0_macs) / math.log(alpha * beta ** 2 * gamma ** 2))
    """),
    "0 instead of None when B0 does not fit": ("q6_scaling", """
        _right = choose_phi
        def choose_phi(budget_macs, b0_macs, alpha=1.2, beta=1.1, gamma=1.15):
            phi = _right(budget_macs, b0_macs, alpha, beta, gamma)
            return 0 if phi is None else phi
    """),
    "batch norm's bias (beta) forgotten in the fold": ("q7_fold", """
        def fold_batchnorm(conv, bn):
            folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                               padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True,
                               dtype=conv.weight.dtype)
            with torch.no_grad():
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
                folded.bias.copy_((bias - bn.running_mean) * scale)
            return folded
    """),
    "the convolution's own bias forgotten": ("q7_fold", """
        def fold_batchnorm(conv, bn):
            folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                               padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True,
                               dtype=conv.weight.dtype)
            with torch.no_grad():
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
                folded.bias.copy_(-bn.running_mean * scale + bn.bias)
            return folded
    """),
    "variance used where the standard deviation belongs": ("q7_fold", """
        def fold_batchnorm(conv, bn):
            folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                               padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True,
                               dtype=conv.weight.dtype)
            with torch.no_grad():
                scale = bn.weight / (bn.running_var + bn.eps)
                bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
                folded.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
            return folded
    """),
    "folded into the convolution in place": ("q7_fold", """
        def fold_batchnorm(conv, bn):
            with torch.no_grad():
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
                conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
            return conv
    """),
    "calls PyTorch's fusion": ("q7_fold", """
        def fold_batchnorm(conv, bn):
            return torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn)
    """),
    "speed-up inverted": ("q7_speedup", """
        def speedup(baseline_times, new_times):
            return statistics.median(new_times) / statistics.median(baseline_times)
    """),
    "speed-up from means": ("q7_speedup", """
        def speedup(baseline_times, new_times):
            return statistics.mean(baseline_times) / statistics.mean(new_times)
    """),
    "the lower middle value as the median": ("q7_speedup", """
        def speedup(baseline_times, new_times):
            def low(t):
                return sorted(t)[(len(t) - 1) // 2]
            return low(baseline_times) / low(new_times)
    """),
}


class TestRoundTrip(course.UnitRoundTrip):
    UNIT = UNIT
    MUTANTS = MUTANTS
