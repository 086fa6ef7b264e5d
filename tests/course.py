"""Shared machinery for the unit tests: build a release into a temporary folder, run a master's
code in-process, and run a unit's test cases (public and hidden) against a namespace."""
from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from otter.test_files.exception_test import ExceptionTestFile  # noqa: E402

from autograder import config  # noqa: E402
from autograder.master import Master, raw_directive, read_master  # noqa: E402


def master(unit: str) -> Master:
    return read_master(config.SOLUTIONS / f"{unit}.ipynb")


def solution_namespace(m: Master) -> dict:
    """Execute the master's code cells (not its tests) in-process; return the globals."""
    test_cells = {t.cell_index for q in m.questions for t in q.tests}
    env: dict = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for i, cell in enumerate(m.nb.cells):
            if cell.cell_type == "code" and i not in test_cells and raw_directive(cell) is None:
                exec(compile(cell.source, f"{m.unit}[{i}]", "exec"), env)  # noqa: S102
    plt.close("all")
    return env


def test_files(tests_dir: Path) -> dict[str, Path]:
    """question name -> otter test file (from an otter build's autograder/tests)."""
    return {p.stem: p for p in sorted(tests_dir.glob("*.py"))}


def run_question(path: Path, env: dict) -> dict[str, bool]:
    """Run one otter test file against ``env``; test function name -> passed."""
    tf = ExceptionTestFile.from_file(str(path))
    with contextlib.redirect_stdout(io.StringIO()):
        tf.run(env)
    return {r.test_case.body.test_func.__name__: r.passed for r in tf.test_case_results}


def hidden_tests(path: Path) -> set[str]:
    tf = ExceptionTestFile.from_file(str(path))
    return {tc.body.test_func.__name__ for tc in tf.test_cases if tc.hidden}


def build_tests_dir(unit: str, out: Path) -> Path:
    """Build ``unit``'s otter autograder into ``out``; return its tests folder (hidden tests included)."""
    from autograder.release import build_otter

    build_otter(master(unit), out / "build", out / "notebooks")
    return out / "build" / "dist" / "autograder" / "tests"


def failing_cases(env: dict, tests_dir: Path) -> dict[str, list[str]]:
    """question -> the test cases ``env`` fails (questions it passes left out)."""
    failed = {q: [t for t, ok in run_question(p, dict(env)).items() if not ok]
              for q, p in test_files(tests_dir).items()}
    return {q: f for q, f in failed.items() if f}


def mutant_results(env: dict, tests_dir: Path, question: str, code: str) -> dict[str, bool]:
    """Run ``question``'s tests after ``code`` (a wrong answer) replaced the right one in ``env``."""
    import textwrap

    # The mutant replaces the answer in the namespace itself, as in a notebook, so that the
    # solution's other functions call the wrong one too; the namespace is restored afterwards.
    saved = dict(env)
    try:
        exec(textwrap.dedent(code), env)  # noqa: S102
        return run_question(test_files(tests_dir)[question], dict(env))
    finally:
        env.clear()
        env.update(saved)


class UnitRoundTrip:
    """The round trip every unit's test file runs, against otter's own test files built from the master:
    the solutions pass every case, each mutant (a plausible wrong answer) loses points, and every
    hidden test is failed by some mutant. Use it as::

        class TestRoundTrip(course.UnitRoundTrip):
            UNIT = "01_layers"
            MUTANTS = MUTANTS  # name -> (question, code that replaces the answer)

    ``tests/conftest.py`` parametrizes ``mutant`` over ``MUTANTS``.
    """

    UNIT: str
    MUTANTS: dict[str, tuple[str, str]]

    @pytest.fixture(scope="class")
    @classmethod
    def solution_env(cls) -> dict:
        return solution_namespace(master(cls.UNIT))

    @pytest.fixture(scope="class")
    @classmethod
    def tests_dir(cls, tmp_path_factory) -> Path:
        return build_tests_dir(cls.UNIT, tmp_path_factory.mktemp("otter"))

    @pytest.fixture(scope="class")
    @classmethod
    def mutant_outcomes(cls, solution_env, tests_dir):
        """mutant -> its question's case results, each mutant run once for the tests below (a unit's
        file runs on one worker; unit 03's mutants take 17 s)."""
        return functools.cache(lambda mutant: mutant_results(solution_env, tests_dir, *cls.MUTANTS[mutant]))

    def test_solutions_pass_every_test_case(self, solution_env, tests_dir):
        assert failing_cases(solution_env, tests_dir) == {}

    def test_mutant_loses_points(self, mutant, mutant_outcomes):
        question = self.MUTANTS[mutant][0]
        assert not all(mutant_outcomes(mutant).values()), f"{mutant!r} passes every test of {question}"

    def test_every_hidden_test_fails_for_some_mutant(self, mutant_outcomes, tests_dir):
        caught = {case for mutant in self.MUTANTS for case, ok in mutant_outcomes(mutant).items() if not ok}
        hidden = set().union(*(hidden_tests(p) for p in test_files(tests_dir).values()))
        assert hidden - caught == set()
