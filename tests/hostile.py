"""One hostile class per backend, graded once per run and read by three test files.

``tests/test_sandbox.py`` (what a submission can reach), ``tests/test_grade_safety.py`` (what it
can do to its own job) and ``tests/test_judge_hostile.py`` (what it can change inside its kernel)
each write their students with ``hostile_students(backend, submissions, out)``; their names never
collide, and each file keeps an honest neighbour of its own. The class is graded in one batch of
unit 01 with the limits below, through the grader's public entry point, as ``make grade`` would; the
conftest fixture ``hostile_class`` (one per backend) hands the result to every test that reads it.
"""
from __future__ import annotations

import csv
import os
import importlib
import json
import time
from pathlib import Path
from typing import NamedTuple

import nbformat

UNIT = "01_layers"
MODULES = ("test_sandbox", "test_grade_safety", "test_judge_hostile")


def limits():
    """Short enough that the looping students cost little, long enough for a full unit-01 notebook
    on a loaded 2-core machine (about 40 s there) and for its slowest cells: a few seconds, and the
    ``pip install`` of ``writes_venv`` (up to 12 s while the class's spinning cells take the cores).
    Each second here is a second of a core for each spinning student (30 s -> 20 s: about 35
    CPU-seconds of a ``make test``)."""
    from autograder.sandbox import Limits

    return Limits(wall_seconds=240, cell_seconds=20, memory_bytes=6 << 30, processes=96)


class HostileClass(NamedTuple):
    backend: str
    rows: dict[str, dict[str, str]]  # student -> their grades.csv row
    results: dict  # student -> autograder.results.UnitResult
    out: Path  # the grader's OUT folder (read it, never write it: other tests share it)
    guarded: tuple[dict[str, str], dict[str, str]]  # test_sandbox.guarded() before and after grading
    seconds: float


def write(notebooks: dict[str, object], submissions: Path) -> None:
    for name, nb in notebooks.items():
        folder = submissions / name
        if folder.exists():
            raise ValueError(f"two hostile test files write the student {name!r}")
        folder.mkdir(parents=True)
        path = folder / f"{UNIT}.ipynb"
        if isinstance(nb, dict):  # a malformed notebook, written as it is
            path.write_text(json.dumps(nb))
        else:
            nbformat.write(nb, path)


def grade_class(backend: str, root: Path, build: Path) -> HostileClass:
    from autograder.grade import grade
    from test_sandbox import guarded

    submissions, out = root / "submissions", root / "out"
    for module in MODULES:
        write(importlib.import_module(module).hostile_students(backend, submissions, out), submissions)
    before = guarded()
    start = time.monotonic()
    results = grade(submissions, out, backend=backend, jobs=2, limits=limits(), progress=False, units=[UNIT],
                    build=build)
    seconds = time.monotonic() - start
    after = guarded()
    with open(out / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    return HostileClass(backend, rows, {r.student: r for r in results}, out, (before, after), seconds)


def only(backend: str):
    """Parametrizes a file's tests with one backend's hostile class, under the fixture's own id (so
    they run on the worker that grades it, and the class is graded once)."""
    import pytest

    return pytest.mark.parametrize("hostile_class", [backend], indirect=True, ids=[f"hostile_class-{backend}"])


def forked_probe(payload: dict) -> int:
    """A job's entry point (:class:`autograder.sandbox.Entry`) that tries what a submission's files
    could do to a forked grading job: be imported from the job's folder, and leave a process behind."""
    import importlib
    import subprocess

    try:
        importlib.import_module("planted_by_a_submission")
        planted = True
    except ImportError:
        planted = False
    subprocess.Popen(["setsid", "sleep", payload["sleep"]])  # escapes the job's session
    Path(payload["out"]).write_text(json.dumps({"planted": planted, "own_session": os.getsid(0) == os.getpid()}))
    return 0
