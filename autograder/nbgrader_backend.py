"""The nbgrader backend: a real nbgrader course under ``OUT/nbgrader`` with its sqlite gradebook.

Each submission is placed in ``submitted/<student>/<unit>/`` and graded by ``nbgrader autograde``
run inside the same sandbox as the otter backend (its own process group, wall clock, memory and
file limits), one student at a time per job so that a failure stops nothing else. Scores come back
from the gradebook, so formgrader and ``nbgrader export`` work on the course afterwards.
"""
from __future__ import annotations

import re
import shutil
import sys
import threading
from pathlib import Path

import nbformat

from autograder import config
from autograder.grade import code_cells
from autograder.results import CaseResult, QuestionResult, UnitResult
from autograder.sandbox import Limits, run_job
from autograder.worker import MEMORY_MARKERS


class NbgraderCourse:
    def __init__(self, root: Path, build: Path, units: list[str]):
        self.root = root
        if root.exists():
            shutil.rmtree(root)
        source = build / "nbgrader"
        shutil.copytree(source, root, ignore=shutil.ignore_patterns("submitted", "autograded", "feedback"))
        # Which test cells are hidden, and the test function each runs, from the source notebooks.
        self.cells: dict[str, dict[str, tuple[str, bool]]] = {u: self._test_cells(u) for u in units}
        self._db_lock = threading.Lock()

    def _test_cells(self, unit: str) -> dict[str, tuple[str, bool]]:
        nb = nbformat.read(self.root / "source" / unit / f"{unit}.ipynb", as_version=4)
        cells = {}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and cell.cell_type == "code":
                m = re.search(r"^def (\w+)\(", cell.source, re.M)
                cells[meta["grade_id"]] = (m.group(1) if m else meta["grade_id"],
                                           "BEGIN HIDDEN TESTS" in cell.source)
        return cells

    def as_nbgrader(self, student: nbformat.NotebookNode, unit: str) -> nbformat.NotebookNode:
        """A submission in nbgrader's form, so both backends grade the same notebooks.

        A notebook from the nbgrader release is kept as it is. A notebook from ``notebooks/``
        (otter's form) keeps every cell the student wrote, in order; its answer cells get the
        nbgrader ids of the master's solution cells, in order, and each ``grader.check("q")`` cell
        becomes question q's test cells (``nbgrader autograde`` restores their hidden parts from
        the gradebook). Tests of a question whose check cell was deleted are appended at the end.
        """
        if any("nbgrader" in c.metadata for c in student.cells):
            return student
        release = nbformat.read(self.root / "release" / unit / f"{unit}.ipynb", as_version=4)
        answers = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")]
        tests: dict[str, list] = {}
        setup = None
        for c in release.cells:
            meta = c.metadata.get("nbgrader", {})
            if meta.get("grade"):
                tests.setdefault(meta["grade_id"].rsplit("_test_", 1)[0], []).append(c)
            elif meta.get("grade_id") == "setup":
                setup = c
        out = nbformat.v4.new_notebook(metadata=release.metadata)
        placed: set[str] = set()
        for cell in student.cells:
            tags = cell.metadata.get("tags", [])
            check = re.fullmatch(r"\s*grader\.check\(\s*[\"'](\w+)[\"']\s*\)\s*", cell.source or "")
            if cell.cell_type == "code" and "otter_answer_cell" in tags and answers:
                new = nbformat.v4.new_code_cell(cell.source, metadata=dict(answers.pop(0).metadata))
            elif check and check.group(1) in tests:
                out.cells.extend(tests[check.group(1)])
                placed.add(check.group(1))
                continue
            elif "course-setup" in tags and setup is not None:
                new = setup
            else:
                new = cell
            out.cells.append(new)
        for question, cells in tests.items():
            if question not in placed:
                out.cells.extend(cells)
        for c in out.cells:
            c.pop("id", None)
        out.nbformat_minor = 4
        return out

    def grade_one(self, sub, tests, limits: Limits, scratch: Path) -> UnitResult:
        target = self.root / "submitted" / sub.student / sub.unit
        target.mkdir(parents=True, exist_ok=True)
        student = nbformat.read(sub.path, as_version=4)
        nbformat.write(self.as_nbgrader(student, sub.unit), target / f"{sub.unit}.ipynb")
        argv = [sys.executable, "-m", "nbgrader", "autograde", sub.unit, "--student", sub.student,
                "--create", "--force", f"--ExecutePreprocessor.timeout={int(limits.cell_seconds)}",
                "--ExecutePreprocessor.interrupt_on_timeout=True"]
        workdir = scratch / f"nbgrader-{sub.student}-{sub.unit}"
        outcome = run_job(argv, workdir, limits, cwd=self.root)
        if not outcome.timed_out and outcome.returncode != 0 and "database is locked" in outcome.log:
            outcome = run_job(argv, workdir, limits, cwd=self.root)  # sqlite contention: once more
        shutil.rmtree(workdir, ignore_errors=True)
        result = UnitResult(sub.student, sub.unit, "ok", 0.0, tests.max_score, warnings=list(sub.warnings),
                            seconds=outcome.seconds, code_cells=code_cells(sub.path))
        if outcome.timed_out:
            result.status, result.detail = "timeout", f"stopped after the {limits.wall_seconds:.0f} s limit"
            return result
        if outcome.returncode != 0:
            result.status = "crashed"
            result.detail = "nbgrader autograde failed: " + _last_error(outcome.log)
            return result
        autograded = self.root / "autograded" / sub.student / sub.unit / f"{sub.unit}.ipynb"
        errors = _errors(autograded)
        if any("CellTimeoutError" in e or "TimeoutError" in e for e in errors):
            result.status, result.detail = "timeout", "a cell ran longer than the limit and was interrupted"
        elif any(m in e for e in errors for m in MEMORY_MARKERS):
            result.status, result.detail = "memory", "a cell ran out of memory"
        result.questions = self._questions(sub, tests, autograded)
        result.score = sum(q.score for q in result.questions)
        return result

    def _questions(self, sub, tests, autograded: Path) -> list[QuestionResult]:
        from nbgrader.api import Gradebook

        messages = _test_messages(autograded)
        with self._db_lock, Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            nb = gb.find_submission_notebook(sub.unit, sub.unit, sub.student)
            scores = {g.name: (float(g.score or 0.0), float(g.max_score or 0.0)) for g in nb.grades}
        by_question: dict[str, list[CaseResult]] = {q: [] for q in tests.questions}
        for grade_id, (function, hidden) in self.cells[sub.unit].items():
            question = grade_id.rsplit("_test_", 1)[0]
            score, max_score = scores.get(grade_id, (0.0, 0.0))
            passed = max_score > 0 and score >= max_score
            message = "" if passed or hidden else messages.get(grade_id, "this test did not pass")
            by_question.setdefault(question, []).append(
                CaseResult(function, question, score, max_score, hidden, passed, message))
        return [QuestionResult(q, sum(c.points for c in cs), tests.questions.get(q, 0.0), cs)
                for q, cs in by_question.items()]


def _errors(path: Path) -> list[str]:
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001
        return []
    return [f"{o.get('ename', '')}: {o.get('evalue', '')}" for c in nb.cells for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


def _test_messages(path: Path) -> dict[str, str]:
    """grade_id -> the error a public test cell showed, from the autograded notebook."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001
        return {}
    out = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        for o in cell.get("outputs", []):
            if grade_id and o.get("output_type") == "error":
                out[grade_id] = f"{o.get('ename', '')}: {o.get('evalue', '')}"[:2000]
    return out


def _last_error(log: str) -> str:
    lines = [line for line in log.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:300]
