"""The receptive field of any ``nn.Module``, followed through one forward pass on meta tensors.

Introduced in notebooks/01_layers.ipynb, section 2. A ``TorchFunctionMode`` attaches a
state (:mod:`helpers.receptive._state`) to every tensor derived from the input and moves it
through each op by the rules of :mod:`helpers.receptive.rules`: branches, residual adds,
concatenations, channels-last blocks and attention, at no arithmetic cost.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from helpers.receptive._common import _EvalMode, _check_input_size, _op_name
from helpers.receptive._state import _Axis, _Call, _State, _Unsupported, _is_global, _to_answer, _union
from helpers.receptive.closed_form import ReceptiveField
from helpers.receptive.rules import _RULES, _elementwise
from helpers.shortcuts import answers


class _Tracer(TorchFunctionMode):
    """Attach a receptive-field state to every tensor that depends on the input.

    States live in ``id(tensor) -> (tensor, state)``; holding the (meta, free) tensor
    keeps its id from being reused by a later tensor.
    """

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[int, tuple[Tensor, _State]] = {}

    def get(self, t: object) -> Optional[_State]:
        entry = self.states.get(id(t)) if isinstance(t, Tensor) else None
        return entry[1] if entry is not None and entry[0] is t else None

    def set(self, t: Tensor, state: _State) -> None:
        self.states[id(t)] = (t, state)

    def set_all(self, call: _Call, state: _State) -> None:
        for out in call.outputs:
            self.set(out, state)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        name = _op_name(func)
        leaves = tree_flatten((args, kwargs))[0]
        if name in _SAME_SHAPE and args and isinstance(args[0], Tensor) and args[0].is_meta:
            out = torch.empty_like(args[0])  # what the meta kernel returns, without running it
        else:
            out = func(*args, **kwargs)  # the mode is off inside: this runs the op on meta
        inputs = [(t, s) for t in leaves if (s := self.get(t)) is not None]
        if not inputs or name in _VALUE_FREE:
            return out
        outputs = [args[0]] if name == "__setitem__" else [t for t in tree_flatten(out)[0] if isinstance(t, Tensor)]
        if not outputs:
            return out
        call = _Call(name, func, tuple(args), kwargs, inputs, outputs)
        if all(_is_global(s) for _, s in inputs):
            self.set_all(call, _union([s for _, s in inputs], name))  # nothing left to localise
        else:
            _RULES.get(name, _elementwise)(self, call)
        return out


# Ops whose output has their first argument's shape and dtype. Their meta kernels are Python
# decompositions (batch norm alone was half the time of tracing a ResNet-50), so the tracer makes the
# empty output itself; the rules still see the call's arguments (a layer norm over W is global).
_SAME_SHAPE = frozenset({
    "batch_norm", "layer_norm", "group_norm", "instance_norm", "hardtanh", "relu6", "gelu", "silu",
    "hardswish", "hardsigmoid", "dropout",
})


# Ops whose output depends on the input's shape only, not on its values.
_VALUE_FREE = frozenset({
    "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "randint_like",
    "new_zeros", "new_ones", "new_empty", "new_full", "new_empty_strided", "new_tensor",
})


def _meta_values(module: nn.Module) -> dict[str, Tensor]:
    """Meta copies of every parameter and buffer: the forward pass touches no real memory."""
    named = list(module.named_parameters()) + list(module.named_buffers())
    return {name: torch.empty_like(t, device="meta") for name, t in named}


def _output_state(tr: _Tracer, out: object, where: str) -> _State:
    """Union over the tensors a module returns (tuple, list, dict, namedtuple)."""
    states = [s for t in tree_flatten(out)[0] if (s := tr.get(t)) is not None]
    if not states:
        raise ValueError(f"receptive_field: {where} returns no tensor that depends on the input")
    return _union(states, f"{where} output")


def _run_traced(module: nn.Module, input_size: object,
                on_output: Optional[Callable[[str, object, _Tracer], None]] = None) -> tuple[_State, tuple[int, int]]:
    """One forward pass on meta tensors under the tracer; ``on_output`` sees every submodule's output."""
    c, h, w = _check_input_size(input_size)
    tracer = _Tracer()
    x = torch.empty(1, c, h, w, device="meta")  # (N, C, H, W)
    tracer.set(x, (_Axis(2, 1, 0, 0), _Axis(3, 1, 0, 0)))
    values = _meta_values(module)
    handles = []
    if on_output is not None:
        for name, sub in module.named_modules():
            handles.append(sub.register_forward_hook(
                lambda _m, _i, out, name=name: on_output(name, out, tracer)))
    try:
        with _EvalMode(module), tracer:
            out = torch.func.functional_call(module, values, (x,))
    except _Unsupported:
        raise
    except Exception as error:  # the model itself failed: too small an input, .item() on meta, ...
        raise ValueError(f"receptive_field: the forward pass of {type(module).__name__} on a meta tensor of shape "
                         f"(1, {c}, {h}, {w}) failed: {type(error).__name__}: {error}") from error
    finally:
        for handle in handles:
            handle.remove()
    return _output_state(tracer, out, type(module).__name__), (h, w)


def _trace(module: nn.Module, input_size: object) -> ReceptiveField:
    state, hw = _run_traced(module, input_size)
    return _to_answer(state, hw)


@answers("01_layers/q2_numbers",
         "02_blocks/q6_global",
         "02_blocks/q7_rf",
         "03_architectures/q7_rf",
         "03_architectures/q7_global")
def receptive_fields_by_module(module: nn.Module, input_size: Sequence[int]) -> dict[str, ReceptiveField]:
    """The receptive field of every submodule's output, from one traced forward pass.

    Introduced in notebooks/01_layers.ipynb, section 2. Keys are the qualified names of
    ``module.named_modules()`` (``""`` is the whole module), in call order; a module
    called twice keeps its last call. Modules whose output does not depend on the
    input, or whose outputs cannot be combined into one field (maps at different
    strides), are left out. :func:`helpers.summary` uses this for its RF column.

    How the trace works (Araujo, Norris & Sim, Distill 2019, generalised to graphs):
    each tensor derived from the input carries, per spatial axis, its tensor dim, the
    stride ``S`` and the input pixels ``[lo, hi]`` that output index 0 sees.

    * convolution and pooling (incl. ``'same'`` padding, dilation), ``F.pad``: the
      Distill recurrences;
    * adaptive pooling: 1 output -> global, ``in % out == 0`` -> kernel = stride =
      ``in // out``, otherwise a documented conservative window;
    * several inputs (residual add, concatenation along channels, ``x * scale``): the
      union of their fields, strides must agree; a global input makes the result global;
    * means, sums, maxima, softmax, layer/group/instance norm over H or W, attention and
      matmul contracting a spatial dim, flatten/view merging H or W with another dim:
      global; permute/transpose/view keeping H and W: followed; linear over channels
      and batch norm: pointwise;
    * transposed convolutions, interpolation, pixel shuffle, spatial slicing, circular
      padding and any other op that changes H or W without a rule: ``ValueError``.
    """
    _, h, w = _check_input_size(input_size)
    fields: dict[str, ReceptiveField] = {}

    def record(name: str, out: object, tr: _Tracer) -> None:
        states = [s for t in tree_flatten(out)[0] if (s := tr.get(t)) is not None]
        if states:
            try:
                fields[name] = _to_answer(_union(states, name or "module"), (h, w))
            except _Unsupported:
                pass  # e.g. a backbone returning maps at several strides: no single field

    _run_traced(module, input_size, record)
    return fields
