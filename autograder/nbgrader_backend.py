"""The nbgrader backend: ``nbgrader autograde`` per submission, in a throwaway copy of the course.

The instructor's course lives under ``OUT/nbgrader`` with its sqlite gradebook, so formgrader
and ``nbgrader export`` work on it afterwards. A submission never touches it: each one is graded
as one job of :func:`autograder.sandbox.run_job` in its own copy of the course (config, release,
a fresh copy of the release gradebook), where nbgrader (trusted) starts the student's kernel
through :class:`autograder.kernel.GradingKernelManager`, inside the sandbox, with only the
notebook's own folder writable. Only the auto scores of the known test cells are then copied into
the instructor's gradebook.

The submission is rebuilt before grading (:meth:`NbgraderCourse.as_nbgrader`): its own
``nbgrader`` metadata is never trusted, every test cell comes from the release and all of them
run after the student's last cell. The rule is the same as the otter backend's: a question is
graded on the state the notebook is in after ALL the student's cells ran (an answer defined after
its check counts; an answer redefined after its check is graded as it ended up).

Named mistakes: nbgrader keeps of a failing test only the error it printed. Just before the test
cells the rebuilt notebook runs one cell of the grader's own (:data:`MISTAKE_CELL`), so that the
error of a check that names the likely mistake ends with :data:`MISTAKE_MARK` and the name as JSON;
:func:`_test_outcomes` reads it back and strips it from the message. The student's notebook and
the checks they run themselves never carry it; for a hidden test only the name is kept, never the
message (which may quote what was expected).

A regrade of some questions (``tests`` holding only those, see :class:`~autograder.otter_backend.UnitTests`)
still runs every cell the student wrote, but only those questions' test cells; the instructor's
gradebook keeps the other questions' earlier scores.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import uuid
import warnings
from pathlib import Path

import nbformat

from autograder import config
from autograder.results import CaseResult, QuestionResult, UnitResult
from autograder.sandbox import Entry, Isolation, Limits, run_job
from autograder.submissions import code_cells
from autograder.worker import cell_errors, give_up_on_stuck_cells, out_of_memory

COURSE_PARTS = ("nbgrader_config.py", "gradebook.db", "release", "source")  # what a job's copy holds
CHECK_CELL = re.compile(r"\s*grader\.check\(\s*[\"'](\w+)[\"']\s*\)\s*")
MISTAKE_MARK = "\n[course-grader mistake] "
# Runs after the student's last cell, before the tests: a CheckFailed that names a mistake says so
# in its text (nbgrader keeps only the text), and a failing test prints a plain traceback, as Python
# does: IPython's default (context lines around every frame, read with stack_data) costs about 20 ms
# per failing test cell, a second per notebook whose tests mostly fail, and nbgrader keeps of it only
# the error's name and text. The student's own cells, before it, keep IPython's tracebacks.
# Defensive: it never fails, whatever the kernel holds.
MISTAKE_CELL = f'''# The course grader's cell, not the student's: the checks below name their mistake.
def __course_name_mistakes(mark):
    import builtins, json
    try:
        get_ipython().InteractiveTB.set_mode(mode="Plain")
    except builtins.BaseException:
        pass
    try:
        from helpers.checks import CheckFailed
    except builtins.BaseException:
        return
    plain = builtins.BaseException.__str__
    def named(self):
        text, mistake = plain(self), builtins.getattr(self, "mistake", "")
        return text + mark + json.dumps(mistake) if builtins.isinstance(mistake, str) and mistake else text
    CheckFailed.__str__ = named
__course_name_mistakes({MISTAKE_MARK!r})
del __course_name_mistakes
'''


class NbgraderCourse:
    def __init__(self, root: Path, build: Path, units: list[str], keep: bool = False):
        """``keep``: a regrade of some students, into the gradebook ``root`` already holds."""
        self.root = root
        self.source = build / "nbgrader"  # the pristine course each job copies
        if root.exists() and not (keep and (root / "gradebook.db").exists()):
            shutil.rmtree(root)
        if not root.exists():
            shutil.copytree(self.source, root, ignore=shutil.ignore_patterns("submitted", "autograded", "feedback"))
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

    def questions(self, unit: str) -> set[str]:
        """The questions the unit's test cells grade."""
        return {_question(grade_id) for grade_id in self.cells[unit]}

    def as_nbgrader(self, student: nbformat.NotebookNode, unit: str,
                    questions: set[str] | None = None) -> nbformat.NotebookNode:
        """The submission in nbgrader's form, rebuilt from the release so nothing it claims counts.

        Every cell the student wrote is kept, in order, with its ``nbgrader`` metadata removed.
        An answer cell gets the release's metadata for its answer: in a notebook from
        ``notebooks/`` (otter's form), the cells tagged ``otter_answer_cell`` in order; in one from
        the nbgrader release, the cell that names a release answer's ``grade_id`` (first claim
        only; unknown or repeated ids are plain cells). Cells that were tests (``grader.check``,
        or claiming a test ``grade_id``) are dropped; then :data:`MISTAKE_CELL` and every test
        cell of the release (of ``questions`` only, when given) are appended after the student's
        last cell, in the release's order.
        """
        release = nbformat.read(self.root / "release" / unit / f"{unit}.ipynb", as_version=4)
        answers: dict[str, nbformat.NotebookNode] = {}
        tests, setup = [], None
        for c in release.cells:
            meta = c.metadata.get("nbgrader", {})
            if meta.get("grade"):
                tests.append(c)
            elif meta.get("solution"):
                answers[meta["grade_id"]] = c
            elif meta.get("grade_id") == "setup":
                setup = c
        in_order = list(answers)
        test_ids = {c.metadata["nbgrader"]["grade_id"] for c in tests}
        out = nbformat.v4.new_notebook(metadata=release.metadata)
        for cell in student.cells:
            claimed = cell.metadata.pop("nbgrader", None)
            claimed_id = claimed.get("grade_id") if isinstance(claimed, dict) else None
            tags = cell.metadata.get("tags", [])
            if claimed_id in test_ids or (cell.cell_type == "code" and CHECK_CELL.fullmatch(cell.source)):
                continue
            if claimed_id in answers and claimed_id in in_order:
                answer = claimed_id
            elif cell.cell_type == "code" and "otter_answer_cell" in tags and claimed is None and in_order:
                answer = next((a for a in in_order if answers[a].cell_type == "code"), None)
            else:
                answer = None
            if answer is not None:
                in_order.remove(answer)
                new = nbformat.v4.new_code_cell(cell.source) if answers[answer].cell_type == "code" \
                    else nbformat.v4.new_markdown_cell(cell.source)
                new.metadata = nbformat.from_dict(dict(answers[answer].metadata))
            elif ("course-setup" in tags or claimed_id == "setup") and setup is not None:
                new, setup = setup, None
            else:
                new = cell
            out.cells.append(new)
        out.cells.append(nbformat.v4.new_code_cell(MISTAKE_CELL))
        out.cells.extend(c for c in tests
                         if questions is None or _question(c.metadata["nbgrader"]["grade_id"]) in questions)
        for c in out.cells:
            c.pop("id", None)
            if c.cell_type == "code":
                c.outputs, c.execution_count = [], None
        out.nbformat_minor = 4
        return out

    def grade_one(self, sub, tests, limits: Limits, scratch: Path, sandbox: Isolation | None = None) -> UnitResult:
        """Grade one submission in its own copy of the course; record its auto scores here."""
        workdir = scratch / f"nbgrader-{sub.student}-{sub.unit}-{uuid.uuid4().hex[:8]}"
        course = workdir / "course"
        course.mkdir(parents=True)
        for part in COURSE_PARTS:
            src = self.source / part
            if src.is_dir():
                shutil.copytree(src, course / part)
            elif src.exists():
                shutil.copyfile(src, course / part)
        submitted = course / "submitted" / sub.student / sub.unit / f"{sub.unit}.ipynb"
        submitted.parent.mkdir(parents=True)
        # A regrade of some questions: ``tests`` holds only those.
        only = set(tests.questions) if set(tests.questions) < self.questions(sub.unit) else None
        nbformat.write(self.as_nbgrader(nbformat.read(sub.path, as_version=4), sub.unit, only), submitted)
        argv = ["--output-bytes", str(limits.output_bytes), sub.unit, "--student", sub.student,
                "--create", "--force", f"--ExecutePreprocessor.timeout={int(limits.cell_seconds)}",
                "--ExecutePreprocessor.interrupt_on_timeout=True",
                # The kernel is killed at the end, not asked to stop: a polite shutdown waits
                # seconds per notebook, and the sandbox's PID namespace ends whatever it started.
                "--ExecutePreprocessor.shutdown_kernel=immediate"]
        outcome = run_job(Entry("autograder.nbgrader_backend:autograde", argv, config.JOB_PRELOAD), workdir, limits,
                          cwd=course, sandbox=sandbox)
        result = UnitResult(sub.student, sub.unit, "ok", 0.0, tests.max_score, warnings=list(sub.warnings),
                            seconds=outcome.seconds, code_cells=code_cells(sub.path))
        try:
            if outcome.timed_out:
                result.status, result.detail = "timeout", f"stopped after the {limits.wall_seconds:.0f} s limit"
                result.failed_cell = _running_cell(course, result.code_cells)
                result.failed_reason = "the notebook ran past the time limit in it"
                return result
            if outcome.returncode != 0:
                result.status = "crashed"
                result.detail = "nbgrader autograde failed: " + _last_error(outcome.log)
                result.failed_cell = _running_cell(course, result.code_cells)
                result.failed_reason = "the kernel died while it ran" if "DeadKernelError" in outcome.log else "it stopped the grader"
                if (course / STUCK_NOTE).exists():
                    result.status, result.detail = "timeout", "a cell did not stop when interrupted"
                    result.failed_reason = f"it ran longer than {limits.cell_seconds:.0f} s and did not stop when interrupted"
                starved = _running_cell(course, result.code_cells, MEMORY_CELL)
                if starved is not None:  # a kernel at its memory limit dies later, in whatever cell allocates next
                    result.status, result.detail = "memory", "a cell ran out of memory (the kernel died after it)"
                    result.failed_cell, result.failed_reason = starved, "it ran out of memory"
                return result
            autograded = course / "autograded" / sub.student / sub.unit / f"{sub.unit}.ipynb"
            errors = _errors(autograded)
            if any("CellTimeoutError" in e or "TimeoutError" in e for e in errors):
                result.status, result.detail = "timeout", "a cell ran longer than the limit and was interrupted"
                result.failed_cell = _interrupted_cell(autograded, result.code_cells)
                result.failed_reason = f"it ran longer than {limits.cell_seconds:.0f} s and was interrupted"
            elif any(out_of_memory(e) for e in errors):
                result.status, result.detail = "memory", "a cell ran out of memory"
            if OUTPUT_DROPPED in outcome.log or _cap_outputs(autograded, limits.output_bytes):
                result.warnings.append("output over the limit was dropped")
            scores = _auto_scores(course / "gradebook.db", sub)
            self._record(sub, scores, submitted, autograded, only)
            result.questions = self._questions(sub, tests, scores, _test_outcomes(autograded), only)
            result.score = sum(q.score for q in result.questions)
            return result
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _record(self, sub, scores: dict[str, tuple[float, float]], submitted: Path, autograded: Path,
                only: set[str] | None = None) -> None:
        """Put the submission and its auto scores (nothing else) into the instructor's gradebook;
        with ``only`` (a regrade of those questions), the other test cells keep their earlier scores."""
        from nbgrader.api import Gradebook, MissingEntry

        for kind, notebook in (("submitted", submitted), ("autograded", autograded)):
            target = self.root / kind / sub.student / sub.unit
            target.mkdir(parents=True, exist_ok=True)
            if notebook.exists():
                shutil.copyfile(notebook, target / notebook.name)
        with self._db_lock, Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            gb.update_or_create_student(sub.student)
            earlier = {} if only is None else _auto_scores_in(gb, sub)
            try:
                gb.remove_submission(sub.unit, sub.student)
            except MissingEntry:
                pass
            with warnings.catch_warnings():  # nbgrader's own add_submission trips SQLAlchemy's autoflush notice
                warnings.simplefilter("ignore")
                gb.add_submission(sub.unit, sub.student)
            for grade_id in self.cells[sub.unit]:
                grade = gb.find_grade(grade_id, sub.unit, sub.unit, sub.student)
                source = scores if only is None or _question(grade_id) in only else earlier
                grade.auto_score = source.get(grade_id, (0.0, 0.0))[0]
            gb.db.commit()

    def _questions(self, sub, tests, scores: dict[str, tuple[float, float]],
                   outcomes: dict[str, tuple[str, str]], only: set[str] | None = None) -> list[QuestionResult]:
        by_question: dict[str, list[CaseResult]] = {q: [] for q in tests.questions}
        for grade_id, (function, hidden) in self.cells[sub.unit].items():
            question = _question(grade_id)
            if only is not None and question not in only:
                continue
            score, max_score = scores.get(grade_id, (0.0, 0.0))
            passed = max_score > 0 and score >= max_score
            message, mistake = outcomes.get(grade_id, ("this test did not pass", ""))
            by_question.setdefault(question, []).append(
                CaseResult(function, question, score, max_score, hidden, passed,
                           "" if passed or hidden else message, "" if passed else mistake))
        return [QuestionResult(q, sum(c.points for c in cs), tests.questions.get(q, 0.0), cs)
                for q, cs in by_question.items()]


