"""Test-wide set-up: fast mode, a temporary home, the slow-test convention, and fixtures shared by files.

* Fast mode is on; Jupyter, IPython and matplotlib write to a temporary home.
* A test that needs more than a few seconds says why in one line:
  ``@pytest.mark.slow(reason="...")`` leaves it out of ``make test-fast`` (``pytest -m "not slow"``);
  ``@pytest.mark.inner_loop(reason="...")`` keeps it there (the masters' round trips). A slow mark
  without a reason is a usage error; the summary lists unmarked tests that took over 10 s.
* ``demo_grades``: the demo class (unit 01 whole, see ``demo_class``) graded once per run and
  backend, shared by every test that reads it (their ids carry ``demo_grades-otter`` /
  ``demo_grades-nbgrader``). They are marked slow and run on one xdist worker, so that each
  backend grades the class once however many workers run.
* ``release_build``: ``autograder/build`` made once (under a file lock) for tests that grade with
  the checkout's build, so that parallel workers never write it at the same time.
* Under ``pytest -n N --dist loadgroup`` (``make test``) every other test file is one unit of work,
  so its module- and class-scoped fixtures run once; the slowest units are handed out first, and
  each worker runs torch on one thread.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from autograder import config

_home = tempfile.mkdtemp(prefix="cnn-course-test-home-")
atexit.register(shutil.rmtree, _home, ignore_errors=True)  # each pytest process (xdist worker) has its own
for var, sub in {
    "JUPYTER_CONFIG_DIR": "jupyter/config",
    "JUPYTER_DATA_DIR": "jupyter/data",
    "JUPYTER_RUNTIME_DIR": "jupyter/runtime",
    "IPYTHONDIR": "ipython",
    "MPLCONFIGDIR": "matplotlib",
}.items():
    os.environ[var] = os.path.join(_home, sub)
    os.makedirs(os.environ[var], exist_ok=True)
os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
os.environ["MPLBACKEND"] = "Agg"
os.environ["CNN_COURSE_FAST"] = "1"
# Under xdist each worker is one of several processes on the machine's cores: one thread each, so that
# their OpenMP threads do not spin against each other (grading jobs run single-threaded already).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


def pytest_generate_tests(metafunc):
    """``mutant`` takes every name in the test class's ``MUTANTS`` (see ``course.UnitRoundTrip``)."""
    if "mutant" in metafunc.fixturenames:
        metafunc.parametrize("mutant", list(metafunc.cls.MUTANTS))


# --- slow tests say why ---------------------------------------------------------------------------

UNMARKED_SECONDS = 10.0  # the summary lists unmarked tests slower than this

# Fixtures that make every test using them slow, and why (the mark is added for the test).
SLOW_FIXTURES = {
    "demo_grades": "reads the demo class graded with one backend (23 or 17 notebook runs, minutes, once per run)",
    "hostile_class": "reads the hostile class graded with one backend (about 40 notebooks, once per run)",
    "release_build": "grades with the checkout's release build (otter assign and nbgrader on a fresh clone)",
    "fresh_release": "reads a fresh release of every unit (otter assign and nbgrader, once per run)",
    "graded": "reads a class its file grades in sandboxed kernels (a module fixture)",
    "small_class": "reads the demo class graded with one backend and regrades one student",
    "browser": "drives a headless Chromium",
}
# Fixtures that take long but belong to the inner loop (`make test-fast`), and why.
INNER_LOOP_FIXTURES = {
    "solution_env": "runs its unit's master in-process and builds its otter tests (once per unit)",
}


def _reason(mark: pytest.Mark) -> str:
    return str(mark.kwargs.get("reason") or (mark.args[0] if mark.args else "")).strip()


def _work_unit(nodeid: str) -> str:
    """What one xdist worker runs as a whole: every test reading the demo class, or the hostile
    class, graded with one backend (their ids carry ``demo_grades-<backend>`` or
    ``hostile_class-<backend>``; they are handed out one by one, so the two backends of a class
    run on different workers when there are two), else the test's file (its module and class
    fixtures run once)."""
    graded = re.search(r"(?:demo_grades|hostile_class)-\w+", nodeid)
    return graded.group(0) if graded else nodeid.split("::")[0]


