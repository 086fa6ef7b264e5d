"""Standing rules of the repository: dependency lists agree, committed notebooks are clean."""
from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["dev"]


def _environment_pip_requirements() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return [r for r in pip if not r.startswith("-e")]


def test_environment_yml_lists_the_same_requirements_as_pyproject():
    assert sorted(_environment_pip_requirements()) == sorted(_pyproject_requirements())


def test_dependency_ranges_admit_the_installed_torch_and_torchvision():
    from packaging.requirements import Requirement
    from packaging.version import Version
    import torch
    import torchvision

    installed = {"torch": torch.__version__, "torchvision": torchvision.__version__}
    for line in _pyproject_requirements():
        req = Requirement(line)
        if req.name in installed:
            version = Version(installed[req.name].split("+")[0])
            assert version in req.specifier, f"{req} does not admit the installed {version}"


def committed_notebooks() -> list[Path]:
    """Notebooks git tracks, less the demo class (whose saved outputs are part of the exercise)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "*.ipynb"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split("\0")
        out = [p for p in out if p]
    except (OSError, subprocess.CalledProcessError):
        out = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.ipynb") if ".venv" not in p.parts]
    return [ROOT / p for p in out if not p.startswith("autograder/demo/")]


def dirty_cells(path: Path) -> list[int]:
    """Indices of code cells that carry outputs or an execution count."""
    nb = json.loads(path.read_text())
    return [i for i, cell in enumerate(nb["cells"])
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))]


@pytest.mark.parametrize("path", committed_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_notebook_has_no_outputs(path):
    assert dirty_cells(path) == [], f"{path.name}: cells with outputs; run `make release` / clear outputs"


def test_dirty_cells_finds_outputs(tmp_path):
    # The check itself must be able to fail.
    nb = {"cells": [{"cell_type": "code", "source": "1", "outputs": [], "execution_count": 3},
                    {"cell_type": "code", "source": "2", "outputs": [{"output_type": "stream"}],
                     "execution_count": None},
                    {"cell_type": "code", "source": "3", "outputs": [], "execution_count": None}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb))
    assert dirty_cells(path) == [0, 1]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_longest_files_the_scheduler_names_exist():
    from conftest import LONGEST_FILES

    assert [name for name in LONGEST_FILES if not (ROOT / name).is_file()] == []


def test_what_a_grading_kernel_imports_is_byte_compiled_by_the_install():
    """`make install` leaves the packages' own test suites out of compileall (the venv is read-only
    in the sandbox, so what it leaves out every kernel compiles again): nothing a kernel imports
    may live there."""
    import importlib
    import re
    import sys

    pattern = re.search(r"compileall .*-x '([^']+)'", (ROOT / "Makefile").read_text()).group(1)
    for name in ("autograder.agent", "helpers", "otter", "torchvision.models", "matplotlib.pyplot",
                 "ipykernel.kernelapp"):
        importlib.import_module(name)
    excluded = sorted(name for name, module in list(sys.modules.items())
                      if re.search(pattern, getattr(module, "__file__", None) or ""))
    assert excluded == []
    assert re.search(pattern, "/venv/lib/python3.11/site-packages/torch/testing/_internal/x.py") is None
    assert re.search(pattern, "/venv/lib/python3.11/site-packages/pandas/tests/frame/x.py")
