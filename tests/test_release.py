"""`make release`: notebooks/ and the shipped public checks in sync with the masters, deterministic,
no hidden test where a student can see it, Colab links in sync, and both graders round-trip.

The round trips run the real graders: otter's grading API on the generated autograder zip, and
`nbgrader autograde` on the generated nbgrader course. The solutions must score full marks, the
untouched student notebook 0, without an error in the grader.
"""
from __future__ import annotations

import filecmp
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from markdown_it import MarkdownIt
from otter.test_files.exception_test import ExceptionTestFile

from autograder import config, release as release_module
from autograder.master import MasterError, read_master
from autograder.release import release, run_nbgrader

UNITS = config.released_units()


def released_files(notebooks: Path, public_tests: Path) -> dict[str, bytes]:
    """What a release writes and a commit holds: the notebooks and the public checks, nothing else.

    JupyterLab's ``.ipynb_checkpoints/``, otter's ``.OTTER_LOG`` and ``__pycache__`` are not part of it.
    """
    files = {f"notebooks/{p.name}": p for p in notebooks.glob("*.ipynb")}
    files |= {f"public_tests/{p.parent.name}/{p.name}": p for p in public_tests.glob("*/*.py")}
    return {name: files[name].read_bytes() for name in sorted(files)}


def release_drift(fresh: dict[str, bytes], committed: dict[str, bytes]) -> list[str]:
    """Files a fresh release writes differently, or that only one side has."""
    return sorted(name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name))


def fresh_files(fresh_release: Path) -> dict[str, bytes]:
    return released_files(fresh_release / "notebooks", fresh_release / "public_tests")


def test_there_is_a_released_unit():
    assert "01_layers" in UNITS


def test_committed_notebooks_match_a_fresh_release(fresh_release):
    drift = release_drift(fresh_files(fresh_release), released_files(config.NOTEBOOKS, config.PUBLIC_TESTS))
    assert drift == [], f"out of date with solutions/: {drift}; run `make release` and commit notebooks/ and helpers/public_tests/"


def test_jupyter_and_otter_leftovers_are_not_drift(fresh_release, tmp_path):
    """`make lab` leaves .ipynb_checkpoints/ and checks leave .OTTER_LOG: neither is a stale release."""
    checkout = tmp_path / "checkout"
    shutil.copytree(fresh_release / "notebooks", checkout / "notebooks")
    shutil.copytree(fresh_release / "public_tests", checkout / "public_tests")
    checkpoints = checkout / "notebooks" / ".ipynb_checkpoints"
    checkpoints.mkdir()
    (checkpoints / "01_layers-checkpoint.ipynb").write_text("{}")
    (checkout / "notebooks" / ".OTTER_LOG").write_bytes(b"\x80log")
    (checkout / "public_tests" / "01_layers" / "__pycache__").mkdir()
    (checkout / "public_tests" / "01_layers" / "__pycache__" / "q1_formula.cpython-312.pyc").write_bytes(b"")

    def drift() -> list[str]:
        return release_drift(fresh_files(fresh_release),
                             released_files(checkout / "notebooks", checkout / "public_tests"))

    assert drift() == []
    # ... while real drift is still reported, by name
    (checkout / "notebooks" / "01_layers.ipynb").write_text("{}")
    (checkout / "public_tests" / "01_layers" / "q1_formula.py").unlink()
    (checkout / "notebooks" / "00_old_unit.ipynb").write_text("{}")
    assert drift() == ["notebooks/00_old_unit.ipynb", "notebooks/01_layers.ipynb", "public_tests/01_layers/q1_formula.py"]


def test_a_build_holds_no_path_of_the_folder_it_was_built_in(fresh_release):
    """The tests grade with a copy of this run's build (``release_build`` in tests/conftest.py): no
    file of it, nor of the otter zips inside it, names the folder it was written to."""
    where = str(fresh_release.resolve()).encode()
    files = {str(p.relative_to(fresh_release)): p.read_bytes() for p in (fresh_release / "build").rglob("*") if p.is_file()}
    for name in [n for n in files if n.endswith(".zip")]:
        with zipfile.ZipFile(fresh_release / name) as z:
            files.update({f"{name}:{member}": z.read(member) for member in z.namelist()})
    assert len(files) > 100
    assert [name for name, data in files.items() if where in data] == []