# The files whose tests take longest together (worker-seconds, measured with `pytest --junitxml` on
# 2 cores; the graded classes aside): handed out first among the slow ones, so that the run does not
# end on one worker with a long file while the other waits (about a minute at the end of a run when
# they came in file order). Only the order depends on these numbers.
LONGEST_FILES = {"tests/test_release.py": 389, "tests/test_grade.py": 201, "tests/test_judge.py": 164,
                 "tests/test_colab.py": 132}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by mark
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests that use a slow fixture, check every slow mark has a reason, and put the longest
    units of work first: the graded demo class, then files with slow tests (stable otherwise)."""
    for item in items:
        for name, reason in SLOW_FIXTURES.items():
            if name in getattr(item, "fixturenames", ()) and item.get_closest_marker("slow") is None:
                item.add_marker(pytest.mark.slow(reason=reason))
        for name, reason in INNER_LOOP_FIXTURES.items():
            if name in getattr(item, "fixturenames", ()) and item.get_closest_marker("inner_loop") is None:
                item.add_marker(pytest.mark.inner_loop(reason=reason))
        for kind in ("slow", "inner_loop"):
            mark = item.get_closest_marker(kind)
            if mark is not None and not _reason(mark):
                raise pytest.UsageError(f"{item.nodeid}: say in one line why it takes long: "
                                        f'@pytest.mark.{kind}(reason="...")')
    slow_units = {_work_unit(item.nodeid) for item in items if item.get_closest_marker("slow") is not None}
    rank = {unit: (0 if unit.startswith(("demo_grades-", "hostile_class-")) else 1 if unit in slow_units else 2,
                   -LONGEST_FILES.get(unit, 0))
            for unit in (_work_unit(item.nodeid) for item in items)}
    items.sort(key=lambda item: rank[_work_unit(item.nodeid)])  # stable: file order within a rank


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` (``make test``) hands out :func:`_work_unit` s in collection order.

    xdist's own loadgroup reads ``xdist_group`` marks through a node-id suffix that pytest 9.2 no
    longer lets it set, so the units are named from the node ids here instead."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnits(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

    config.option.loadscopereorder = False  # keep the order collection chose: slowest first
    return WorkUnits(config, log)


_durations: dict[str, float] = {}
_explained: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration
    if "slow" in report.keywords or "inner_loop" in report.keywords:
        _explained.add(report.nodeid)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    unexplained = sorted(((d, n) for n, d in _durations.items()
                          if d > UNMARKED_SECONDS and n not in _explained), reverse=True)
    if unexplained:
        terminalreporter.section(f"tests over {UNMARKED_SECONDS:g} s that do not say why")
        for seconds, nodeid in unexplained:
            terminalreporter.write_line(f"{seconds:6.1f} s  {nodeid}  (add @pytest.mark.slow(reason=...))")


# --- fixtures shared by test files ----------------------------------------------------------------

def _run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every process of this run sees: under xdist, the parent of the workers' own
    temporary folders (pytest-xdist's recipe for a session fixture that runs once, with a
    ``filelock.FileLock``), else this process's."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _release_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release of every unit made once per run, by whichever process asks first (the others wait
    for it): ``notebooks/`` and ``public_tests/`` as a checkout holds them, and ``build/``."""
    from filelock import FileLock

    from autograder.release import release

    root = _run_folder(tmp_path_factory) / "fresh-release"
    with FileLock(root.with_name("fresh-release.lock")):
        if not (root / ".complete").exists():
            shutil.rmtree(root, ignore_errors=True)
            release(config.released_units(), notebooks=root / "notebooks", build=root / "build")
            (root / ".complete").touch()
    return root


@pytest.fixture(scope="session")
def fresh_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release of every unit into a temporary folder (nothing in the checkout is touched), made
    from this run's masters once per run and shared by every worker. Read it, never write into it."""
    return _release_once(tmp_path_factory)


