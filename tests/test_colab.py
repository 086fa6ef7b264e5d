"""A student notebook run the way Google Colab runs it.

A fresh virtual environment holds what a Colab runtime brings and nothing of the course: torch,
torchvision, the kernel (ipykernel) and the scientific stack Colab preinstalls beside them
(matplotlib, pandas, scikit-learn), with their dependencies, linked from this venv by a ``.pth``
to keep it fast; not otter, nbformat or the course library. ``COLAB_RELEASE_TAG`` is set, as in Colab. The notebook's set-up cell installs the course
with pip from a ``git+file://`` repository holding what a commit of this checkout would hold
(``CNN_COURSE_REPOSITORY`` points it there), and otter-grader from the package index. Then the
released notebook runs top to bottom in a folder of its own (no ``tests/`` beside it, as in a Drive
copy): untouched, every public check fails with its message and no exception from otter; with the
master's answers filled in, every public check passes, in a new kernel that finds the course
installed (the set-up cell re-run).

One unit runs here, ``01_layers``: the set-up cell is the same in every unit but for the unit's
name, and the other units only add minutes of execution.
"""
from __future__ import annotations

import copy
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from autograder import config
from autograder.demo.make_demo import Release
from autograder.worker import CHECK_CELL_PREFIX

UNIT = "01_layers"
# Linked from this venv; all else comes from pip. Colab preinstalls the last three too: without them
# pip installed them and scipy in the test (about 20 s), as it never does in Colab.
COLAB_RUNTIME = ("torch", "torchvision", "ipykernel", "matplotlib", "pandas", "scikit-learn")
PROBE = "import helpers, otter\nprint(json.dumps([helpers.__file__, otter.__file__, grader._tests_dir]))"


def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def committed_tree(target: Path) -> Path:
    """A git repository (on the course's branch) holding what a commit of this checkout would hold:
    tracked and untracked files that git does not ignore."""
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=config.ROOT)
    for name in filter(None, listed.split("\0")):
        source = config.ROOT / name
        if source.is_file():  # a tracked file deleted in the checkout is not committed
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git = ["git", "-c", "user.name=course", "-c", "user.email=course@example.invalid"]
    run(*git, "init", "-q", "-b", config.course_settings()["branch"], cwd=target)
    run(*git, "add", "-A", cwd=target)
    run(*git, "commit", "-q", "-m", "the checkout", cwd=target)
    return target


def distributions(names: tuple[str, ...]) -> list[importlib.metadata.Distribution]:
    """``names`` and everything they require (installed here, markers evaluated), each once."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional dependency this platform does not install
        found[name] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(found.values())


def link_runtime(target: Path) -> list[str]:
    """Symlink the top-level files of the Colab runtime's packages and their dependencies into ``target``."""
    site = Path(sysconfig.get_paths()["purelib"])
    target.mkdir()
    dists = distributions(COLAB_RUNTIME)
    for dist in dists:
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {".."}:
            if (site / top).exists() and not (target / top).exists():
                (target / top).symlink_to(site / top)
    return sorted(dist.metadata["Name"] for dist in dists)


@pytest.fixture(scope="module")
def colab(tmp_path_factory) -> dict:
    """The fake Colab runtime: a venv, its kernel spec, and the repository the set-up cell installs from."""
    start = time.monotonic()
    root = tmp_path_factory.mktemp("colab")
    repository = committed_tree(root / "repository")
    venv = root / "venv"
    run(sys.executable, "-m", "venv", str(venv))
    python = venv / "bin" / "python"
    site = Path(run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    linked = link_runtime(root / "runtime")
    (site / "colab_runtime.pth").write_text(f"{root / 'runtime'}\n")
    present = run(str(python), "-c", "import importlib.util as u; print([m for m in "
                  "('torch', 'torchvision', 'ipykernel', 'helpers', 'otter', 'nbformat') if u.find_spec(m)])",
                  cwd=root).strip()
    assert present == "['torch', 'torchvision', 'ipykernel']", f"the fresh venv must hold the runtime only: {present}"
    kernels = root / "kernels"
    (kernels / "colab").mkdir(parents=True)
    env = {"COLAB_RELEASE_TAG": "release-colab-test", "CNN_COURSE_REPOSITORY": f"file://{repository}",
           "CNN_COURSE_FAST": "1", "PYTHONPATH": "", "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    (kernels / "colab" / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fake Colab", "language": "python", "env": env}))
    return {"root": root, "venv": venv, "kernels": kernels, "linked": linked, "seconds": time.monotonic() - start}


