"""Paths and course-wide settings, read in one place."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
# Each unit's public checks, package data of `helpers` (written by `make release`).
PUBLIC_TESTS = ROOT / "helpers" / "public_tests"
BUILD = ROOT / "autograder" / "build"
DEMO = ROOT / "autograder" / "demo"

# Units in reading order; the file stem is the assignment id in otter and nbgrader.
UNITS = ("01_layers", "02_blocks", "03_architectures", "04_efficiency")


# What grading jobs import before they grade, in either backend: the otter worker (PyTorch, nbclient,
# otter's test files and what the test cases import) and ``nbgrader autograde`` (nbgrader, its
# gradebook's SQLAlchemy). The grader's warm process imports them once; each job is forked from it
# (:class:`autograder.sandbox.Entry`), so a class graded with both backends shares one.
JOB_PRELOAD = ("autograder.worker", "otter.test_files.exception_test", "torchvision", "helpers.checks",
               "helpers.layers", "helpers.blocks", "helpers.bench", "helpers.models",
               "autograder.nbgrader_backend", "nbgrader.apps.nbgraderapp", "nbgrader.apps.autogradeapp",
               "nbgrader.preprocessors", "nbgrader.converters.autograde")


def course_settings() -> dict:
    """``[tool.cnn-course]`` from pyproject.toml: the repository (and branch) Colab installs from."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data["tool"]["cnn-course"]


def released_units() -> list[str]:
    """Units that have a master in solutions/."""
    return [u for u in UNITS if (SOLUTIONS / f"{u}.ipynb").exists()]
