"""``make release``: regenerate everything students and graders get from the masters.

For each master ``solutions/NN.ipynb`` (otter-assign format):

* ``notebooks/NN.ipynb`` - the student notebook, with an "Open in Colab" link and the set-up cell
  (committed);
* ``helpers/public_tests/NN/`` - its public checks, shipped inside the course library as package
  data so that ``pip install`` brings them to Colab (committed);
* ``autograder/build/otter/NN/NN-autograder.zip`` - the Gradescope-ready otter autograder;
* ``autograder/build/nbgrader/{source,release}/NN/NN.ipynb`` - the same unit as an nbgrader
  course (converted by :mod:`autograder.nbgrader_convert`).

and the README's "Open in Colab" table (links from ``[tool.cnn-course]`` in pyproject.toml).
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

# The set-up cell, placed after each notebook's title. Where the course library (or otter) is
# missing, as in a fresh Colab runtime, it installs it; everywhere it then creates `grader` on the
# public checks shipped inside the installed library, and prints one line on where it computes.
# CNN_COURSE_REPOSITORY overrides the repository URL (the Colab test installs from a local clone).
SETUP_CELL = """\
# Set-up: run this cell first. Where the course library is missing (a new Colab runtime), it
# installs it, about a minute; then it says where the notebook computes.
import importlib.util
import os
import subprocess
import sys

REPOSITORY = os.environ.get("CNN_COURSE_REPOSITORY", "{repository}")
PACKAGES = {{"helpers": f"git+{{REPOSITORY}}@{branch}"{otter_package}}}
missing = [spec for module, spec in PACKAGES.items() if importlib.util.find_spec(module) is None]
if missing:
    print("Installing", " and ".join(missing), "(about a minute) ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
    importlib.invalidate_caches()

import helpers
{otter_init}
DEVICE = helpers.runtime.device()
print(helpers.runtime.describe())
"""

OTTER_INIT = """import otter

# The public checks ship inside the installed library: they match it, and work offline.
grader = otter.Notebook(tests_dir=helpers.runtime.public_tests("{unit}"))
"""

COLAB = "https://colab.research.google.com/github"
README_BEGIN = "<!-- open-in-colab: written by `make release` from [tool.cnn-course] -->"
README_END = "<!-- end open-in-colab -->"


def colab_url(unit: str) -> str | None:
    """The "Open in Colab" address of a released notebook, or None when the repository is not on GitHub."""
    settings = config.course_settings()
    repository, branch = settings["repository"].rstrip("/"), settings["branch"]
    prefix = "https://github.com/"
    if not repository.startswith(prefix):
        return None  # Colab opens notebooks from GitHub only
    path = repository[len(prefix):].removesuffix(".git")
    return f"{COLAB}/{path}/blob/{branch}/notebooks/{unit}.ipynb"


def setup_cell(unit: str, *, with_otter: bool) -> str:
    """The set-up cell of every generated notebook (repository URL and branch from pyproject.toml)."""
    settings = config.course_settings()
    return SETUP_CELL.format(
        repository=settings["repository"], branch=settings["branch"],
        otter_package=', "otter": "otter-grader"' if with_otter else "",
        otter_init=OTTER_INIT.format(unit=unit) if with_otter else "")


def title_with_link(title: str, unit: str) -> str:
    """The title cell with an "Open in Colab" line under its heading."""
    url = colab_url(unit)
    if url is None:
        return title
    heading, _, rest = title.partition("\n")
    return f"{heading}\n\n[Open in Colab]({url})\n{rest}"


def staged_master(master: Master, *, with_otter: bool = True) -> nbformat.NotebookNode:
    """The master with the shared settings, the Colab link and the set-up cell, ready for otter assign.

    The set-up cell goes right after the title cell (the first markdown cell).
    """
    nb = master.copy()
    settings = dict(master.assignment_config)
    settings.update(OTTER_SETTINGS)
    settings["name"] = master.unit
    settings["requirements"] = "requirements.txt"
    settings["autograder_files"] = ["helpers"]
    nb.cells[0] = nbformat.v4.new_raw_cell("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(settings, sort_keys=True))
    title = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), 0)
    if title and with_otter:  # the nbgrader course is worked on JupyterHub, not Colab
        nb.cells[title].source = title_with_link(nb.cells[title].source, master.unit)
    cell = nbformat.v4.new_code_cell(setup_cell(master.unit, with_otter=with_otter))
    cell.metadata["tags"] = ["course-setup"]
    nb.cells.insert(title + 1, cell)
    return nb


def colab_table(units: list[str]) -> str:
    """The README's "Open in Colab" table, between its markers."""
    rows = [f"| `{unit}` | [Open in Colab]({url}) |" for unit in units if (url := colab_url(unit))]
    table = ["| Notebook | Colab |", "| --- | --- |", *rows] if rows else [
        "(The repository in `[tool.cnn-course]` is not on GitHub, so there are no Colab links.)"]
    return "\n".join([README_BEGIN, "", *table, "", README_END])


def readme_with_links(readme: str, units: list[str]) -> str:
    """``readme`` with its "Open in Colab" table brought up to date."""
    begin, end = readme.find(README_BEGIN), readme.find(README_END)
    if begin < 0 or end < begin:
        raise ValueError(f"README.md has no {README_BEGIN!r} ... {README_END!r} block for the Colab links")
    return readme[:begin] + colab_table(units) + readme[end + len(README_END):]


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
    """Run otter assign; write the student notebook into ``notebooks``; return the autograder zip.

    The public checks are left in ``out/dist/student/tests`` (:func:`release` ships them).
    """
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

    (zip_path,) = (dist / "autograder").glob("*.zip")
    stable = out / f"{master.unit}-autograder.zip"
    shutil.copy(zip_path, stable)
    return stable


def ship_public_tests(otter_build: Path, unit: str, public_tests: Path) -> Path:
    """Copy the public checks of an otter build into ``public_tests/unit`` (package data of ``helpers``).

    Only otter's *student* tests folder is copied, and every case in it must be public: hidden tests
    never reach the installed library.
    """
    source = otter_build / "dist" / "student" / "tests"
    hidden = [p.name for p in sorted(source.glob("*.py")) if "hidden=True" in p.read_text()]
    if hidden:
        raise RuntimeError(f"otter's student tests of {unit} hold hidden cases ({hidden}); not shipping them")
    target = public_tests / unit
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    return target


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
    """Build every released unit (or ``units``); returns the units built.

    Into the checkout (the default ``notebooks``) it writes ``notebooks/``, the public checks in
    ``helpers/public_tests/`` and the README's "Open in Colab" table. Into any other folder it
    writes the notebooks there and the public checks beside them, in ``public_tests/``, and leaves
    the README alone.
    """
    units = units or config.released_units()
    in_checkout = notebooks.resolve() == config.NOTEBOOKS.resolve()
    public_tests = config.PUBLIC_TESTS if in_checkout else notebooks.parent / "public_tests"
    for unit in units:
        master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
        build_otter(master, build / "otter" / unit, notebooks)
        ship_public_tests(build / "otter" / unit, unit, public_tests)
        if nbgrader:
            build_nbgrader(master, build / "nbgrader")
    if in_checkout:
        readme = config.ROOT / "README.md"
        text = readme.read_text(encoding="utf-8")
        updated = readme_with_links(text, config.released_units())
        if updated != text:
            readme.write_text(updated, encoding="utf-8")
    return list(units)
