"""Both backends name the mistakes the checks name, and an nbgrader regrade of one question runs only
its tests. The demo class graded once per backend (``demo_grades``) is read; the oracle is dev's
unit-01 notebook run in-process against otter's own test files (``make_demo.run_in_process``)."""
from __future__ import annotations

import html
import shutil

import nbformat
import pytest

UNIT = "01_layers"
STUDENT = "dev"  # wrong answers whose checks name their mistakes (ben's blanks name none)


def _mistakes(result) -> dict[tuple[str, str, bool], str]:
    """(question, case, hidden) -> the mistake named, for every failing case."""
    return {(q.name, c.name, c.hidden): c.mistake for q in result.questions for c in q.cases if not c.passed}


def _result(demo_grades):
    (result,) = [r for r in demo_grades.results if r.student == STUDENT and r.unit == UNIT]
    return result


@pytest.fixture(scope="module")
def named_in_process(tmp_path_factory, release_build) -> dict[tuple[str, str, bool], str]:
    """(question, case, hidden) -> mistake for every case dev's code fails, run in-process."""
    from autograder.demo import make_demo
    from autograder.otter_backend import load_unit_tests

    tests_dir = tmp_path_factory.mktemp("otter-tests")
    for name, source in load_unit_tests(UNIT, release_build).tests:
        (tests_dir / f"{name}.py").write_text(source)
    (student,) = [s for s in make_demo.students(UNIT) if s.name == STUDENT]
    return {(r.question, r.case, r.hidden): r.mistake[:200]
            for r in make_demo.run_in_process(student, tests_dir) if not r.passed}


def test_each_backend_names_the_mistakes_the_checks_name(demo_grades, named_in_process):
    from autograder.nbgrader_backend import MISTAKE_MARK

    result = _result(demo_grades)
    assert result.status == "ok"
    assert _mistakes(result) == named_in_process
    # dev's q1 answer adds the padding on one side only, which the lecture-example check names.
    assert any("one side" in m for (q, _, _), m in named_in_process.items() if q == "q1_formula")
    page = (demo_grades.out / "index.html").read_text(encoding="utf-8")
    for name in {m for m in named_in_process.values() if m}:
        assert f'<span class="mistake">{html.escape(name)}</span>' in page
    # nbgrader's mark never reaches a message or the student's page.
    assert not any(MISTAKE_MARK.strip() in c.message for q in result.questions for c in q.cases)
    feedback = demo_grades.out / "feedback" / STUDENT / f"{UNIT}.html"
    assert MISTAKE_MARK.strip() not in feedback.read_text(encoding="utf-8")


@pytest.mark.parametrize("demo_grades", ["nbgrader"], indirect=True, ids=["demo_grades-nbgrader"])
def test_nbgrader_regrade_of_one_question_runs_only_its_tests(demo_grades, tmp_path, release_build):
    from nbgrader.api import Gradebook

    from autograder.nbgrader_backend import NbgraderCourse
    from autograder.otter_backend import UnitTests, load_unit_tests
    from autograder.sandbox import Limits
    from autograder.submissions import discover

    out = tmp_path / "out"  # a copy: the demo grading is shared
    shutil.copytree(demo_grades.out / "nbgrader", out / "nbgrader")
    full = _result(demo_grades)
    db = f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}"

    def gradebook_scores() -> dict[str, float]:
        with Gradebook(db) as gb:
            return {g.name: g.auto_score for g in gb.find_submission_notebook(UNIT, UNIT, STUDENT).grades}

    before = gradebook_scores()
    question = "q1_formula"
    tests = load_unit_tests(UNIT, release_build)
    only = UnitTests(UNIT, [t for t in tests.tests if t[0] == question], {question: tests.questions[question]})
    course = NbgraderCourse(out / "nbgrader", release_build, [UNIT], keep=True)
    (sub,) = [s for s in discover(demo_grades.submissions, [UNIT]) if s.student == STUDENT]
    result = course.grade_one(sub, only, Limits(wall_seconds=240, cell_seconds=30), tmp_path / "scratch")
    assert [q.name for q in result.questions] == [question]
    (q1,) = [q for q in full.questions if q.name == question]
    assert result.questions[0].score == q1.score and _mistakes(result) == {
        k: m for k, m in _mistakes(full).items() if k[0] == question}
    autograded = nbformat.read(out / "nbgrader" / "autograded" / STUDENT / UNIT / f"{UNIT}.ipynb", as_version=4)
    ran = {c.metadata["nbgrader"]["grade_id"] for c in autograded.cells
           if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    assert ran and all(g.startswith(f"{question}_test_") for g in ran)
    assert gradebook_scores() == before  # the other questions keep their scores


def test_after_the_grader_cell_a_failing_test_names_its_mistake_in_a_plain_traceback():
    """nbgrader's test cells run after ``MISTAKE_CELL``: a CheckFailed's text ends with the mistake
    it names, and a failure prints Python's plain traceback (IPython's context traceback, built
    with stack_data, cost about 20 ms per failing test cell); the student's cells before it keep
    IPython's."""
    import contextlib
    import io
    import json

    from IPython.core.interactiveshell import InteractiveShell
    from nbconvert.filters import strip_ansi

    from autograder.nbgrader_backend import MISTAKE_CELL, MISTAKE_MARK
    from helpers import checks

    def shown(shell, code: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            shell.run_cell(code)
        return strip_ansi(out.getvalue())  # colours aside

    failing = ("from helpers.checks import CheckFailed\n"
               "def test_it():\n    e = CheckFailed('off by one')\n    e.mistake = 'padding on one side only'\n"
               "    raise e\ntest_it()")
    shell = InteractiveShell()
    had_own_str = "__str__" in vars(checks.CheckFailed)
    try:
        student = shown(shell, failing)
        assert shown(shell, MISTAKE_CELL) == ""
        graded = shown(shell, failing)
    finally:  # the cell patches the class in this process too
        if not had_own_str:
            del checks.CheckFailed.__str__
    assert "---->" in student and MISTAKE_MARK.strip() not in student, student
    assert "---->" not in graded and "Traceback (most recent call last)" in graded, graded
    assert MISTAKE_MARK.strip() + " " + json.dumps("padding on one side only") in graded, graded
