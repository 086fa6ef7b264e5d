"""What does a feature see? Receptive fields, computed and measured.

Introduced in notebooks/01_layers.ipynb, section 2. Read the files in this order:

* ``closed_form.py``: the recurrences a student learns (Araujo, Norris & Sim, Distill 2019),
  :func:`receptive_field` over a list of ``(kernel_size, stride, padding[, dilation])``
  tuples and the :class:`ReceptiveField` it answers;
* ``tracer.py``: :func:`receptive_field` on any ``nn.Module`` follows the forward pass
  (branches, residual adds, concatenations, channels-last blocks, attention) on meta
  tensors, so it costs no arithmetic; :func:`receptive_fields_by_module` gives every
  submodule's field from the same pass (``rules.py`` holds what each op does to a field);
* ``gradient.py``: :func:`empirical_receptive_field` *measures* the field by
  back-propagating from one output feature to the input (:func:`gradient_map` returns
  the map for figures). The two agree on every network the tests try, which is the
  point of having both.

Receptive fields are those **at inference**: batch norm is per-channel (pointwise),
dropout and stochastic depth are identities.
"""
from helpers.receptive.closed_form import Index, Layer, ReceptiveField, Size, _chain, receptive_field
from helpers.receptive.gradient import _depthwise_as_shifts, empirical_receptive_field, gradient_map, gradient_maps
from helpers.receptive.tracer import receptive_fields_by_module

__all__ = [
    "ReceptiveField",
    "empirical_receptive_field",
    "gradient_map",
    "gradient_maps",
    "receptive_field",
    "receptive_fields_by_module",
]
