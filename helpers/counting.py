"""What a network costs: parameters and multiply-accumulates (MACs).

Introduced in notebooks/04_efficiency.ipynb, section 1.

* :func:`count_params` -- how many numbers the network stores.
* :func:`count_macs` -- how many multiply-accumulates one forward pass of one
  input performs in its convolutions, linear layers and matrix products.
* :func:`macs_by_module` -- the same count, split by submodule.

The MAC convention is the one torchvision publishes as "GFLOPS" in
``Weights.meta["_ops"]`` (``_ops == round(count_macs(model, input_size) / 1e9, 3)``
for every classification weight the course uses, at the weight's crop size):

* a convolution costs ``out.numel() * (C_in / groups) * prod(kernel)``
  (a transposed one ``in.numel() * (C_out / groups) * prod(kernel)``),
* a matrix product ``(M, K) @ (K, N)`` costs ``M * N * K``, times the batch for
  ``bmm``; ``nn.Linear``, ``torch.matmul`` and ``torch.einsum`` reach PyTorch's
  dispatcher as these products and are counted through them,
* attention costs its two matrix products, ``Q @ K^T`` and ``softmax(.) @ V``,
* nothing else: biases, batch norm, activations, pooling, softmax and additions
  cost zero. They are cheap next to the products, and leaving them out is what
  makes the published numbers comparable between papers.

torchvision measured its numbers the same way (pytorch/vision#6936: a dispatch-mode
counter on one image in eval mode, batch of 1, at the weight's crop size). Each
part of the rule shows in the published digits: counting convolution biases breaks
AlexNet, VGG and ConvNeXt, counting batch norm breaks every network that has it,
and letting GoogLeNet's training-only auxiliary heads run breaks GoogLeNet.

One multiply-accumulate is two floating-point operations, so PyTorch's own
:class:`torch.utils.flop_counter.FlopCounterMode` reports twice these numbers.

How it counts without computing: the forward pass runs on *meta* tensors (shapes,
no data, no arithmetic) under a :class:`~torch.utils._python_dispatch.TorchDispatchMode`
that sees every ATen operator the model calls and adds up the cost of the
products from their shapes. A ResNet-152 is counted in a fraction of a second on
a CPU, and the caller's module, its weights and its train/eval mode are untouched.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from helpers._args import check_int
from helpers.shortcuts import answers

__all__ = ["count_params", "count_macs", "macs_by_module"]

aten = torch.ops.aten


# --------------------------------------------------------------------------- #
# Parameters
# --------------------------------------------------------------------------- #
@answers("01_layers/q5_cost",
         "02_blocks/q1_vgg_params",
         "02_blocks/q1_vgg_numbers",
         "02_blocks/q2_torchvision",
         "02_blocks/q2_costs",
         "02_blocks/q4_count",
         "03_architectures/q2_paper_vs_torchvision")
def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module``; a parameter shared by two layers counts once.

    ``trainable_only=True`` counts only those with ``requires_grad`` (what an
    optimiser will update after freezing a backbone).
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    # named_parameters() already drops duplicates, which is what makes tied
    # weights (one tensor reachable under two names) count once.
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------- #
# MAC rules, one per ATen operator, from shapes alone
# --------------------------------------------------------------------------- #
def _shape(t: Any) -> tuple[int, ...]:
    return tuple(t.shape)


def _mm_macs(args: tuple, out: Any) -> int:
    # (M, K) @ (K, N): every one of the M*N outputs is a K-long dot product.
    m, k = _shape(args[0])
    return m * k * _shape(args[1])[-1]


def _addmm_macs(args: tuple, out: Any) -> int:
    # bias + (M, K) @ (K, N): the bias adds are not MACs (nn.Linear with a bias lands here).
    return _mm_macs(args[1:], out)


def _bmm_macs(args: tuple, out: Any) -> int:
    b, m, k = _shape(args[0])
    return b * m * k * _shape(args[1])[-1]


def _baddbmm_macs(args: tuple, out: Any) -> int:
    return _bmm_macs(args[1:], out)


def _addbmm_macs(args: tuple, out: Any) -> int:
    return _bmm_macs(args[1:], out)


def _mv_macs(args: tuple, out: Any) -> int:
    # (M, K) @ (K,): what torch.matmul becomes for a matrix times a vector.
    return math.prod(_shape(args[0]))


def _addmv_macs(args: tuple, out: Any) -> int:
    return _mv_macs(args[1:], out)


def _dot_macs(args: tuple, out: Any) -> int:
    return _shape(args[0])[0]


def _convolution_macs(args: tuple, out: Any) -> int:
    # aten.convolution(input, weight, bias, stride, padding, dilation, transposed, ...).
    # weight is (C_out, C_in/groups, *kernel) for a convolution: each output element
    # is a dot product of length (C_in/groups) * prod(kernel). For a transposed
    # convolution weight is (C_in, C_out/groups, *kernel) and the work is the same
    # product read the other way: each *input* element is scattered into
    # (C_out/groups) * prod(kernel) outputs.
    x, weight = args[0], args[1]
    transposed = bool(args[6]) if len(args) > 6 else False
    per_element = math.prod(_shape(weight)[1:])
    return (x.numel() if transposed else out.numel()) * per_element


def _attention_macs(args: tuple, out: Any) -> int:
    # The fused attention kernels (what F.scaled_dot_product_attention runs on real
    # CPU/GPU tensors) take (B, H, L_q, E) queries, (B, H, L_k, E) keys and
    # (B, H, L_k, E_v) values: Q @ K^T costs B*H*L_q*L_k*E, attn @ V B*H*L_q*L_k*E_v.
    # On meta tensors PyTorch picks the unfused path, whose two bmm's are counted
    # by _bmm_macs to the same total.
    q, k, v = args[0], args[1], args[2]
    *batch, l_q, e = _shape(q)
    l_k, e_v = _shape(k)[-2], _shape(v)[-1]
    return math.prod(batch) * l_q * l_k * (e + e_v)


def _build_rules() -> dict[Any, Callable[[tuple, Any], int]]:
    """The counted operators. Anything missing here costs zero, on purpose (module docstring)."""
    rules: dict[Any, Callable[[tuple, Any], int]] = {
        aten.mm: _mm_macs,
        aten.addmm: _addmm_macs,
        aten.bmm: _bmm_macs,
        aten.baddbmm: _baddbmm_macs,
        aten.addbmm: _addbmm_macs,
        aten.mv: _mv_macs,
        aten.addmv: _addmv_macs,
        aten.dot: _dot_macs,
        aten.vdot: _dot_macs,
        aten.convolution: _convolution_macs,
        aten._convolution: _convolution_macs,
    }
    # Fused attention kernels; which ones exist depends on the PyTorch build.
    for name in (
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_fused_attention_overrideable",
    ):
        if hasattr(aten, name):
            rules[getattr(aten, name)] = _attention_macs
    return rules


_RULES = _build_rules()


# --------------------------------------------------------------------------- #
# The counting pass
# --------------------------------------------------------------------------- #
@dataclass
class _Trace:
    """What one meta forward pass recorded."""

    total: int = 0
    # MACs while each module ran, its children included (qualified name -> MACs).
    inclusive: dict[str, int] = field(default_factory=dict)
    # MACs while each module was the innermost one running (its own ops only).
    exclusive: dict[str, int] = field(default_factory=dict)
    # Output shape(s) of each call of each module, in call order.
    output_shapes: dict[str, list[Any]] = field(default_factory=dict)


def _batch_norm_on_meta(args: tuple) -> tuple | None:
    """What the meta kernel of ``native_batch_norm`` returns for a float32 meta input (the output
    and two per-channel statistics), without running it: that kernel is a Python decomposition, and
    it was 44 % of counting a ResNet-50. None where the kernel must run."""
    x = args[0]
    if not (isinstance(x, torch.Tensor) and x.is_meta and x.dtype == torch.float32 and x.dim() >= 2):
        return None
    return torch.empty_like(x), x.new_empty((x.shape[1],)), x.new_empty((x.shape[1],))


class _MacCounter(TorchDispatchMode):
    """Adds each counted operator's MACs to the total and to every module on the stack."""

    def __init__(self, trace: _Trace) -> None:
        super().__init__()
        self.trace = trace
        self.stack: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        out = _batch_norm_on_meta(args) if func is aten.native_batch_norm.default else None
        if out is None:
            out = func(*args, **(kwargs or {}))
        rule = _RULES.get(func.overloadpacket)
        if rule is not None:
            macs = int(rule(args, out[0] if isinstance(out, (tuple, list)) else out))
            self.trace.total += macs
            if self.stack:
                for name in self.stack:
                    self.trace.inclusive[name] += macs
                self.trace.exclusive[self.stack[-1]] += macs
        return out