def _question(grade_id: str) -> str:
    """The question a test cell grades: ``q1_formula_test_0`` -> ``q1_formula``."""
    return grade_id.rsplit("_test_", 1)[0]


def _auto_scores_in(gb, sub) -> dict[str, tuple[float, float]]:
    """grade_id -> (auto score, max score) of ``sub`` in an open gradebook ({} when it has none)."""
    from nbgrader.api import MissingEntry

    try:
        nb = gb.find_submission_notebook(sub.unit, sub.unit, sub.student)
    except MissingEntry:
        return {}
    return {g.name: (min(float(g.auto_score or 0.0), float(g.max_score or 0.0)), float(g.max_score or 0.0))
            for g in nb.grades}


def _auto_scores(db: Path, sub) -> dict[str, tuple[float, float]]:
    """grade_id -> (auto score, max score) of the job's own gradebook (manual scores ignored)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}") as gb:
        return _auto_scores_in(gb, sub)


def _cap_outputs(path: Path, budget: int) -> bool:
    """Drop the outputs past ``budget`` bytes from the autograded notebook; whether any were."""
    if not path.exists() or path.stat().st_size <= budget:
        return False
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001
        return False
    dropped = False
    for cell in nb.cells:
        kept = []
        for output in cell.get("outputs", []):
            size = len(json.dumps(output))
            if size > budget:
                dropped = True
                continue
            budget -= size
            kept.append(output)
        if "outputs" in cell:
            cell.outputs = kept
    if dropped:
        nbformat.write(nb, path)
    return dropped


def _errors(path: Path) -> list[str]:
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001
        return []
    return cell_errors(nb)


def _test_outcomes(path: Path) -> dict[str, tuple[str, str]]:
    """grade_id -> (the error a test cell showed, the mistake its check named or ''), from the
    autograded notebook; the mark :data:`MISTAKE_CELL` adds is taken out of the message."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001
        return {}
    out = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        for o in cell.get("outputs", []):
            if grade_id and o.get("output_type") == "error":
                message, mistake = _split_mistake(str(o.get("evalue", "")))
                out[grade_id] = (f"{o.get('ename', '')}: {message}"[:2000], mistake)
    return out