@pytest.fixture(scope="session")
def release_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout's grader build (``autograder/build``) for every unit and both backends. Where a
    unit's is missing (a fresh clone) it is copied from this run's :func:`fresh_release`, which
    ``tests/test_release.py`` reads too: one release per run instead of two (about 30 CPU-seconds).
    A build holds no absolute path (``release`` writes it anywhere), so a copy grades as the build
    itself. Each xdist worker asks for it; a file lock lets one fill it while the others wait."""
    from filelock import FileLock

    from autograder.otter_backend import missing_builds

    config.BUILD.mkdir(parents=True, exist_ok=True)
    with FileLock(config.BUILD / ".lock"):
        if missing_builds(config.released_units(), "nbgrader", config.BUILD):  # nbgrader's and otter's
            fresh = _release_once(tmp_path_factory) / "build"
            for backend in ("otter", "nbgrader"):
                shutil.rmtree(config.BUILD / backend, ignore_errors=True)
                shutil.copytree(fresh / backend, config.BUILD / backend)
    return config.BUILD


DEMO_BACKENDS = ("otter", "nbgrader")
# What the tests grade of the demo class, with each backend. Unit 01: the whole class, so that every
# status and every way of handing a notebook in shows under both backends. The other units: the
# students whose marks there come from that unit's own tests, and those the grader never runs
# (unreadable, two candidates, none); the students below have their notebooks of units 02-04 left
# out, so they are students who did not hand those units in (status missing). Each notebook left
# out is a run saved (the loop and the crash cost two: the rerun of the cells before the stop).
# * Both backends: the loop, the crash, the Colab rename and the deleted checks behave the same in
#   every unit; the blank notebook (the release untouched) scores 0 in every unit under otter's own
#   runner and nbgrader (tests/test_release.py) and in-process (make_demo, expected_grades.csv).
# * nbgrader also: the wrong answers and the exceptions. What nbgrader adds to a unit is its test
#   cells and their points: the perfect and the partial notebook (some cells pass, some fail) check
#   those in every unit; how a failing or raising test cell reads is the same code in every unit,
#   checked in unit 01. Otter grades them in every unit: its judge is where a unit's tests run.
# `make grade` grades the whole class. Notebook runs per grading: otter 44 -> 23, nbgrader 33 -> 17
# (unit 03 graded again, which it was not). On fresh clones (`make test`) the otter grading took
# 795 s -> 459 s with the four of both backends left out -> 408 s with the rest; the nbgrader one
# 575 s -> 494 s -> 329 s (this machine's speed moves by a third within a day: compare runs).
DEMO_WHOLE_CLASS_UNIT = "01_layers"
_SAME_IN_EVERY_UNIT = ("cleo", "finn", "gus", "ivan", "jo")  # blank, loop, crash, renamed by Colab, checks deleted
DEMO_UNIT_01_ONLY = {  # backend -> students graded in unit 01 only
    "otter": _SAME_IN_EVERY_UNIT,
    "nbgrader": (*_SAME_IN_EVERY_UNIT, "dev", "eve"),  # and the wrong answers, the exceptions
}
# What running a demo notebook leaves beside it (otter's check log, Jupyter's checkpoints): ignored
# by git, never committed, not part of the class.
LEFT_BY_A_RUN = frozenset({".OTTER_LOG", ".ipynb_checkpoints"})


def demo_class(root: Path, backend: str) -> Path:
    """``root``, filled with the demo class as the tests grade it with ``backend`` (see
    :data:`DEMO_UNIT_01_ONLY`): each student's files (not :data:`LEFT_BY_A_RUN`), without the files
    of other units than unit 01 for the students graded there only."""
    source = config.DEMO / "submissions"
    only = DEMO_UNIT_01_ONLY[backend]
    missing = sorted(set(only) - {p.name for p in source.iterdir()})
    assert not missing, f"no demo student {missing}: update DEMO_UNIT_01_ONLY in {__file__}"
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        (root / folder.name).mkdir(parents=True)
        for file in sorted(p for p in folder.iterdir() if p.is_file() and p.name not in LEFT_BY_A_RUN):
            if folder.name not in only or DEMO_WHOLE_CLASS_UNIT in file.name:
                shutil.copy2(file, root / folder.name / file.name)
    return root


def demo_expected(backend: str) -> dict[tuple[str, str], tuple[str, float, float]]:
    """(student, unit) -> (status, score, max score) for the class of :func:`demo_class`: the
    demo's expected grades, and missing for the units a student does not hand in there."""
    import csv

    with open(config.DEMO / "expected_grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {(r["student"], r["unit"]):
            ("missing", 0.0, float(r["max_score"]))
            if r["student"] in DEMO_UNIT_01_ONLY[backend] and r["unit"] != DEMO_WHOLE_CLASS_UNIT
            else (r["status"], float(r["score"]), float(r["max_score"])) for r in rows}


@pytest.fixture(scope="session", params=DEMO_BACKENDS, ids=lambda backend: f"hostile_class-{backend}")
def hostile_class(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  release_build: Path):
    """The hostile class of ``tests/hostile.py`` graded once per run with each backend. A file
    whose students are for one backend parametrizes it indirectly with the same id
    (``hostile.only("otter")``)."""
    import hostile

    return hostile.grade_class(request.param, tmp_path_factory.mktemp(f"hostile-{request.param}"), release_build)


class DemoGrades(NamedTuple):
    """What grading the demo class (:func:`demo_class`) with one backend left: ``submissions`` is the
    class graded, ``results`` are the grader's rows and ``out`` holds grades.csv, questions.csv,
    feedback/, index.html, summary.png (and nbgrader/)."""

    backend: str
    out: Path
    results: list  # of autograder.results.UnitResult
    submissions: Path


@pytest.fixture(scope="session", params=DEMO_BACKENDS, ids=lambda backend: f"demo_grades-{backend}")
def demo_grades(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                release_build: Path) -> DemoGrades:
    """The demo class (:func:`demo_class`) graded once per run with each backend (the tests that
    use it are parametrized over both). Read it, never write into it: other tests share it."""
    from autograder.grade import grade
    from autograder.sandbox import Limits

    # The demo's infinite loop waits one cell limit: keep it short (fast-mode cells take seconds).
    limits = Limits(wall_seconds=240, cell_seconds=20)
    root = tmp_path_factory.mktemp(f"demo-{request.param}")
    submissions, out = demo_class(root / "submissions", request.param), root / "out"
    results = grade(submissions, out, backend=request.param, jobs=2, limits=limits, progress=False,
                    build=release_build)
    return DemoGrades(request.param, out, results, submissions)
