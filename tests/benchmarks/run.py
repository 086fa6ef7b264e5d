"""The course's benchmarks: how fast are the helpers next to the obvious way of getting the same answer?

Run by ``make bench`` (``.venv/bin/python tests/benchmarks/run.py``); not collected
by pytest. Each *section* times a few operations and prints one row per operation::

    name | ours | baseline | ratio

where ``ours`` is the helper, ``baseline`` the reference it replaces (a real
forward pass, a gradient measurement...) and ``ratio = ours / baseline`` (below 1:
the helper is faster). Times are the median of a few repeats after a warm-up.

Adding a section (other units do): write a function that returns a list of
:class:`Row` and decorate it with ``@section("name", "one-line description")``.
``--only NAME`` runs one section.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# Run as a script from anywhere: make the repository root importable (helpers/).
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Row:
    """One timed comparison: seconds for ours and for the baseline (None when not run)."""

    name: str
    ours: float | None
    baseline: float | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline


@dataclass
class Section:
    name: str
    description: str
    run: Callable[[int], list[Row]]  # takes the number of repeats


SECTIONS: dict[str, Section] = {}


def section(name: str, description: str) -> Callable[[Callable[[int], list[Row]]], Callable[[int], list[Row]]]:
    """Register a benchmark section under ``name`` (in definition order)."""

    def register(fn: Callable[[int], list[Row]]) -> Callable[[int], list[Row]]:
        SECTIONS[name] = Section(name, description, fn)
        return fn

    return register


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after ``warmup`` untimed ones.

    The warm-up absorbs one-off costs (operator caches, lazy imports, allocator
    growth); the median ignores the odd run slowed by a neighbour on a shared CPU.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def print_rows(rows: list[Row]) -> None:
    """The section's table: ``name | ours | baseline | ratio``, then any notes."""
    cells = [("name", "ours", "baseline", "ratio")] + [
        (r.name, _fmt_seconds(r.ours), _fmt_seconds(r.baseline), "-" if r.ratio is None else f"{r.ratio:.3f}")
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    for i, c in enumerate(cells):
        print(" | ".join([c[0].ljust(widths[0])] + [x.rjust(w) for x, w in zip(c[1:], widths[1:])]))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    for r in rows:
        if r.note:
            print(f"  {r.name}: {r.note}")


# --------------------------------------------------------------------------- #
# Section: helpers (counting, receptive field, summary)
# --------------------------------------------------------------------------- #
TARGET_S = 1.0  # the helpers' promise: each answers for resnet152 at 224 in under a second


def _target(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"target < {TARGET_S:.0f} s: {'met' if seconds < TARGET_S else 'NOT MET'}"


@section("helpers", f"count_macs / receptive_field / summary on resnet152 at (3, 224, 224); target < {TARGET_S:.0f} s")
def bench_helpers(repeats: int) -> list[Row]:
    import torch
    import torchvision.models as tvm
    from torch.utils.flop_counter import FlopCounterMode

    from helpers.counting import count_macs
    from helpers.summary import summary

    torch.manual_seed(0)
    size = (3, 224, 224)
    model = tvm.resnet152().eval()
    x = torch.randn(1, *size)
    rows = []

    def flop_counter() -> None:
        with FlopCounterMode(display=False), torch.no_grad():
            model(x)

    # The slow baselines (several seconds each on 2 cores) get fewer repeats: the
    # section stays well inside its two-minute budget and a ratio this far from 1
    # does not need more precision.
    slow = max(1, repeats // 2)
    ours = median_seconds(lambda: count_macs(model, size), repeats)
    rows.append(Row("count_macs (meta) vs FlopCounterMode (real forward)", ours,
                    median_seconds(flop_counter, slow), _target(ours)))

    try:  # helpers.receptive is its own unit: benchmark it when it is there
        from helpers.receptive import empirical_receptive_field, receptive_field
    except ImportError as err:
        rows.append(Row("receptive_field vs empirical_receptive_field", None, None, f"skipped: {err}"))
    else:
        ours = median_seconds(lambda: receptive_field(model, size), repeats)
        baseline = median_seconds(lambda: empirical_receptive_field(model, size), slow)
        rows.append(Row("receptive_field vs empirical_receptive_field", ours, baseline, _target(ours)))

    def forward() -> None:
        with torch.no_grad():
            model(x)

    ours = median_seconds(lambda: str(summary(model, size)), repeats)
    rows.append(Row("summary (meta, + text) vs a plain real forward", ours, median_seconds(forward, repeats),
                    _target(ours)))
    return rows


# --------------------------------------------------------------------------- #
# Section: notebooks (each unit top to bottom in fast mode)
# --------------------------------------------------------------------------- #
NOTEBOOK_TARGET_S = 60.0  # a unit runs top to bottom on a 2-core CPU in fast mode in under a minute


def _execute(path: Path, cwd: Path) -> float:
    """Seconds to execute ``path`` with plain nbclient (one fresh kernel), in fast mode."""
    import os

    import nbformat
    from nbclient import NotebookClient

    os.environ["CNN_COURSE_FAST"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return time.perf_counter() - start


@section("notebooks", f"each released unit's solutions, top to bottom in fast mode; target < {NOTEBOOK_TARGET_S:.0f} s")
def bench_notebooks(repeats: int) -> list[Row]:
    import tempfile

    from autograder import config
    from autograder.release import release

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        units = config.released_units()
        release(units, notebooks=Path(tmp) / "notebooks", build=Path(tmp) / "build", nbgrader=False)
        for unit in units:
            solved = Path(tmp) / "build" / "otter" / unit / "dist" / "autograder" / f"{unit}.ipynb"
            seconds = statistics.median(_execute(solved, solved.parent) for _ in range(max(1, repeats // 2)))
            met = "met" if seconds < NOTEBOOK_TARGET_S else "NOT MET"
            rows.append(Row(f"{unit} (baseline: the {NOTEBOOK_TARGET_S:.0f} s budget)", seconds,
                            NOTEBOOK_TARGET_S, f"target < {NOTEBOOK_TARGET_S:.0f} s: {met}"))
    return rows


# --------------------------------------------------------------------------- #
# Section: grading (the demo class: ours vs stock serial grading vs the floor)
# --------------------------------------------------------------------------- #
def _well_behaved_demo(tmp: Path) -> Path:
    """The demo students whose notebooks run to the end (stock graders have no time limit)."""
    import csv
    import shutil

    from autograder import config

    with open(config.DEMO / "expected_grades.csv", newline="") as f:
        ok = {r["student"] for r in csv.DictReader(f) if r["status"] == "ok"}
    subs = tmp / "submissions"
    for student in sorted(ok):
        shutil.copytree(config.DEMO / "submissions" / student, subs / student)
    return subs


UNITS: list[str] | None = None  # --units: the units the grading and judge sections grade


@contextlib.contextmanager
def _running_demo(backend: str):
    """A temporary folder with the running demo students in it, and the units to grade (their
    release built for ``backend``)."""
    import tempfile

    from autograder import config
    from autograder.grade import ensure_release

    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        subs = _well_behaved_demo(tmp)
        units = UNITS or config.released_units()
        ensure_release(units, backend)
        yield tmp, subs, units


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@section("grading", "the demo class's running notebooks: our batch vs stock serial grading vs plain execution / cores")
def bench_grading(repeats: int) -> list[Row]:
    import os
    import shutil
    import subprocess

    import nbformat

    from autograder import config
    from autograder.grade import discover, grade, otter_zip
    from autograder.nbgrader_backend import NbgraderCourse
    from autograder.release import run_nbgrader
    from autograder.sandbox import job_env

    cores = os.cpu_count() or 1
    rows = []
    with _running_demo("nbgrader") as (tmp, subs, units):
        found = [s for s in discover(subs, units) if s.status == "ok"]
        env = job_env(dict(os.environ), tmp / "stock", "bench")
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(cores)

        # The floor: plain nbclient execution of the same notebooks, divided by the cores.
        floor = sum(_execute(s.path, s.path.parent) for s in found) / cores

        ours = _timed(lambda: grade(subs, tmp / "ours", backend="otter", jobs=cores, progress=False, units=units))
        stock = 0.0
        for s in found:  # `otter run`, one submission after another
            out = tmp / "otter-run" / s.student / s.unit
            out.mkdir(parents=True)
            stock += _timed(lambda: subprocess.run(
                [sys.executable, "-m", "otter", "run", "-a", str(otter_zip(s.unit)), "-o", str(out), str(s.path)],
                env=env, capture_output=True, timeout=900))
        rows.append(Row(f"otter backend, {cores} jobs vs `otter run` serially", ours, stock,
                        f"speed-up {stock / ours:.2f}x (target >= 1.8x on 2 cores)"))
        rows.append(Row(f"otter backend, {cores} jobs vs plain execution / {cores} cores (floor)", ours, floor,
                        f"{ours / floor:.2f}x the floor (target <= 1.3x)"))

        ours_nb = _timed(lambda: grade(subs, tmp / "ours-nb", backend="nbgrader", jobs=cores, progress=False,
                                       units=units))
        course = NbgraderCourse(tmp / "stock-nbgrader", config.BUILD, units)
        for s in found:
            target = course.root / "submitted" / s.student / s.unit
            target.mkdir(parents=True)
            nbformat.write(course.as_nbgrader(nbformat.read(s.path, as_version=4), s.unit), target / f"{s.unit}.ipynb")
        stock_nb = sum(_timed(lambda: run_nbgrader(course.root, "autograde", u, "--create")) for u in units)
        rows.append(Row(f"nbgrader backend, {cores} jobs vs `nbgrader autograde`", ours_nb, stock_nb,
                        f"speed-up {stock_nb / ours_nb:.2f}x"))
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


# --------------------------------------------------------------------------- #
# Section: judge (the tests outside the kernel vs inside it, the Gradescope way)
# --------------------------------------------------------------------------- #
JUDGE_TARGET = 1.10  # the judge may cost at most 10 % over running every test in the kernel


@section("judge", f"the demo class's running notebooks, tests run by the judge vs in the kernel; target <= {JUDGE_TARGET:.2f}x")
def bench_judge(repeats: int) -> list[Row]:
    import os
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from autograder.grade import discover
    from autograder.otter_backend import grade_one_otter, load_unit_tests
    from autograder.sandbox import Limits, isolation

    cores = os.cpu_count() or 1
    sandbox = isolation("auto")
    rows = []
    with _running_demo("otter") as (tmp, subs, units):
        for unit in units:
            tests = load_unit_tests(unit)
            found = [s for s in discover(subs, [unit]) if s.status == "ok"]

            marks: dict[bool, list] = {}

            def batch(judged: bool) -> None:
                scratch = Path(tempfile.mkdtemp(dir=tmp))
                with ThreadPoolExecutor(max_workers=cores) as pool:
                    results = pool.map(lambda s: grade_one_otter(s, tests, Limits(), scratch, sandbox, judged), found)
                    marks[judged] = sorted((r.student, r.score, r.status) for r in results)

            judged = statistics.median(_timed(lambda: batch(True)) for _ in range(max(1, repeats // 2)))
            in_kernel = statistics.median(_timed(lambda: batch(False)) for _ in range(max(1, repeats // 2)))
            same = "same marks" if marks[True] == marks[False] else f"MARKS DIFFER: {marks}"
            ratio = judged / in_kernel
            rows.append(Row(f"{unit}: {len(found)} notebooks, {cores} jobs, judge vs in-kernel", judged, in_kernel,
                            f"{ratio:.2f}x ({'met' if ratio <= JUDGE_TARGET else 'NOT MET'}), {same}"))
    return rows


# --------------------------------------------------------------------------- #
# Section: kernels (forked from the run's warm interpreter vs started cold, same sandbox)
# --------------------------------------------------------------------------- #
@section("kernels", "the demo class's running notebooks in bubblewrap: kernels forked warm vs started cold")
def bench_kernels(repeats: int) -> list[Row]:
    from unittest import mock

    from autograder import warm_kernels
    from autograder.grade import grade
    from autograder.sandbox import isolation

    if not isolation("auto").isolated:
        return [Row("warm vs cold kernels", None, None, "no bubblewrap here: kernels are not sandboxed, none is warm")]
    cores = os.cpu_count() or 1
    cold_start = contextlib.contextmanager(lambda isolated, needed=True: (yield isolated))  # as where none can be joined
    rows = []
    with _running_demo("otter") as (tmp, subs, units):
        marks, cpu = {}, {}

        def batch(name: str) -> None:
            busy = _busy_cpu_seconds()
            results = grade(subs, tmp / f"{name}-{time.monotonic_ns()}", jobs=cores, progress=False, units=units)
            cpu.setdefault(name, []).append(_busy_cpu_seconds() - busy)
            marks[name] = sorted((r.student, r.unit, r.score, r.status) for r in results)

        warm = statistics.median(_timed(lambda: batch("warm")) for _ in range(max(1, repeats // 2)))
        with mock.patch.object(warm_kernels, "serving", cold_start):
            cold = statistics.median(_timed(lambda: batch("cold")) for _ in range(max(1, repeats // 2)))
        same = "same marks" if marks["warm"] == marks["cold"] else f"MARKS DIFFER: {marks}"
        busy = {name: statistics.median(seconds) for name, seconds in cpu.items()}
        rows.append(Row(f"{len(marks['warm'])} notebooks, {cores} jobs, warm vs cold kernels", warm, cold,
                        f"{cold / warm:.2f}x faster warm (the warm interpreter's start included), {same}; "
                        f"CPU busy {busy['warm']:.0f} s vs {busy['cold']:.0f} s ({busy['cold'] / busy['warm']:.2f}x "
                        "less warm: what a loaded machine, or the test suite, gains)"))
    return rows


def _busy_cpu_seconds() -> float:
    """CPU-seconds the whole machine has spent busy (user, nice, system) since boot: ``/proc/stat``."""
    with open("/proc/stat") as f:
        user, nice, system = (int(x) for x in f.readline().split()[1:4])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- #
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(SECTIONS), metavar="SECTION",
                        help=f"run one section: {', '.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median taken)")
    parser.add_argument("--units", help="comma-separated units for the grading and judge sections (default: all released)")
    args = parser.parse_args(argv)
    global UNITS
    UNITS = args.units.split(",") if args.units else None

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for s in SECTIONS.values():
        if args.only and s.name != args.only:
            continue
        print(f"\n== {s.name}: {s.description}")
        start = time.perf_counter()
        print_rows(s.run(args.repeats))
        print(f"({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
