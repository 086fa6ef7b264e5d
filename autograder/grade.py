"""``python -m autograder grade``: grade a folder of submissions, safely and in parallel.

``SUBMISSIONS/<student>/<unit>.ipynb`` in, ``OUT/grades.csv``, ``OUT/questions.csv``,
``OUT/feedback/<student>/<unit>.html`` and ``OUT/summary.png`` out: one row per student and unit,
whatever happened (see :data:`autograder.results.STATUSES`).
"""
from __future__ import annotations

import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from autograder import config, warm_kernels
from autograder.otter_backend import UnitTests, ensure_release, grade_one_otter, load_unit_tests, otter_zip
from autograder.results import UnitResult
from autograder.sandbox import Isolation, Limits, isolation
from autograder.submissions import Submission, candidates, code_cells, discover, readable

BACKENDS = ("otter", "nbgrader")
SANDBOX_FILE = "sandbox.txt"  # OUT/sandbox.txt: how this batch was isolated, for the class report
# Re-exported: the steps of grading, for the benchmarks and tests.
__all__ = ["BACKENDS", "Submission", "UnitTests", "candidates", "code_cells", "discover", "ensure_release",
           "grade", "load_unit_tests", "otter_zip", "readable"]


def graded_with_credit(sub: Submission, work) -> UnitResult:
    """``work(sub)``; after a crash or timeout, the credit the cells before it earn (one more run
    of a cut copy through the same ``work``); and the questions left unanswered."""
    from dataclasses import replace

    from autograder.credit import credit_for_what_ran, unanswered_questions

    result = credit_for_what_ran(sub.path, work(sub), lambda path: work(replace(sub, path=path)))
    result.unanswered = unanswered_questions(sub.path)
    return result


def not_graded(sub: Submission, max_score: float) -> UnitResult:
    return UnitResult(sub.student, sub.unit, sub.status, 0.0, max_score, warnings=list(sub.warnings),
                      detail=sub.detail, code_cells=code_cells(sub.path) if sub.status == "ambiguous" else [])


def grade(submissions: Path, out: Path, *, backend: str = "otter", jobs: int | None = None,
          units: list[str] | None = None, limits: Limits | None = None, progress: bool = True,
          build: Path = config.BUILD, students: list[str] | None = None,
          questions: list[str] | None = None, sandbox: str = "auto") -> list[UnitResult]:
    """Grade every student and unit; write the reports into ``out``; return the results.

    ``sandbox``: ``auto`` runs each kernel in bubblewrap where it works and warns loudly where not,
    ``require`` refuses to grade without it, ``off`` uses the process-group sandbox alone.

    ``students`` / ``questions`` regrade only those (a regrade request): the new results merge
    into the ones ``out`` already holds (their rows replaced, every page regenerated).
    """
    from autograder.reports import merge_results, read_results, write_reports

    if backend not in BACKENDS:
        raise SystemExit(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    units = units or config.released_units()
    unknown = [u for u in units if u not in config.UNITS]
    if unknown:
        raise SystemExit(f"unknown unit(s) {', '.join(unknown)}; units are {', '.join(config.UNITS)}")
    limits = limits or Limits()
    jobs = max(1, jobs or os.cpu_count() or 1)
    isolated = isolation(sandbox)
    ensure_release(units, backend, build)
    tests = {u: load_unit_tests(u, build) for u in units}
    subs = discover(submissions, units)
    if students:
        unknown = sorted(set(students) - {s.student for s in subs})
        if unknown:
            raise SystemExit(f"--students: no folder {', '.join(unknown)} in {submissions}")
        subs = [s for s in subs if s.student in students]
    unknown = sorted(set(questions or ()) - {q for t in tests.values() for q in t.questions})
    if unknown:
        raise SystemExit(f"--questions: unknown question(s) {', '.join(unknown)} in {', '.join(units)}")
    run = tests  # the tests each notebook is graded with
    if questions:  # only those questions' tests run (each notebook still runs whole), merged into OUT
        run = {u: UnitTests(u, [(q, source) for q, source in t.tests if q in questions],
                            {q: m for q, m in t.questions.items() if q in questions}) for u, t in tests.items()}
        subs = [s for s in subs if run[s.unit].questions]
        earlier = {(r.student, r.unit) for r in read_results(out)}
        fresh = sorted(f"{s.student}/{s.unit}" for s in subs if s.status == "ok" and (s.student, s.unit) not in earlier)
        if fresh:
            raise SystemExit(f"--questions: {out} holds no earlier result for {', '.join(fresh)} to merge into; "
                             "grade them without --questions first")
    out.mkdir(parents=True, exist_ok=True)
    _announce(isolated, out, progress)

    results: list[UnitResult] = [not_graded(s, tests[s.unit].max_score) for s in subs if s.status != "ok"]
    # Longest first, so that the last notebooks to finish are short ones and no core idles long.
    todo = sorted((s for s in subs if s.status == "ok"), key=lambda s: -s.code_chars)
    with (tempfile.TemporaryDirectory(prefix="cnn-course-grade-") as scratch,
          warm_kernels.serving(isolated, needed=bool(todo)) as isolated):  # kernels forked warm (see there)
        if backend == "otter":
            work = lambda s: grade_one_otter(s, run[s.unit], limits, Path(scratch), isolated)  # noqa: E731
        else:
            from autograder.nbgrader_backend import NbgraderCourse
            course = NbgraderCourse(out / "nbgrader", build, units, keep=bool(students or questions))
            work = lambda s: course.grade_one(s, run[s.unit], limits, Path(scratch), isolated)  # noqa: E731
        bar = _progress(len(todo), progress)
        def safe(sub: Submission) -> UnitResult:
            try:
                return graded_with_credit(sub, work)
            except Exception as e:  # noqa: BLE001 - a bug on our side is still a row, never a lost batch
                return UnitResult(sub.student, sub.unit, "crashed", 0.0, tests[sub.unit].max_score,
                                  warnings=list(sub.warnings), detail=f"grader error: {type(e).__name__}: {e}"[:300])

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(safe, s) for s in todo]
            for future in as_completed(futures):
                results.append(future.result())
                bar.update(1)
        bar.close()
    order = {u: i for i, u in enumerate(config.UNITS)}
    results.sort(key=lambda r: (r.student, order.get(r.unit, 99)))
    if students or questions:  # a regrade: merge into what ``out`` holds
        results = merge_results(read_results(out), results, questions)
    from autograder.integrity import write_integrity  # integrity.csv, similarity.html: never a score
    write_integrity(subs, out)
    table = write_reports(results, out)
    if progress:
        print(table)
    return results


def _announce(isolated: Isolation, out: Path, progress: bool) -> None:
    """Say how submissions are isolated: in OUT/sandbox.txt always, in the terminal loudly when
    they are not."""
    line = isolated.describe()
    (out / SANDBOX_FILE).write_text(line + "\n")
    if not isolated.isolated:
        bar = "!" * 78
        print(f"{bar}\n{line}\nInstall bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and grade "
              f"again, or pass --sandbox require to refuse to grade without it.\n{bar}", file=sys.stderr)
    elif progress:
        print(line, file=sys.stderr)


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="grading", unit="notebook", disable=not enabled, file=sys.stderr)