def _split_mistake(evalue: str) -> tuple[str, str]:
    """``(message, mistake)`` from an error text that may end with :data:`MISTAKE_MARK` + JSON."""
    text, mark, name = evalue.rpartition(MISTAKE_MARK)
    if not mark:
        return evalue, ""
    try:
        mistake = json.loads(name)
    except ValueError:
        return evalue, ""
    return text, mistake[:200] if isinstance(mistake, str) else ""


RUNNING_CELL = "running-cell.txt"  # in the course copy: the source of the cell being executed
MEMORY_CELL = "memory-cell.txt"  # ... and of the first cell whose error said it ran out of memory
STUCK_NOTE = "stuck-cell.txt"  # written when a cell did not stop when interrupted (the run then ends)


def _running_cell(course: Path, code: list[str], note: str = RUNNING_CELL) -> int | None:
    """The code cell (as the feedback numbers it) nbgrader was executing when it stopped, or
    (``note=MEMORY_CELL``) the first that ran out of memory."""
    from autograder.credit import cell_number

    try:
        return cell_number((course / note).read_text(encoding="utf-8"), code)
    except OSError:
        return None


def _interrupted_cell(autograded: Path, code: list[str]) -> int | None:
    """The first code cell of the autograded notebook that a timeout interrupted."""
    from autograder.credit import cell_number

    try:
        nb = nbformat.read(autograded, as_version=4)
    except Exception:  # noqa: BLE001
        return None
    for cell in nb.cells:
        if any("TimeoutError" in o.get("ename", "") for o in cell.get("outputs", [])):
            return cell_number(cell.source, code)
    return None


