"""Where the code runs: the device, Colab, the fast-mode switch, and networks built as shapes only.

Fast mode is the one switch that shrinks heavy demos (training loops, large
benchmarks) so a unit runs top to bottom on a 2-core CPU in well under a minute.
The test suite and the autograder turn it on by setting the environment
variable ``CNN_COURSE_FAST=1``; this module is the only place that reads it.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.resources
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch
from torch.overrides import TorchFunctionMode

T = TypeVar("T")

FAST_MODE_ENV = "CNN_COURSE_FAST"


def device() -> torch.device:
    """CUDA when a GPU is present, else the CPU. Every notebook works on both."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def is_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def public_tests(unit: str) -> str:
    """The folder of ``unit``'s public checks, shipped inside this package (``helpers/public_tests/``).

    ``make release`` writes them; ``pip install`` brings them, so the checks a notebook runs always
    match the installed library and need no network once the course is installed. A missing folder
    is a warning, not an error: a grader overrides the folder with its own tests.
    """
    folder = importlib.resources.files("helpers") / "public_tests" / unit
    if not folder.is_dir():
        warnings.warn(f"no public checks for unit {unit!r} in the installed course library ({folder}), "
                      "so grader.check will fail: reinstall the course, or run `make release` in a checkout",
                      stacklevel=2)
    return str(folder)


def describe() -> str:
    """What the set-up cell prints last: device, library version, fast mode; in Colab on a CPU, how to get a GPU."""
    try:
        version = importlib.metadata.version("cnn-course")
    except importlib.metadata.PackageNotFoundError:
        version = "(not installed; imported from its folder)"
    gpu = torch.cuda.is_available()
    ready = (f"Ready: device {'GPU ' + torch.cuda.get_device_name(0) if gpu else 'CPU'} | "
             f"cnn-course {version} | fast mode {'on' if fast_mode() else 'off'}")
    if is_colab() and not gpu:
        return ("No GPU in this runtime: Runtime > Change runtime type > a GPU (e.g. T4), then run this "
                "cell again. The notebook also runs on the CPU, more slowly.\n" + ready)
    return ready


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


# --- networks as shapes only --------------------------------------------------------------------
# ``with torch.device("meta"):`` builds a network without memory, but its initialisation still runs:
# on meta tensors ``normal_``, ``uniform_`` and the ``nn.init`` functions go through PyTorch's Python
# reference implementations, which makes a meta EfficientNet-B1 or ResNet-152 cost 0.3-0.4 s to
# build, three times what it costs with the initialisation left out. A meta tensor has no values
# to initialise, so :func:`meta_device` skips it; the shapes, dtypes and module tree are the same.

_INITIALISERS = frozenset(
    [getattr(torch.nn.init, name) for name in dir(torch.nn.init)
     if name.endswith("_") and not name.startswith("_") and callable(getattr(torch.nn.init, name))]
    + [torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.fill_, torch.Tensor.zero_])


class _NoInitialisationOnMeta(TorchFunctionMode):
    """Returns a meta tensor unchanged from an initialiser (``nn.init.*``, ``normal_``, ``fill_`` ...)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _INITIALISERS:
            tensor = args[0] if args else kwargs.get("tensor")  # nn.init passes it by keyword
            if isinstance(tensor, torch.Tensor) and tensor.is_meta:
                return tensor
        return func(*args, **kwargs)


@contextlib.contextmanager
def meta_device() -> Iterator[None]:
    """``torch.device("meta")`` without the initialisation of the tensors it creates (they have no
    values): networks built in the block have every shape and no memory, in a third of the time."""
    with torch.device("meta"), _NoInitialisationOnMeta():
        yield


def on_meta(build: Callable[..., T], *args, **kwargs) -> T:
    """``build(*args, **kwargs)`` under :func:`meta_device`: a network as shapes only, at once."""
    with meta_device():
        return build(*args, **kwargs)
