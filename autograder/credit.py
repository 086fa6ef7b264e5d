"""Credit for what ran: the notebook cut before the cell that stopped it, and answers never touched.

When a kernel dies or a cell runs past the limit before the tests could run, the grader re-runs
the submission with that cell and every code cell after it emptied (check and test cells kept),
in a fresh kernel and through the same backend, and keeps those scores with the original status
(``crashed`` / ``timeout``). Both backends thus give what the cells before the failure earn alone.
"""
from __future__ import annotations

import ast
import copy
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import nbformat

from autograder.results import UnitResult

CHECK = re.compile(r"\s*grader\.check\(\s*[\"'](\w+)[\"']\s*\)\s*")
STOPPED = ("crashed", "timeout", "memory")  # memory: a kernel at its limit can die in a later cell


def check_question(cell) -> str | None:
    """The question a check cell (otter ``grader.check("q")`` or an nbgrader test cell) tests."""
    if cell.cell_type != "code":
        return None
    m = CHECK.fullmatch(cell.source or "")
    if m:
        return m.group(1)
    meta = cell.metadata.get("nbgrader", {})
    return meta["grade_id"].rsplit("_test_", 1)[0] if meta.get("grade") and meta.get("grade_id") else None


def is_answer_cell(cell) -> bool:
    """A cell the student fills in (otter's answer tag, or an nbgrader solution cell)."""
    return cell.cell_type == "code" and ("otter_answer_cell" in cell.metadata.get("tags", [])
                                         or bool(cell.metadata.get("nbgrader", {}).get("solution")))


def holds_placeholder(source: str) -> bool:
    """Whether code still holds the release's placeholder: ``x = ...``, a bare ``...`` statement
    or nbgrader's ``raise NotImplementedError()``. ``x[..., 0]`` is an answer, not a placeholder."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False

    def ellipsis(node: ast.AST | None) -> bool:
        return isinstance(node, ast.Constant) and node.value is Ellipsis

    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and ellipsis(node.value):
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and ellipsis(node.value):
            return True
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                return True
    return False


def unanswered_questions(path: Path | None) -> list[str]:
    """Questions whose every answer cell still holds a placeholder (an answer cell belongs to the
    question whose check cell follows it); [] for a notebook that cannot be read."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable file has its own status
        return []
    answers: dict[str, list[str]] = {}
    pending: list[str] = []
    for cell in nb.cells:
        if is_answer_cell(cell):
            pending.append(cell.source)
        elif (question := check_question(cell)) is not None:
            answers.setdefault(question, []).extend(pending)
            pending = []
    return [q for q, sources in answers.items() if sources and all(holds_placeholder(s) for s in sources)]


def cut_before(nb: nbformat.NotebookNode, cell_number: int) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose code cells from the ``cell_number``-th on (1-based, code cells only)
    are emptied, except check and test cells; nothing is removed, so cell ids and order stay."""
    nb = copy.deepcopy(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code, 1):
        if number >= cell_number and check_question(cell) is None:
            cell.source, cell.outputs, cell.execution_count = "", [], None
    return nb


def needs_rerun(result: UnitResult) -> bool:
    """The run stopped at a known cell before any test case could report."""
    return (result.status in STOPPED and result.failed_cell is not None
            and not any(q.cases for q in result.questions))


def credit_for_what_ran(path: Path, result: UnitResult, grade_copy: Callable[[Path], UnitResult]) -> UnitResult:
    """``result`` with the scores of the cells before ``result.failed_cell``, graded alone.

    ``grade_copy`` grades a notebook file through the backend that produced ``result``. The status,
    detail, failed cell and the student's code stay those of the real run.
    """
    if not needs_rerun(result):
        return result
    with tempfile.TemporaryDirectory(prefix="cnn-course-partial-") as tmp:
        copy_path = Path(tmp) / path.name
        nbformat.write(cut_before(nbformat.read(path, as_version=4), result.failed_cell), copy_path)
        again = grade_copy(copy_path)
    if again.executed and any(q.cases for q in again.questions):
        result.questions, result.score, result.partial_rerun = again.questions, again.score, True
        result.seconds += again.seconds
    return result


def cell_number(source: str, code_cells: list[str]) -> int | None:
    """The number (1-based) of the first code cell whose source is ``source``, ignoring
    surrounding blank space; None when no cell matches (e.g. a test cell the grader added)."""
    wanted = source.strip()
    return next((i for i, src in enumerate(code_cells, 1) if src.strip() == wanted), None) if wanted else None