def _note_running_cells(execute_class) -> None:
    """Make nbgrader's Execute write each code cell's source to ``RUNNING_CELL`` before running it,
    so that the grader can name the cell that killed the kernel or ran out the clock."""
    original = execute_class.preprocess_cell

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            try:
                Path(RUNNING_CELL).write_text(cell.source, encoding="utf-8")
            except OSError:
                pass
        return original(self, cell, resources, index)

    execute_class.preprocess_cell = preprocess_cell


def _last_error(log: str) -> str:
    lines = [line for line in log.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:300]


OUTPUT_DROPPED = "course-grader: output over the limit was dropped"


def _note_memory_error(msg: dict) -> None:
    """Copy ``RUNNING_CELL`` to ``MEMORY_CELL`` at the first error output that says the cell ran out
    of memory: the kernel may die in a later cell, and the grader names the first cause."""
    if msg.get("msg_type") != "error" or os.path.exists(MEMORY_CELL) or not out_of_memory(msg.get("content", {})):
        return
    try:
        Path(MEMORY_CELL).write_text(Path(RUNNING_CELL).read_text(encoding="utf-8"), encoding="utf-8")
    except OSError:
        pass


def _cap_execute_outputs(execute, budget: int) -> None:
    """Make nbgrader's executor keep at most ``budget`` bytes of outputs (as the otter worker does)."""
    keep = execute.Execute.output
    left = {"bytes": budget}

    def output(self, outs, msg, display_id, cell_index):
        _note_memory_error(msg)
        size = len(json.dumps(msg.get("content", {})))
        if size > left["bytes"]:
            if left["bytes"] >= 0:
                print(OUTPUT_DROPPED, file=sys.stderr, flush=True)
                left["bytes"] = -1
            return None
        left["bytes"] -= size
        return keep(self, outs, msg, display_id, cell_index)

    execute.Execute.output = output


