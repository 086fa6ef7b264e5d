"""The course library: PyTorch reference implementations the notebooks import.

The three questions the whole course grades each have a home here:

* what shape comes out -> :mod:`helpers.shapes`
* what does a feature see -> :mod:`helpers.receptive`
* what does it cost -> :mod:`helpers.counting` and :func:`helpers.summary`

``helpers`` imports nothing from ``notebooks/`` or ``autograder/``.
"""
from helpers import runtime
from helpers.counting import count_macs, count_params
from helpers.receptive import ReceptiveField, empirical_receptive_field, receptive_field
from helpers.shapes import (
    conv_output_size,
    conv_transpose_output_size,
    effective_kernel_size,
    pool_output_size,
)
from helpers.summary import Summary, summary

__all__ = [
    "ReceptiveField",
    "Summary",
    "conv_output_size",
    "conv_transpose_output_size",
    "count_macs",
    "count_params",
    "effective_kernel_size",
    "empirical_receptive_field",
    "pool_output_size",
    "receptive_field",
    "runtime",
    "summary",
]
