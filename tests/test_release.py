"""`make release`: notebooks/ in sync with the masters, deterministic, and both graders round-trip.

The round trips run the real graders: otter's grading API on the generated autograder zip, and
`nbgrader autograde` on the generated nbgrader course. The solutions must score full marks, the
untouched student notebook 0, without an error in the grader.
"""
from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder import config
from autograder.master import MasterError, read_master
from autograder.release import release, run_nbgrader

UNITS = config.released_units()


@pytest.fixture(scope="session")
def fresh_release(tmp_path_factory):
    """A release of every unit into a temporary folder (nothing in the checkout is touched)."""
    root = tmp_path_factory.mktemp("release")
    release(UNITS, notebooks=root / "notebooks", build=root / "build")
    return root


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_there_is_a_released_unit():
    assert "01_layers" in UNITS


def test_committed_notebooks_match_a_fresh_release(fresh_release):
    fresh, committed = _tree(fresh_release / "notebooks"), _tree(config.NOTEBOOKS)
    assert sorted(fresh) == sorted(committed), "run `make release` and commit notebooks/"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert stale == [], f"out of date with solutions/: {stale}; run `make release`"


def test_release_is_deterministic(fresh_release, tmp_path):
    release(UNITS, notebooks=tmp_path / "notebooks", build=tmp_path / "build")
    assert _tree(tmp_path / "notebooks") == _tree(fresh_release / "notebooks")
    for unit in UNITS:
        src = f"nbgrader/source/{unit}/{unit}.ipynb"
        assert filecmp.cmp(tmp_path / "build" / src, fresh_release / "build" / src, shallow=False)


@pytest.mark.parametrize("unit", UNITS)
def test_student_notebook_has_no_solutions_or_hidden_tests(fresh_release, unit):
    student = (fresh_release / "notebooks" / f"{unit}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in student and "# SOLUTION" not in student
    public = "".join(p.read_text() for p in (fresh_release / "notebooks" / "tests" / unit).glob("*.py"))
    assert "hidden=True" not in public
    master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
    for q in master.questions:
        for t in q.tests:
            assert (f"def {t.function}(" in public) != t.hidden, f"{q.name}/{t.function}"
            assert f"def {t.function}(" not in student


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


def nbgrader_autograde(course: Path, unit: str, student: str, notebook: Path) -> float:
    target = course / "submitted" / student / unit
    target.mkdir(parents=True)
    shutil.copy(notebook, target / f"{unit}.ipynb")
    run_nbgrader(course, "autograde", unit, "--student", student, "--create")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return float(gb.find_submission(unit, student).score)


@pytest.mark.parametrize("unit", UNITS)
def test_nbgrader_round_trip(fresh_release, tmp_path, unit):
    course = tmp_path / "course"
    shutil.copytree(fresh_release / "build" / "nbgrader", course)
    master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
    source = course / "source" / unit / f"{unit}.ipynb"
    released = course / "release" / unit / f"{unit}.ipynb"
    assert nbgrader_autograde(course, unit, "solutions", source) == master.max_score
    assert nbgrader_autograde(course, unit, "blank", released) == 0.0