def main(argv: list[str]) -> None:
    """``nbgrader autograde ARGV`` with the student's kernel started by GradingKernelManager
    and its outputs capped (``--output-bytes N`` first)."""
    from nbgrader.apps.nbgraderapp import main as nbgrader_main
    from nbgrader.preprocessors import execute

    from autograder.kernel import GradingKernelManager

    budget = 1 << 20
    if argv[:1] == ["--output-bytes"]:
        budget, argv = int(argv[1]), argv[2:]
    execute.AsyncKernelManager = GradingKernelManager  # nbgrader's Execute takes it from here
    _cap_execute_outputs(execute, budget)
    _note_running_cells(execute.Execute)  # names the cell that killed the kernel (credit for what ran)
    give_up_on_stuck_cells(execute.Execute, Path(STUCK_NOTE))  # a cell that ignores the interrupt ends the run
    sys.argv = ["nbgrader", "autograde", *argv]
    nbgrader_main()


def autograde(argv: list[str]) -> int:
    """A grading job's entry point (:class:`autograder.sandbox.Entry`): :func:`main`, its exit code."""
    try:
        main(argv)
    except SystemExit as e:  # nbgrader exits through sys.exit, with a code or a message
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    return 0


if __name__ == "__main__":
    main(sys.argv[1:])
