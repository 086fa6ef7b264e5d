"""``python -m autograder grade``: grade a folder of submissions, safely and in parallel.

``SUBMISSIONS/<student>/<unit>.ipynb`` in, ``OUT/grades.csv``, ``OUT/questions.csv``,
``OUT/feedback/<student>/<unit>.html`` and ``OUT/summary.png`` out: one row per student and unit,
whatever happened (see :data:`autograder.results.STATUSES`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import config
from autograder.results import UnitResult
from autograder.sandbox import Limits, run_job

BACKENDS = ("otter", "nbgrader")


@dataclass
class Submission:
    student: str
    unit: str
    status: str  # "ok" (to grade), "missing", "ambiguous" or "unreadable"
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    detail: str = ""
    code_chars: int = 0  # how much code it runs: the longest are started first




def candidates(folder: Path, unit: str) -> list[Path]:
    """The unit's notebook, accepting Colab and browser renames (``Copy of X``, ``X (1)``)."""
    pattern = re.compile(rf"^(?:Copy of )?{re.escape(unit)}(?: ?\(\d+\))?\.ipynb$", re.IGNORECASE)
    return sorted(p for p in folder.iterdir() if p.is_file() and pattern.match(p.name))


def readable(path: Path) -> tuple[str, int]:
    """('', characters of code) when ``path`` is a notebook we can execute, else (why not, 0)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a status, not a crash
        return f"not a notebook: {type(e).__name__}: {str(e)[:200]}", 0
    if not isinstance(nb.get("cells"), list):
        return "not a notebook: no cells", 0
    return "", sum(len(c.get("source", "")) for c in nb.cells if c.get("cell_type") == "code")


def discover(root: Path, units: list[str]) -> list[Submission]:
    """One :class:`Submission` per student folder and unit."""
    if not root.is_dir():
        raise SystemExit(f"submissions folder {root} does not exist")
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for unit in units:
            paths = candidates(folder, unit)
            if not paths:
                found.append(Submission(folder.name, unit, "missing", detail=f"no {unit}.ipynb"))
            elif len(paths) > 1:
                found.append(Submission(folder.name, unit, "ambiguous",
                                        detail="several candidates: " + ", ".join(p.name for p in paths)))
            else:
                (path,) = paths
                why, code_chars = readable(path)
                warnings = [] if path.name == f"{unit}.ipynb" else [f"graded {path.name!r} (a renamed copy)"]
                found.append(Submission(folder.name, unit, "unreadable" if why else "ok", path, warnings, why,
                                        code_chars))
    return found


# --- the otter backend ------------------------------------------------------------------------

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


def ensure_release(units: list[str], backend: str, build: Path = config.BUILD) -> None:
    """Build the release for units whose grader build is missing."""
    from autograder.release import release

    missing = [u for u in units if not otter_zip(u, build).exists()
               or (backend == "nbgrader" and not (build / "nbgrader" / "release" / u).exists())]
    if missing:
        print(f"building the release for {', '.join(missing)} ...", file=sys.stderr)
        release(missing, build=build, nbgrader=backend == "nbgrader")


def grade_one_otter(sub: Submission, tests: UnitTests, limits: Limits, scratch: Path) -> UnitResult:
    """Grade one submission in the sandbox; any failure becomes a status."""
    workdir = scratch / f"{sub.student}-{sub.unit}-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(parents=True)
    notebook = workdir / f"{sub.unit}.ipynb"
    shutil.copyfile(sub.path, notebook)
    result_path = scratch / f".result-{uuid.uuid4().hex}.json"  # outside the job's folder
    job = {"student": sub.student, "unit": sub.unit, "notebook": str(notebook), "tests": tests.tests,
           "questions": tests.questions, "max_score": tests.max_score, "warnings": sub.warnings,
           "cell_seconds": limits.cell_seconds, "grading_seconds": limits.wall_seconds,
           "output_bytes": limits.output_bytes,
           "result_path": str(result_path)}
    outcome = run_job([sys.executable, "-m", "autograder.worker"], workdir, limits,
                      stdin=json.dumps(job).encode())
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
    result.seconds = outcome.seconds
    shutil.rmtree(workdir, ignore_errors=True)
    result_path.unlink(missing_ok=True)
    return result


def code_cells(path: Path | None) -> list[str]:
    try:
        return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    except Exception:  # noqa: BLE001
        return []


def not_graded(sub: Submission, max_score: float) -> UnitResult:
    return UnitResult(sub.student, sub.unit, sub.status, 0.0, max_score, warnings=list(sub.warnings),
                      detail=sub.detail, code_cells=code_cells(sub.path) if sub.status == "ambiguous" else [])


def grade(submissions: Path, out: Path, *, backend: str = "otter", jobs: int | None = None,
          units: list[str] | None = None, limits: Limits | None = None, progress: bool = True,
          build: Path = config.BUILD) -> list[UnitResult]:
    """Grade every student and unit; write the reports into ``out``; return the results."""
    from autograder.reports import write_reports

    if backend not in BACKENDS:
        raise SystemExit(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    units = units or config.released_units()
    unknown = [u for u in units if u not in config.UNITS]
    if unknown:
        raise SystemExit(f"unknown unit(s) {', '.join(unknown)}; units are {', '.join(config.UNITS)}")
    limits = limits or Limits()
    jobs = max(1, jobs or os.cpu_count() or 1)
    ensure_release(units, backend, build)
    tests = {u: load_unit_tests(u, build) for u in units}
    subs = discover(submissions, units)
    out.mkdir(parents=True, exist_ok=True)

    results: list[UnitResult] = [not_graded(s, tests[s.unit].max_score) for s in subs if s.status != "ok"]
    # Longest first, so that the last notebooks to finish are short ones and no core idles long.
    todo = sorted((s for s in subs if s.status == "ok"), key=lambda s: -s.code_chars)
    with tempfile.TemporaryDirectory(prefix="cnn-course-grade-") as scratch:
        if backend == "otter":
            work = lambda s: grade_one_otter(s, tests[s.unit], limits, Path(scratch))  # noqa: E731
        else:
            from autograder.nbgrader_backend import NbgraderCourse
            course = NbgraderCourse(out / "nbgrader", build, units)
            work = lambda s: course.grade_one(s, tests[s.unit], limits, Path(scratch))  # noqa: E731
        bar = _progress(len(todo), progress)
        def safe(sub: Submission) -> UnitResult:
            try:
                return work(sub)
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
    table = write_reports(results, out)
    if progress:
        print(table)
    return results


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="grading", unit="notebook", disable=not enabled, file=sys.stderr)