def test_release_is_deterministic(fresh_release, tmp_path):
    release(UNITS, notebooks=tmp_path / "notebooks", build=tmp_path / "build")
    assert released_files(tmp_path / "notebooks", tmp_path / "public_tests") == fresh_files(fresh_release)
    for unit in UNITS:
        src = f"nbgrader/source/{unit}/{unit}.ipynb"
        assert filecmp.cmp(tmp_path / "build" / src, fresh_release / "build" / src, shallow=False)


@pytest.mark.parametrize("unit", UNITS)
def test_student_notebook_has_no_solutions_or_hidden_tests(fresh_release, unit):
    student = (fresh_release / "notebooks" / f"{unit}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in student and "# SOLUTION" not in student
    public = "".join(p.read_text() for p in (fresh_release / "public_tests" / unit).glob("*.py"))
    assert "hidden=True" not in public
    master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
    for q in master.questions:
        for t in q.tests:
            assert (f"def {t.function}(" in public) != t.hidden, f"{q.name}/{t.function}"
            assert f"def {t.function}(" not in student


@pytest.mark.parametrize("unit", UNITS)
def test_shipped_public_checks_hold_only_public_cases(unit):
    """The package data ``pip install`` brings to Colab: every public case of the master, no hidden one."""
    cases = {}
    for path in sorted((config.PUBLIC_TESTS / unit).glob("*.py")):
        for tc in ExceptionTestFile.from_file(str(path)).test_cases:
            cases[tc.body.test_func.__name__] = tc.hidden
    master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
    assert not any(cases.values()), f"hidden cases in helpers/public_tests/{unit}: {cases}"
    assert sorted(cases) == sorted(t.function for q in master.questions for t in q.tests if not t.hidden)


def test_a_hidden_case_is_never_shipped(fresh_release, tmp_path):
    """Hostile: an otter build whose student tests held a hidden case is refused, nothing is written."""
    build = tmp_path / "build"
    shutil.copytree(fresh_release / "build" / "otter" / "01_layers" / "dist" / "autograder" / "tests",
                    build / "dist" / "student" / "tests")  # the autograder's tests: hidden ones included
    with pytest.raises(RuntimeError, match="hold hidden cases"):
        release_module.ship_public_tests(build, "01_layers", tmp_path / "public_tests")
    assert not (tmp_path / "public_tests").exists()
    # the honest neighbour: the student tests of the same build are shipped
    honest = fresh_release / "build" / "otter" / "01_layers"
    shipped = release_module.ship_public_tests(honest, "01_layers", tmp_path / "public_tests")
    assert sorted(p.name for p in shipped.glob("*.py")) == sorted(p.name for p in (fresh_release / "public_tests" / "01_layers").glob("*.py"))


@pytest.mark.parametrize("unit", UNITS)
def test_set_up_cell_follows_the_title_and_uses_the_shipped_checks(unit):
    nb = nbformat.read(config.NOTEBOOKS / f"{unit}.ipynb", as_version=4)
    title, setup = nb.cells[0], nb.cells[1]
    assert title.cell_type == "markdown" and title.source.startswith("# Unit ")
    assert "course-setup" in setup.metadata.get("tags", [])
    assert f'helpers.runtime.public_tests("{unit}")' in setup.source
    assert "tests_url_prefix" not in setup.source  # otter supports it only under JupyterLite
    assert 'os.environ.get("CNN_COURSE_REPOSITORY"' in setup.source
    assert setup.source.rstrip().splitlines()[-1] == "print(helpers.runtime.describe())"


def test_colab_links_follow_pyproject(monkeypatch):
    """The README table and each title cell link to the notebook in [tool.cnn-course]'s repository."""
    readme = (config.ROOT / "README.md").read_text(encoding="utf-8")
    assert release_module.readme_with_links(readme, UNITS) == readme, "run `make release`: README's Colab links are stale"
    settings = config.course_settings()
    for unit in UNITS:
        url = release_module.colab_url(unit)
        assert url == (f"https://colab.research.google.com/github/"
                       f"{settings['repository'].removeprefix('https://github.com/')}/blob/{settings['branch']}"
                       f"/notebooks/{unit}.ipynb")
        assert f"[Open in Colab]({url})" in nbformat.read(config.NOTEBOOKS / f"{unit}.ipynb", 4).cells[0].source
        assert f"[Open in Colab]({url})" in readme
    fork = {"repository": "https://github.com/someone/cnn-fork.git", "branch": "spring"}
    monkeypatch.setattr(config, "course_settings", lambda: fork)
    assert release_module.colab_url("01_layers") == (
        "https://colab.research.google.com/github/someone/cnn-fork/blob/spring/notebooks/01_layers.ipynb")
    assert 'git+{REPOSITORY}@spring' in release_module.setup_cell("01_layers", with_otter=True)
    monkeypatch.setattr(config, "course_settings", lambda: {"repository": "https://gitlab.com/a/b", "branch": "main"})
    assert release_module.colab_url("01_layers") is None
    assert "not on GitHub" in release_module.colab_table(UNITS)


def ordered_lists(markdown: str) -> list[list[int]]:
    """The item numbers of each ordered list in ``markdown``, as CommonMark reads them."""
    lists: list[list[int]] = []
    open_lists: list[list[int] | None] = []  # one entry per open list; None for a bullet list
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type == "ordered_list_open":
            lists.append([])
            open_lists.append(lists[-1])
        elif token.type == "bullet_list_open":
            open_lists.append(None)
        elif token.type in ("ordered_list_close", "bullet_list_close"):
            open_lists.pop()
        elif token.type == "list_item_open" and open_lists[-1] is not None:
            open_lists[-1].append(int(token.info))
    return lists


def test_ordered_lists_are_read_as_written():
    """A contents line "1. A · 2. B ·" wrapped before "5. E" renders as a broken list: items 1 and 5."""
    assert ordered_lists("1. A · 2. B ·\n5. E · 6. F") == [[1, 5]]
    assert ordered_lists("1. A\n2. B\n3. C") == [[1, 2, 3]]


@pytest.mark.parametrize("unit", UNITS)
def test_notebook_lists_are_numbered_in_order(unit):
    nb = nbformat.read(config.NOTEBOOKS / f"{unit}.ipynb", as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for numbers in ordered_lists(cell.source):
                assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), \
                    f"{unit} cell {i}: a numbered list read as {numbers}; start each item on its own line"


@pytest.mark.parametrize("unit", UNITS)
def test_nbgrader_release_has_no_solutions_or_hidden_tests(fresh_release, unit):
    released = (fresh_release / "build" / "nbgrader" / "release" / unit / f"{unit}.ipynb").read_text()
    master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
    assert "BEGIN SOLUTION" not in released
    for q in master.questions:
        for t in q.tests:
            assert (f"def {t.function}(" in released) != t.hidden, f"{q.name}/{t.function}"


@pytest.mark.parametrize("unit", UNITS)
def test_nbgrader_points_equal_otter_points(fresh_release, unit):
    source = nbformat.read(fresh_release / "build" / "nbgrader" / "source" / unit / f"{unit}.ipynb", 4)
    nb_points = sum(c.metadata["nbgrader"].get("points", 0) for c in source.cells
                    if c.metadata.get("nbgrader", {}).get("grade"))
    assert nb_points == read_master(config.SOLUTIONS / f"{unit}.ipynb").max_score


def test_a_broken_master_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "01_layers.ipynb"
    path.write_text("{not json")
    with pytest.raises(MasterError, match="not a readable notebook"):
        read_master(path)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_raw_cell("# ASSIGNMENT CONFIG\nname: 01_layers"),
                                         nbformat.v4.new_raw_cell("# BEGIN QUESTION\nname: q\npoints: [1]"),
                                         nbformat.v4.new_raw_cell("# END QUESTION")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    with pytest.raises(MasterError, match="has 0 tests but 1 points"):
        read_master(path)


def _master_with(path: Path, *cells) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_raw_cell("# ASSIGNMENT CONFIG\nname: 01_layers"), *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _question(answer_cell: str, test: str) -> list:
    raw, code = nbformat.v4.new_raw_cell, nbformat.v4.new_code_cell
    return [raw("# BEGIN QUESTION\nname: q\npoints: [1]"), raw("# BEGIN SOLUTION"), code(answer_cell),
            raw("# END SOLUTION"), raw("# BEGIN TESTS"), code(test), raw("# END TESTS"), raw("# END QUESTION")]


def test_a_test_may_only_take_names_defined_before_it(tmp_path):
    test = "def test_x(answer, helper):\n    assert answer == helper()"
    late = _question("answer = 1  # SOLUTION", test) + [nbformat.v4.new_code_cell("def helper():\n    return 1")]
    with pytest.raises(MasterError, match="test_x takes helper, which no cell before question 'q'"):
        read_master(_master_with(tmp_path / "01_layers.ipynb", *late))
    # defined earlier, in any binding form (a def, a loop variable, an import, inside an if): accepted
    early = [nbformat.v4.new_code_cell("import math as helper_mod\nif True:\n    def helper():\n        return 1")]
    m = read_master(_master_with(tmp_path / "01_layers.ipynb", *early, *_question("answer = 1  # SOLUTION", test)))
    assert m.questions[0].tests[0].args == ["answer", "helper"]


# --- round trips through the real graders ---------------------------------------------------

def otter_grade(notebook: Path, zip_path: Path):
    from otter.api import grade_submission

    return grade_submission(str(notebook), str(zip_path), quiet=True)


@pytest.mark.parametrize("unit", UNITS)
def test_otter_solutions_score_full_marks(fresh_release, unit):
    build = fresh_release / "build" / "otter" / unit
    results = otter_grade(build / "dist" / "autograder" / f"{unit}.ipynb", build / f"{unit}-autograder.zip")
    failed = {q: r.test_case_results for q, r in results.results.items() if r.score != r.possible}
    assert results.total == results.possible == read_master(config.SOLUTIONS / f"{unit}.ipynb").max_score, failed


@pytest.mark.parametrize("unit", UNITS)
def test_otter_blank_notebook_scores_zero_without_grader_error(fresh_release, unit):
    build = fresh_release / "build" / "otter" / unit
    results = otter_grade(fresh_release / "notebooks" / f"{unit}.ipynb", build / f"{unit}-autograder.zip")
    master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
    assert results.possible == master.max_score
    assert sorted(results.results) == sorted(q.name for q in master.questions)
    assert results.total == 0


def nbgrader_autograde(course: Path, unit: str, notebooks: dict[str, Path]) -> dict[str, float]:
    """Each student's score from one ``nbgrader autograde`` of every submission (one process start)."""
    for student, notebook in notebooks.items():
        target = course / "submitted" / student / unit
        target.mkdir(parents=True)
        shutil.copy(notebook, target / f"{unit}.ipynb")
    run_nbgrader(course, "autograde", unit, "--create")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {student: float(gb.find_submission(unit, student).score) for student in notebooks}


@pytest.mark.parametrize("unit", UNITS)
def test_nbgrader_round_trip(fresh_release, tmp_path, unit):
    course = tmp_path / "course"
    shutil.copytree(fresh_release / "build" / "nbgrader", course)
    master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
    scores = nbgrader_autograde(course, unit, {"solutions": course / "source" / unit / f"{unit}.ipynb",
                                               "blank": course / "release" / unit / f"{unit}.ipynb"})
    assert scores == {"solutions": master.max_score, "blank": 0.0}
