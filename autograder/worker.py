"""One submission, graded: the trusted job that runs the student's kernel (sandboxed) and judges it.

The grader forks it from a warm process (:class:`autograder.sandbox.Entry`, :func:`run`);
``python -m autograder.worker < job.json`` runs the same job in a fresh interpreter. The job
arrives through a pipe or standard input (so hidden tests are never written where the submission runs):
the notebook to grade, the unit's otter test files, and the limits. The worker

1. re-executes the student's notebook from scratch in a fresh kernel (saved outputs are never
   trusted), each cell under a timeout that interrupts it and goes on, keeping at most
   ``output_bytes`` of output;
2. then runs every test case of every question in this process (:mod:`autograder.judge`), asking
   the kernel only for the student's values through :mod:`autograder.agent`, and records per-case
   results (hidden cases keep no message); the few cases a master marks ``judge: kernel`` run in
   the kernel through otter's own ``ExceptionTestFile``;
3. writes a :class:`~autograder.results.UnitResult` as JSON to ``result_path``.
"""
from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from autograder import judge
from autograder.kernel import GradingKernelManager
from autograder.results import CaseResult, QuestionResult, UnitResult

MEMORY_MARKERS = ("MemoryError", "can't allocate memory", "out of memory", "Cannot allocate memory")


def out_of_memory(error: dict | str) -> bool:
    """Whether an error (an output or message content with ``ename``/``evalue``, or its text) says
    the cell ran out of memory."""
    text = error if isinstance(error, str) else f"{error.get('ename', '')}: {error.get('evalue', '')}"
    return any(marker in text for marker in MEMORY_MARKERS)
CHECK_CELL_PREFIX = "grader.check("

# Runs in the student's kernel after their code, for the few cases whose master marks them
# ``judge: kernel`` (see autograder.judge): otter's test machinery on those cases only.
GRADING_CELL = '''
def __course_grade(tests, only, result_path):
    import importlib, json, sys
    import helpers.checks
    importlib.reload(helpers.checks)  # undo any tampering with the check helpers
    from otter.test_files.exception_test import ExceptionTestFile
    env = dict(globals())
    out = []
    for name, source in tests:
        tf = ExceptionTestFile.from_string(source, path=name + ".py")
        for tc in tf.test_cases:
            if tc.body.test_func.__name__ not in only:
                continue
            mistake = ""
            try:
                tc.body.call_func(env)
                passed, message = True, ""
            except BaseException as e:  # a test may meet SystemExit or KeyboardInterrupt from student code
                passed, message = False, f"{type(e).__name__}: {e}"
                mistake = getattr(e, "mistake", "")
            out.append({"question": tf.name, "name": tc.body.test_func.__name__, "hidden": bool(tc.hidden),
                        "points": float(tc.points), "passed": passed,
                        "message": "" if (passed or tc.hidden) else message[:300],
                        "mistake": mistake[:200] if not passed and isinstance(mistake, str) else ""})
    with open(result_path, "w") as f:
        json.dump(out, f)
__course_grade(__COURSE_TESTS__, __COURSE_ONLY__, __COURSE_RESULT__)
del __course_grade
'''


# Seconds an interrupted cell has to stop before its kernel is given up. After a cell's time limit
# nbclient interrupts the kernel and (``error_on_timeout``) moves on at once; a cell that ignores
# the interrupt keeps the kernel busy, and every later cell and the grading would wait behind it
# until the job's wall clock, burning a core all along.
INTERRUPT_GRACE = 10.0
STUCK = "the cell did not stop when interrupted"


def give_up_on_stuck_cells(client_class: type, note: Path | None = None) -> None:
    """Make an nbclient client class (the worker's, nbgrader's Execute) wait :data:`INTERRUPT_GRACE`
    seconds for the interrupted cell's reply, then raise CellTimeoutError (DeadKernelError when the
    kernel died meanwhile) instead of running the next cell into a busy kernel; ``note``: a file
    written first, for a grader that reads only the job's exit code and files."""
    from queue import Empty

    from nbclient.util import ensure_async

    handle_timeout = client_class._async_handle_timeout

    async def _async_handle_timeout(self, timeout, cell=None):
        reply = await handle_timeout(self, timeout, cell)
        try:
            await ensure_async(self.kc.shell_channel.get_msg(timeout=INTERRUPT_GRACE))  # the cell's own reply
        except Empty:
            await self._async_check_alive()
            if note is not None:
                note.write_text(STUCK)
            raise CellTimeoutError.error_from_timeout_and_cell(STUCK, timeout, cell) from None
        return reply

    client_class._async_handle_timeout = _async_handle_timeout


