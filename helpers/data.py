"""The small dataset the notebooks train on: scikit-learn's 8×8 handwritten digits.

:func:`load_digits` returns the arrays of ``sklearn.datasets.load_digits()`` (1,797 images, pixel
values 0 to 16, labels 0 to 9; UCI's optical recognition of handwritten digits, test set) read
from the copy scikit-learn ships, without importing scikit-learn: its import (SciPy included) costs
1.6 to 1.9 s on a 2-core CPU, more than the two experiments that use the digits, and every graded
notebook of units 01 and 03 paid it. Where the file is not where scikit-learn has kept it since
0.x, scikit-learn's own loader answers. ``tests/test_data.py`` compares both with
``sklearn.datasets.load_digits``.
"""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from typing import NamedTuple

import numpy as np

DIGITS_FILE = ("datasets", "data", "digits.csv.gz")  # inside the scikit-learn package


class Digits(NamedTuple):
    """What ``sklearn.datasets.load_digits()`` holds, as NumPy arrays."""

    images: np.ndarray  # (1797, 8, 8) float64, values 0..16
    data: np.ndarray  # (1797, 64): the images flattened row by row
    target: np.ndarray  # (1797,) int64, the digit 0..9


def _shipped_file() -> Path | None:
    """The digits file inside the installed scikit-learn, found without importing it."""
    spec = importlib.util.find_spec("sklearn")  # a top-level package: nothing is executed
    if spec is None:
        return None
    for root in spec.submodule_search_locations or []:
        path = Path(root).joinpath(*DIGITS_FILE)
        if path.is_file():
            return path
    return None


def load_digits() -> Digits:
    """scikit-learn's digits: ``images`` (1797, 8, 8), ``data`` (1797, 64), ``target`` (1797,)."""
    path = _shipped_file()
    if path is None:
        try:
            from sklearn.datasets import load_digits as sklearn_load_digits
        except ImportError:
            raise ModuleNotFoundError("load_digits reads the digits that ship with scikit-learn: "
                                      "install it (pip install scikit-learn)") from None
        bunch = sklearn_load_digits()
        return Digits(bunch.images, bunch.data, bunch.target)
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    data, target = table[:, :-1], table[:, -1].astype(np.int64)
    return Digits(data.reshape(-1, 8, 8), data, target)
