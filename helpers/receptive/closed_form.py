"""The receptive field of a chain of layers in closed form: start reading the package here.

Introduced in notebooks/01_layers.ipynb, section 2.

Everything here follows Araujo, Norris & Sim, "Computing Receptive Fields of
Convolutional Neural Networks", Distill 2019 (https://distill.pub/2019/computing-receptive-fields/).
A feature's receptive field is described by three numbers per spatial axis:

* its **size** ``r``: how many input pixels it sees;
* the **effective stride** ``S`` (the "jump"): how far, in input pixels, the fields
  of two neighbouring output features are apart;
* the **effective padding** ``P``: how far the first feature's field starts before
  the first input pixel.

Output feature ``i`` sees input pixels ``[i*S - P, i*S - P + r - 1]``. For a chain of
layers ``(k, s, p, d)`` the paper's recurrences are, from the input on::

    k_eff = d * (k - 1) + 1
    r    += (k_eff - 1) * S
    P    += p * S
    S    *= s

:func:`receptive_field` applies them to a list of ``(kernel_size, stride, padding[, dilation])``
tuples and answers a :class:`ReceptiveField`. Given an ``nn.Module`` instead, it hands the
module to the tracer beside this file (:mod:`helpers.receptive.tracer`).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

from torch import nn

from helpers._args import IntOrPair, is_pair, to_pair
from helpers.shortcuts import answers


Size = Union[int, tuple[int, int]]
Layer = Sequence[IntOrPair]  # (kernel_size, stride, padding[, dilation])
Index = Union[int, tuple[int, int]]


class ReceptiveField(NamedTuple):
    """Size ``r``, effective stride ``S`` and effective padding ``P`` (Distill 2019).

    Output feature ``i`` sees input pixels ``[i*S - P, i*S - P + r - 1]``: use
    :meth:`start`, :meth:`end` and :meth:`center` rather than the formula. Each field
    is an ``int`` when H and W agree, else an ``(h, w)`` tuple.

    ``is_global`` means every output feature sees the whole input (global pooling,
    squeeze-excitation, attention, flatten into a linear layer). A global axis reports
    ``size`` = the input size, ``stride`` 0 and ``padding`` 0, so that ``start(i)`` is
    0 and ``end(i)`` the last pixel for every ``i``.
    """

    size: Size
    stride: Size
    padding: Size
    is_global: bool = False

    def start(self, i: Index) -> Size:
        """First input pixel seen by output feature ``i`` (``i`` an int or ``(i_h, i_w)``)."""
        return self._per_axis(i, lambda k, r, s, p: k * s - p)

    def end(self, i: Index) -> Size:
        """Last input pixel (inclusive) seen by output feature ``i``."""
        return self._per_axis(i, lambda k, r, s, p: k * s - p + r - 1)

    def center(self, i: Index) -> Union[int, float, tuple[Union[int, float], Union[int, float]]]:
        """Centre of the field of feature ``i``; a ``.5`` float when the size is even."""
        def centre(k: int, r: int, s: int, p: int) -> Union[int, float]:
            twice = 2 * (k * s - p) + r - 1  # start + end
            return twice // 2 if twice % 2 == 0 else twice / 2
        return self._per_axis(i, centre)

    def _per_axis(self, i: Index, fn: Callable[[int, int, int, int], Any]) -> Any:
        fields = (i, self.size, self.stride, self.padding)
        pairs = [to_pair(name, v) for name, v in zip(("i", "size", "stride", "padding"), fields)]
        answer = tuple(fn(*(p[axis] for p in pairs)) for axis in range(2))
        return answer if any(is_pair(v) for v in fields) else answer[0]


def _collapse(h: int, w: int) -> Size:
    """``(h, w)`` as one int when the axes agree: the form the answer takes."""
    return h if h == w else (h, w)


def _answer(axes: Sequence[tuple[int, int, int]], is_global: bool) -> ReceptiveField:
    """Build a :class:`ReceptiveField` from per-axis ``(size, stride, padding)``."""
    (rh, sh, ph), (rw, sw, pw) = axes
    return ReceptiveField(_collapse(rh, rw), _collapse(sh, sw), _collapse(ph, pw), is_global)


@answers("01_layers/q2_recurrence",
         "01_layers/q2_numbers",
         "01_layers/q3_dilation",
         "02_blocks/q1_vgg_numbers",
         "02_blocks/q6_global",
         "02_blocks/q7_rf",
         "03_architectures/q7_rf",
         "03_architectures/q7_global")
def receptive_field(
    layers_or_module: Union[Sequence[Layer], nn.Module],
    /,
    input_size: Optional[Sequence[int]] = None,
) -> ReceptiveField:
    """Receptive field of one output feature (Araujo, Norris & Sim, Distill 2019).

    Introduced in notebooks/01_layers.ipynb, section 2.

    * ``receptive_field([(k, s, p), (k, s, p, d), ...])``: a chain of layers, each an
      int or ``(h, w)`` per argument; the empty chain is a single pixel.
    * ``receptive_field(module, (C, H, W))``: any ``nn.Module``, followed through one
      forward pass on meta tensors (see :func:`receptive_fields_by_module` for the
      rules). The module is not modified and nothing is computed.

    >>> receptive_field([(3, 1, 1)] * 3)            # three 3x3 convs see 7x7
    ReceptiveField(size=7, stride=1, padding=3, is_global=False)
    """
    if isinstance(layers_or_module, nn.Module):
        if input_size is None:
            raise ValueError("receptive_field(module, input_size): input_size=(C, H, W) is required for a module")
        from helpers.receptive.tracer import _trace  # the tracer imports this file

        return _trace(layers_or_module, input_size)
    if isinstance(layers_or_module, (list, tuple)):
        if input_size is not None:
            raise ValueError("receptive_field(layers): input_size is only used with an nn.Module, not a list of layers")
        return _chain(layers_or_module)
    raise ValueError(
        "receptive_field expects an nn.Module (with input_size) or a list of "
        f"(kernel_size, stride, padding[, dilation]) tuples, got {type(layers_or_module).__name__}"
    )


@answers("01_layers/q2_recurrence", "03_architectures/q7_rf")
def _chain(layers: Sequence[Layer]) -> ReceptiveField:
    """The Distill recurrences over a checked list of layers."""
    axes = [[1, 1, 0], [1, 1, 0]]  # per axis: size r, stride S, padding P
    for index, layer in enumerate(layers):
        k, s, p, d = _check_layer(index, layer)
        for axis, (r, big_s, big_p) in enumerate(axes):
            k_eff = d[axis] * (k[axis] - 1) + 1
            axes[axis] = [r + (k_eff - 1) * big_s, big_s * s[axis], big_p + p[axis] * big_s]
    return _answer([tuple(a) for a in axes], False)  # type: ignore[misc]


def _check_layer(index: int, layer: object) -> tuple[tuple[int, int], ...]:
    """``(k, s, p[, d])`` as four ``(h, w)`` pairs, or a ``ValueError`` naming ``layers[index]``."""
    where = f"layers[{index}]"
    if not isinstance(layer, (tuple, list)) or len(layer) not in (3, 4):
        raise ValueError(f"{where} must be a (kernel_size, stride, padding[, dilation]) tuple, got {layer!r}")
    names = ("kernel_size", "stride", "padding", "dilation")
    minima = (1, 1, 0, 1)
    values = tuple(layer) + ((1,) if len(layer) == 3 else ())
    return tuple(to_pair(f"{where}: {n}", v, m) for n, v, m in zip(names, values, minima))
