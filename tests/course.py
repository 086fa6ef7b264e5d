"""Shared machinery for the unit tests: build a release into a temporary folder, run a master's
code in-process, and run a unit's test cases (public and hidden) against a namespace."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import matplotlib

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