def _check_input_size(input_size: object) -> tuple[int, ...]:
    """``input_size`` as a tuple of positive ints (one sample's shape, no batch), or ValueError."""
    if isinstance(input_size, torch.Size):
        input_size = tuple(input_size)
    if not isinstance(input_size, (tuple, list)) or len(input_size) == 0:
        raise ValueError(
            f"input_size must be one sample's shape as a tuple, e.g. (3, 224, 224) for (C, H, W), "
            f"got {input_size!r}"
        )
    return tuple(check_int(f"input_size[{i}]", d, minimum=1) for i, d in enumerate(input_size))


def _shapes_of(output: Any) -> Any:
    """A module output's shape: a tuple for one tensor, a list of tuples for several."""
    shapes = [tuple(t.shape) for t in tree_leaves(output) if isinstance(t, torch.Tensor)]
    if not shapes:
        return None
    return shapes[0] if len(shapes) == 1 else shapes


# The caller's own hooks (say, ones that store feature maps for a plot) must
# not see the meta stand-ins: they are set aside for the counting pass and put back.
_HOOK_DICTS = (
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_backward_pre_hooks",
    "_backward_hooks",
)


def _stash_hooks(m: nn.Module) -> dict[str, Any]:
    """Replace ``m``'s hook tables by empty ones; return the originals."""
    stashed = {}
    for attr in _HOOK_DICTS:
        if attr in m.__dict__:
            stashed[attr] = m.__dict__[attr]
            setattr(m, attr, type(stashed[attr])())
    return stashed