def execute(colab: dict, nb: nbformat.NotebookNode, name: str) -> tuple[nbformat.NotebookNode, float]:
    """Run ``nb`` top to bottom in the fake Colab kernel, in a folder holding nothing else."""
    folder = colab["root"] / name
    folder.mkdir()
    nb = copy.deepcopy(nb)
    nb.cells.append(nbformat.v4.new_code_cell("import json\n" + PROBE))
    km = KernelManager(kernel_name="colab", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(colab["kernels"])]))
    client = NotebookClient(nb, km=km, timeout=900, allow_errors=True, resources={"metadata": {"path": str(folder)}})
    start = time.monotonic()
    client.execute()
    return nb, time.monotonic() - start


def text(cell) -> str:
    """What a cell showed: its streams, results and errors, as plain text."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"ERROR {out.ename}: {out.evalue}")
    return "".join(parts)


def check_cells(nb: nbformat.NotebookNode) -> dict[str, str]:
    """question -> what its ``grader.check`` cell showed."""
    return {cell.source.split('"')[1]: text(cell) for cell in nb.cells
            if cell.cell_type == "code" and cell.source.strip().startswith(CHECK_CELL_PREFIX)}


def assert_installed_in_the_venv(nb: nbformat.NotebookNode, venv: Path) -> None:
    helpers_file, otter_file, tests_dir = json.loads(text(nb.cells[-1]).strip().splitlines()[-1])
    for path in (helpers_file, otter_file, tests_dir):
        assert Path(path).resolve().is_relative_to(venv.resolve()), f"{path} is not the venv's"
    assert Path(tests_dir).parts[-2:] == ("public_tests", UNIT)


@pytest.mark.slow(reason="builds a venv, pip-installs the course and otter-grader, runs a notebook twice (minutes)")
def test_a_student_notebook_runs_in_colab(colab, capsys):
    release = Release(UNIT)  # the released notebook, and the same with the master's answers filled in
    released, questions = release.nb, [q.name for q in release.master.questions]

    untouched, first = execute(colab, released, "untouched")
    setup = text(untouched.cells[1])
    assert "Installing git+file://" in setup and "otter-grader" in setup, setup
    assert "No GPU in this runtime: Runtime > Change runtime type" in setup, setup
    assert setup.strip().splitlines()[-1] == "Ready: device CPU | cnn-course 0.1.0 | fast mode on", setup
    assert_installed_in_the_venv(untouched, colab["venv"])
    checks = check_cells(untouched)
    assert sorted(checks) == sorted(questions)
    for question, shown in checks.items():
        assert "ERROR" not in shown and "Traceback" not in shown, f"{question}: otter raised:\n{shown}"
        assert "❌ Test case failed" in shown and "All test cases passed" not in shown, f"{question}:\n{shown}"
        assert "Error at line" in shown, f"{question} failed without its message:\n{shown}"

    full_marks, second = execute(colab, release.filled(), "full_marks")
    setup = text(full_marks.cells[1])
    assert "Installing" not in setup, f"the set-up cell re-installed the course:\n{setup}"
    assert_installed_in_the_venv(full_marks, colab["venv"])
    checks = check_cells(full_marks)
    assert sorted(checks) == sorted(questions)
    failed = {q: shown for q, shown in checks.items() if "All test cases passed!" not in shown}
    assert failed == {}, failed
    with capsys.disabled():
        print(f"\n[colab] {UNIT}: venv and clone {colab['seconds']:.0f} s, untouched run with install {first:.0f} s, "
              f"full-marks run {second:.0f} s; "
              f"linked from this venv: {', '.join(colab['linked'])}")


# --- the set-up cell's two library calls, without a venv ------------------------------------------

def test_public_tests_are_package_data_of_the_library():
    import helpers

    folder = Path(helpers.runtime.public_tests(UNIT))
    assert folder == config.PUBLIC_TESTS / UNIT  # this checkout is installed editable
    assert sorted(p.stem for p in folder.glob("*.py")) == sorted(q.name for q in Release(UNIT).master.questions)
    with pytest.warns(UserWarning, match="no public checks for unit '99_none'.*grader.check will fail"):
        helpers.runtime.public_tests("99_none")


def test_describe_says_the_device_and_how_to_get_a_gpu_in_colab(monkeypatch):
    import torch

    from helpers import runtime

    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    version = importlib.metadata.version("cnn-course")
    assert runtime.describe() == f"Ready: device CPU | cnn-course {version} | fast mode on"
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-test")
    hint, ready = runtime.describe().splitlines()
    assert hint.startswith("No GPU in this runtime: Runtime > Change runtime type > a GPU")
    assert ready == f"Ready: device CPU | cnn-course {version} | fast mode on"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Tesla T4")
    monkeypatch.setenv("CNN_COURSE_FAST", "0")
    assert runtime.describe() == f"Ready: device GPU Tesla T4 | cnn-course {version} | fast mode off"
