"""Where the code runs: the device, Colab, and the fast-mode switch.

Fast mode is the one switch that shrinks heavy demos (training loops, large
benchmarks) so a unit runs top to bottom on a 2-core CPU in well under a minute.
The test suite and the autograder turn it on by setting the environment
variable ``CNN_COURSE_FAST=1``; this module is the only place that reads it.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import torch

FAST_MODE_ENV = "CNN_COURSE_FAST"


def device() -> torch.device:
    """CUDA when a GPU is present, else the CPU. Every notebook works on both."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def is_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def fast_mode() -> bool:
    """True when heavy demos should shrink (tests, grading): ``CNN_COURSE_FAST`` set to 1/true/yes."""
    return os.environ.get(FAST_MODE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def pick(full, fast):
    """``fast`` in fast mode, ``full`` otherwise: ``epochs = pick(10, 1)``."""
    return fast if fast_mode() else full


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one CPU thread, then restore the thread count.

    Small tensors gain nothing from being split across threads and lose a lot when other
    processes share the cores (a 2-core machine grading two notebooks at once): a float64
    forward pass of a small network can be a hundred times slower on two busy threads.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
