"""helpers.data against scikit-learn's own loader: the same digits, with and without its file."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits as sklearn_load_digits

from helpers import data


def assert_same_digits(got: data.Digits) -> None:
    expected = sklearn_load_digits()
    for name in ("images", "data", "target"):
        mine, theirs = getattr(got, name), getattr(expected, name)
        assert mine.shape == theirs.shape and mine.dtype == theirs.dtype, name
        assert np.array_equal(mine, theirs), name


def test_load_digits_reads_what_sklearn_loads():
    assert data._shipped_file() is not None  # the file is where scikit-learn keeps it
    assert_same_digits(data.load_digits())


def test_load_digits_falls_back_to_sklearn_without_its_file(monkeypatch):
    monkeypatch.setattr(data, "_shipped_file", lambda: None)
    assert_same_digits(data.load_digits())


def test_load_digits_without_sklearn_says_what_to_install(monkeypatch):
    monkeypatch.setattr(data, "_shipped_file", lambda: None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ModuleNotFoundError, match="pip install scikit-learn"):
        data.load_digits()


def test_load_digits_does_not_import_sklearn():
    code = "import sys; from helpers.data import load_digits; load_digits(); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
