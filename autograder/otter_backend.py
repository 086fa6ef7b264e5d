"""The otter backend: each submission re-run by :mod:`autograder.worker` against the otter tests.

The tests come from the unit's otter autograder zip (the Gradescope artifact). Each submission is
one job of :func:`autograder.sandbox.run_job`: the worker (trusted, outside the sandbox) executes
the notebook in a fresh sandboxed kernel, then grades every question on the kernel's state after
ALL the student's cells ran (so an answer defined after its check counts, and an answer redefined
after its check is graded as it ended up), and hands back a :class:`~autograder.results.UnitResult`.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder import config
from autograder.results import UnitResult
from autograder.sandbox import Entry, Isolation, Limits, run_job
from autograder.submissions import Submission, code_cells


@dataclass
class UnitTests:
    unit: str
    tests: list[tuple[str, str]]  # (question, otter test-file source), in question order
    questions: dict[str, float]  # question -> max score

    @property
    def max_score(self) -> float:
        return sum(self.questions.values())


def otter_zip(unit: str, build: Path = config.BUILD) -> Path:
    return build / "otter" / unit / f"{unit}-autograder.zip"


def load_unit_tests(unit: str, build: Path = config.BUILD) -> UnitTests:
    """The unit's test files, read from its otter autograder zip (the Gradescope artifact)."""
    from otter.test_files.exception_test import ExceptionTestFile

    tests, questions = [], {}
    with zipfile.ZipFile(otter_zip(unit, build)) as z:
        for name in sorted(n for n in z.namelist() if re.fullmatch(r"tests/[^/]+\.py", n)):
            source = z.read(name).decode()
            tf = ExceptionTestFile.from_string(source, path=name)
            tests.append((tf.name, source))
            questions[tf.name] = float(sum(tc.points for tc in tf.test_cases))
    return UnitTests(unit, tests, questions)


def missing_builds(units: list[str], backend: str, build: Path = config.BUILD) -> list[str]:
    """The units whose grader build for ``backend`` is missing in ``build`` (nbgrader: the otter zip too)."""
    return [u for u in units if not otter_zip(u, build).exists()
            or (backend == "nbgrader" and not (build / "nbgrader" / "release" / u).exists())]


def ensure_release(units: list[str], backend: str, build: Path = config.BUILD) -> None:
    """Build the release for units whose grader build is missing."""
    from autograder.release import release

    missing = missing_builds(units, backend, build)
    if missing:
        print(f"building the release for {', '.join(missing)} ...", file=sys.stderr)
        release(missing, build=build, nbgrader=backend == "nbgrader")


def grade_one_otter(sub: Submission, tests: UnitTests, limits: Limits, scratch: Path,
                    sandbox: Isolation | None = None, judged: bool = True) -> UnitResult:
    """Grade one submission with :mod:`autograder.worker` as a job (its kernel sandboxed); any
    failure becomes a status. ``judged=False`` runs every test case in the kernel instead of the
    judge, as the Gradescope zip does: ``make bench`` times both, never ``make grade``."""
    workdir = scratch / f"{sub.student}-{sub.unit}-{uuid.uuid4().hex[:8]}"
    folder = workdir / "notebook"  # the kernel's folder: its log and home stay beside it, unseen
    folder.mkdir(parents=True)
    notebook = folder / f"{sub.unit}.ipynb"
    shutil.copyfile(sub.path, notebook)
    result_path = scratch / f".result-{uuid.uuid4().hex}.json"  # outside the job's folder
    job = {"student": sub.student, "unit": sub.unit, "notebook": str(notebook), "tests": tests.tests,
           "questions": tests.questions, "max_score": tests.max_score, "warnings": sub.warnings,
           "cell_seconds": limits.cell_seconds, "grading_seconds": limits.wall_seconds,
           "output_bytes": limits.output_bytes, "judge": judged,
           "result_path": str(result_path)}
    outcome = run_job(Entry("autograder.worker:run", job, config.JOB_PRELOAD), workdir, limits, cwd=folder,
                      sandbox=sandbox)
    result = None
    if result_path.exists():
        try:
            result = UnitResult.from_dict(json.loads(result_path.read_text()))
        except (ValueError, KeyError, TypeError):
            result = None
    if result is None:
        status = "timeout" if outcome.timed_out else "memory" if "MemoryError" in outcome.log else "crashed"
        detail = (f"stopped after the {limits.wall_seconds:.0f} s limit" if outcome.timed_out
                  else f"the grading process ended with code {outcome.returncode}")
        result = UnitResult(sub.student, sub.unit, status, 0.0, tests.max_score, warnings=list(sub.warnings),
                            detail=detail, code_cells=code_cells(sub.path))
        result.failed_cell, result.failed_reason = _running_cell(result_path, status)
    result.seconds = outcome.seconds
    shutil.rmtree(workdir, ignore_errors=True)
    result_path.unlink(missing_ok=True)
    Path(f"{result_path}.cell").unlink(missing_ok=True)
    return result


def _running_cell(result_path: Path, status: str) -> tuple[int | None, str]:
    """The code cell the worker was running when it was stopped (it notes it beside its result)."""
    try:
        number = int(Path(f"{result_path}.cell").read_text())
    except (OSError, ValueError):
        return None, ""
    return number, ("the notebook ran past the time limit in it" if status == "timeout"
                    else "the grading process died while it ran")