class LimitedClient(NotebookClient):
    """nbclient with a cap on the output kept per notebook (a submission may print without end)."""

    output_budget: int = 1 << 20
    outputs_dropped: bool = False

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {})))
        if size > self.output_budget:
            self.outputs_dropped = True
            return None
        self.output_budget -= size
        return super().output(outs, msg, display_id, cell_index)


give_up_on_stuck_cells(LimitedClient)


def student_notebook(path: Path) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook to execute (outputs cleared, otter's check cells dropped) and its code cells."""
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    cells = []
    for number, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), 1):
        cell.metadata["course_code_number"] = number  # the cell as the feedback numbers it
        if cell.source.strip().startswith(CHECK_CELL_PREFIX):  # public checks: graded below instead
            continue
        cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    nb.cells = cells
    return nb, code


def _note_progress(path: Path, cell: int | None) -> None:
    """Leave the running cell's number where the grader finds it if this process is killed."""
    try:
        if cell is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(str(cell))
    except OSError:  # the sandbox may not let us: the grader then knows no cell, nothing worse
        pass


def cell_errors(nb: nbformat.NotebookNode) -> list[str]:
    return [f"{o.get('ename', '')}: {o.get('evalue', '')}" for c in nb.cells for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


def _out_of_memory_cell(nb: nbformat.NotebookNode) -> int | None:
    """The first code cell (as the feedback numbers it) whose error says it ran out of memory."""
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error" and out_of_memory(o):
                return cell.metadata.get("course_code_number")
    return None


def kernel_cases(client: NotebookClient, nb: nbformat.NotebookNode, tests: list[tuple[str, str]],
                 workdir: Path, job: dict, every: bool = False) -> list[dict]:
    """Run the cases marked ``judge: kernel`` in the student's kernel (none: nothing runs there);
    ``every``: every case, as the Gradescope zip and nbgrader do (``make bench`` compares the costs)."""
    marked = {name: (judge.all_cases(source) if every else judge.kernel_cases(source)) for name, source in tests}
    only = sorted(set().union(*marked.values())) if marked else []
    if not only:
        return []
    tests = [(name, source) for name, source in tests if marked[name]]  # no other test file enters the kernel
    result_path = workdir / f"{uuid.uuid4().hex}.json"  # unguessable for the student's code
    grading = (GRADING_CELL.replace("__COURSE_TESTS__", repr(tests)).replace("__COURSE_ONLY__", repr(only))
               .replace("__COURSE_RESULT__", repr(str(result_path))))
    cell = nbformat.v4.new_code_cell(grading)
    nb.cells.append(cell)
    client.timeout = int(job["grading_seconds"])  # these cases run in this one cell
    client.execute_cell(cell, len(nb.cells) - 1)
    return json.loads(result_path.read_text()) if result_path.exists() else []


def grade(job: dict) -> UnitResult:
    start = time.monotonic()
    result = UnitResult(student=job["student"], unit=job["unit"], status="ok", score=0.0,
                        max_score=float(job["max_score"]), warnings=list(job.get("warnings", [])))
    nb, result.code_cells = student_notebook(Path(job["notebook"]))
    workdir = Path.cwd()
    client = LimitedClient(nb, timeout=int(job["cell_seconds"]), interrupt_on_timeout=True,
                           error_on_timeout={"ename": "CellTimeoutError",
                                             "evalue": f"cell ran longer than {job['cell_seconds']} s",
                                             "traceback": []},
                           allow_errors=True, kernel_name="python3", startup_timeout=120,
                           # killed at the end rather than asked to stop (a polite shutdown costs
                           # seconds per notebook; the sandbox ends whatever the kernel started)
                           shutdown_kernel="immediate",
                           kernel_manager_class=GradingKernelManager,
                           resources={"metadata": {"path": str(workdir)}})
    client.output_budget = int(job["output_bytes"])
    cases: list[dict] = []
    timed_out = False
    interrupted_seen = False
    running: int | None = None  # the code cell (as the feedback numbers it) being executed
    progress = Path(str(job["result_path"]) + ".cell")  # read by the grader if this process is killed
    try:
        with client.setup_kernel():
            judged = job.get("judge", True)  # False: every case in the kernel, for make bench only
            channel = judge.Channel(client.kc, client.km, deadline=float("inf"))
            if judged:
                judge.start_agent(channel)  # before the student's first cell: no transformer of theirs exists yet
            for index, cell in enumerate(nb.cells):
                running = cell.metadata.get("course_code_number")
                _note_progress(progress, running)
                started = time.monotonic()
                client.execute_cell(cell, index)
                # nbclient interrupted the cell if it hit the limit; the notebook goes on.
                interrupted = any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", []))
                slow = time.monotonic() - started >= job["cell_seconds"]
                if (interrupted and not interrupted_seen) or (slow and not timed_out):  # name the first
                    result.failed_cell = running
                    result.failed_reason = f"it ran longer than {job['cell_seconds']} s and was interrupted"
                timed_out, interrupted_seen = timed_out or slow or interrupted, interrupted_seen or interrupted
            running = None
            _note_progress(progress, None)
            tests = [(name, source) for name, source in job["tests"]]
            if judged:
                channel.deadline = time.monotonic() + float(job["grading_seconds"])
                cases = judge.run_judge(tests, channel)
            cases += kernel_cases(client, nb, tests, workdir, job, every=not judged)
    except DeadKernelError as e:
        result.status, result.detail = "crashed", f"the kernel died: {e}"[:300]
        result.failed_cell, result.failed_reason = running, "the kernel died while it ran"
        starved = _out_of_memory_cell(nb)
        if starved is not None:  # a kernel at its memory limit dies later, in whatever cell allocates next
            result.status, result.detail = "memory", "a cell ran out of memory (the kernel died after it)"
            result.failed_cell, result.failed_reason = starved, "it ran out of memory"
    except CellTimeoutError:
        result.status, result.detail = "timeout", "a cell did not stop when interrupted"
        result.failed_cell = running
        result.failed_reason = f"it ran longer than {job['cell_seconds']} s and did not stop when interrupted"

    errors = cell_errors(nb)
    if result.status == "ok":
        if timed_out or any(e.startswith("CellTimeoutError") for e in errors):
            result.status, result.detail = "timeout", f"a cell ran longer than {job['cell_seconds']} s and was interrupted"
        elif any(out_of_memory(e) for e in errors):
            result.status, result.detail = "memory", "a cell ran out of memory"
        elif not cases:
            result.status, result.detail = "crashed", "the grading step did not finish"
    if client.outputs_dropped:
        result.warnings.append("output over the limit was dropped")
    result.questions = questions_from_cases(cases, job["questions"])
    result.score = sum(q.score for q in result.questions)
    result.seconds = time.monotonic() - start
    return result


def questions_from_cases(cases: list[dict], questions: dict[str, float]) -> list[QuestionResult]:
    """Group case results by question, in the unit's question order; ungraded questions score 0."""
    by_question: dict[str, list[CaseResult]] = {q: [] for q in questions}
    for c in cases:
        by_question.setdefault(c["question"], []).append(CaseResult(
            name=c["name"], question=c["question"], points=c["points"] if c["passed"] else 0.0,
            max_points=c["points"], hidden=c["hidden"], passed=c["passed"], message=c["message"],
            mistake=c.get("mistake", "")))
    return [QuestionResult(name=q, score=sum(c.points for c in cs), max_score=questions.get(q, sum(c.max_points for c in cs)),
                           cases=cs) for q, cs in by_question.items()]


def run(job: dict) -> int:
    """The job's entry point (:class:`autograder.sandbox.Entry`): grade, write the result."""
    result = grade(job)
    Path(job["result_path"]).write_text(json.dumps(result.to_dict()))
    return 0


def main() -> int:
    return run(json.loads(sys.stdin.read()))


if __name__ == "__main__":
    sys.exit(main())