def _trace(module: nn.Module, input_size: object, record_shapes: bool = False) -> _Trace:
    """Run ``module`` once on a meta input of shape ``(1, *input_size)`` and count.

    The module's own tensors are never touched: :func:`torch.func.functional_call`
    swaps meta stand-ins in for the duration of the call. The module is put in eval
    mode for the count (so training-only branches such as GoogLeNet's auxiliary
    heads, which torchvision's published numbers leave out, do not run) and each
    submodule's own mode is restored afterwards.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    size = _check_input_size(input_size)

    trace = _Trace()
    names = {m: name for name, m in module.named_modules()}
    for name in names.values():
        trace.inclusive[name] = 0
        trace.exclusive[name] = 0
    counter = _MacCounter(trace)

    def pre_hook(m: nn.Module, args: Any) -> None:
        counter.stack.append(names[m])

    def post_hook(m: nn.Module, args: Any, output: Any) -> None:
        counter.stack.pop()
        if record_shapes:
            trace.output_shapes.setdefault(names[m], []).append(_shapes_of(output))

    modes = {m: m.training for m in names}
    stashed = {m: _stash_hooks(m) for m in names}
    handles = []
    try:
        module.eval()
        for m in names:
            handles.append(m.register_forward_pre_hook(pre_hook))
            # always_call: pop the stack even when a forward raises, so it stays balanced.
            handles.append(m.register_forward_hook(post_hook, always_call=True))
        meta = {n: torch.empty_like(t, device="meta") for n, t in module.named_parameters()}
        meta.update({n: torch.empty_like(t, device="meta") for n, t in module.named_buffers()})
        # torch.device("meta") also sends tensors the forward creates itself (torch.zeros(...)
        # without a device) to meta, so they meet the meta activations without a device clash.
        with torch.no_grad(), torch.device("meta"):
            x = torch.empty((1, *size))
            with counter:
                try:
                    torch.func.functional_call(module, meta, (x,))
                except NotImplementedError:
                    raise  # an operator without a meta kernel: not the input's fault
                except (RuntimeError, ValueError, TypeError, IndexError) as err:
                    raise ValueError(
                        f"running {type(module).__name__} on one input of shape input_size={size!r} "
                        f"(a batch of shape {(1, *size)}) failed: {err}. input_size is one sample's "
                        f"shape without the batch dimension, e.g. (3, 224, 224) for (C, H, W)."
                    ) from err
    finally:
        for h in handles:
            h.remove()
        for m, hooks in stashed.items():
            for attr, value in hooks.items():
                setattr(m, attr, value)
        for m, training in modes.items():
            m.train(training)
    return trace


# The questions that ask for a MAC count by hand: count_macs and macs_by_module answer them.
MAC_QUESTIONS = ("01_layers/q5_cost", "02_blocks/q2_numbers", "02_blocks/q2_costs", "02_blocks/q3_costs",
                 "02_blocks/q5_ratio", "04_efficiency/q1_flops")


@answers(*MAC_QUESTIONS)
def count_macs(module: nn.Module, input_size: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass of ``module`` on ONE input of shape ``input_size``.

    ``input_size`` is one sample's shape without the batch dimension, ``(C, H, W)``
    for an image model. Counts convolutions, linear layers and matrix products
    (including attention), the convention torchvision publishes as "GFLOPS":
    ``round(count_macs(resnet50(), (3, 224, 224)) / 1e9, 3) == 4.089``.
    Nothing is computed: the pass runs on meta tensors, in eval mode.

    >>> count_macs(nn.Conv2d(3, 8, 3, padding=1), (3, 32, 32))  # 8*32*32 outputs x 3*3*3
    221184
    """
    return _trace(module, input_size).total


@answers(*MAC_QUESTIONS)
def macs_by_module(module: nn.Module, input_size: Sequence[int]) -> dict[str, int]:
    """MACs of each submodule (qualified name as in ``named_modules()``, the root is ``""``).

    A module's count is everything computed while it runs, its children included,
    summed over all its calls, from the same single meta pass as :func:`count_macs`;
    ``macs_by_module(m, s)[""] == count_macs(m, s)``.
    """
    return dict(_trace(module, input_size).inclusive)
