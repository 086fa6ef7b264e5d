"""``make release``: regenerate everything students and graders get from the masters.

For each master ``solutions/NN.ipynb`` (otter-assign format):

* ``notebooks/NN.ipynb`` and ``notebooks/tests/NN/`` - the student notebook and its public
  checks (committed);
* ``autograder/build/otter/NN/NN-autograder.zip`` - the Gradescope-ready otter autograder;
* ``autograder/build/nbgrader/{source,release}/NN/NN.ipynb`` - the same unit as an nbgrader
  course (converted by :mod:`autograder.nbgrader_convert`).

Running it twice changes nothing: notebooks are written without outputs, with stable cell ids.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from autograder import config
from autograder.master import Master, read_master

# Settings every unit shares; a master's own ASSIGNMENT CONFIG cannot turn them off.
OTTER_SETTINGS = {
    "init_cell": False,  # our set-up cell creates `grader` after installing otter in Colab
    "export_cell": False,  # students hand in the .ipynb itself
    "check_all_cell": False,
    "run_tests": False,  # the test suite runs the round trips
    "tests": {"files": True, "ok_format": False},
    "generate": {"pdf": False, "filtering": False},
}

SETUP_CELL = '''\
# Set-up: run this cell first. In Google Colab it installs the course library and
# otter-grader; where they are installed already it only imports them.
import importlib.util
import os
import subprocess
import sys

REPOSITORY = "{repository}"
if importlib.util.find_spec("helpers") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{{REPOSITORY}}@{branch}"], check=True)
{otter_install}
import helpers

DEVICE = helpers.runtime.device()
print(f"helpers ready; computing on {{DEVICE}}; fast mode {{'on' if helpers.runtime.fast_mode() else 'off'}}")
'''

OTTER_INSTALL = '''\
if importlib.util.find_spec("otter") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "otter-grader"], check=True)
'''

OTTER_INIT = '''
import otter

# The public checks live in tests/{unit}/ beside this notebook; Colab downloads them.
TESTS = "tests/{unit}"
os.makedirs(TESTS, exist_ok=True)
grader = otter.Notebook(
    tests_dir=TESTS,
    tests_url_prefix="{raw}/notebooks/tests/{unit}/" if helpers.runtime.is_colab() else None,
)
'''


def raw_url(repository: str, branch: str) -> str:
    """Where raw files of the repository are served (GitHub's convention)."""
    prefix = "https://github.com/"
    if repository.startswith(prefix):
        return f"https://raw.githubusercontent.com/{repository[len(prefix):].rstrip('/')}/{branch}"
    return f"{repository.rstrip('/')}/raw/{branch}"


def setup_cell(unit: str, *, with_otter: bool) -> str:
    """The first code cell of every generated notebook (repository URL from pyproject.toml)."""
    settings = config.course_settings()
    repository, branch = settings["repository"], settings["branch"]
    source = SETUP_CELL.format(repository=repository, branch=branch,
                               otter_install=OTTER_INSTALL if with_otter else "")
    if with_otter:
        source += OTTER_INIT.format(unit=unit, raw=raw_url(repository, branch))
    return source


def staged_master(master: Master, *, with_otter: bool = True) -> nbformat.NotebookNode:
    """The master with the shared settings and the set-up cell in place, ready for otter assign."""
    nb = master.copy()
    settings = dict(master.assignment_config)
    settings.update(OTTER_SETTINGS)
    settings["name"] = master.unit
    settings["requirements"] = "requirements.txt"
    settings["autograder_files"] = ["helpers"]
    nb.cells[0] = nbformat.v4.new_raw_cell("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(settings, sort_keys=True))
    cell = nbformat.v4.new_code_cell(setup_cell(master.unit, with_otter=with_otter))
    cell.metadata["tags"] = ["course-setup"]
    nb.cells.insert(1, cell)
    return nb


def normalize(nb: nbformat.NotebookNode, unit: str) -> nbformat.NotebookNode:
    """No outputs, no execution counts, stable cell ids: the same master gives the same bytes."""
    for i, cell in enumerate(nb.cells):
        cell.id = hashlib.sha1(f"{unit}:{i}".encode()).hexdigest()[:12]
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nb.nbformat, nb.nbformat_minor = 4, max(nb.nbformat_minor, 5)  # cell ids need nbformat 4.5
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def requirements_txt() -> str:
    """What a Gradescope image installs: the runtime dependencies (helpers ships in the zip)."""
    import tomllib

    project = tomllib.loads((config.ROOT / "pyproject.toml").read_text())["project"]
    return "\n".join(project["dependencies"]) + "\n"


def build_otter(master: Master, out: Path, notebooks: Path) -> Path:
    """Run otter assign; copy the student notebook and its public tests into ``notebooks``."""
    staging = out / "staging"
    shutil.rmtree(out, ignore_errors=True)
    staging.mkdir(parents=True)
    write_notebook(staged_master(master), staging / f"{master.unit}.ipynb")
    (staging / "requirements.txt").write_text(requirements_txt())
    shutil.copytree(config.ROOT / "helpers", staging / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__"))

    from otter.assign import main as otter_assign

    dist = out / "dist"
    # otter prints progress and resolves paths against the working directory.
    with contextlib.chdir(staging), contextlib.redirect_stdout(io.StringIO()):
        otter_assign(f"{master.unit}.ipynb", str(dist), no_pdfs=True, no_run_tests=True)

    student = nbformat.read(dist / "student" / f"{master.unit}.ipynb", as_version=4)
    write_notebook(normalize(student, master.unit), notebooks / f"{master.unit}.ipynb")
    tests = notebooks / "tests" / master.unit
    shutil.rmtree(tests, ignore_errors=True)
    shutil.copytree(dist / "student" / "tests", tests)

    (zip_path,) = (dist / "autograder").glob("*.zip")
    stable = out / f"{master.unit}-autograder.zip"
    shutil.copy(zip_path, stable)
    return stable


def build_nbgrader(master: Master, course: Path) -> Path:
    """Convert the master into an nbgrader source notebook and run ``nbgrader generate_assignment``."""
    from autograder.nbgrader_convert import to_nbgrader, write_course_config

    write_course_config(course)
    source = course / "source" / master.unit / f"{master.unit}.ipynb"
    write_notebook(normalize(to_nbgrader(staged_master(master, with_otter=False)), master.unit), source)
    run_nbgrader(course, "generate_assignment", master.unit, "--force")
    return course / "release" / master.unit / f"{master.unit}.ipynb"


def run_nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run an nbgrader command in ``course``; nbgrader needs the venv's bin/ (alembic) on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed in {course}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def release(units: list[str] | None = None, *, notebooks: Path = config.NOTEBOOKS,
            build: Path = config.BUILD, nbgrader: bool = True) -> list[str]:
    """Build every released unit (or ``units``); returns the units built."""
    units = units or config.released_units()
    for unit in units:
        master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
        build_otter(master, build / "otter" / unit, notebooks)
        if nbgrader:
            build_nbgrader(master, build / "nbgrader")
    return list(units)
