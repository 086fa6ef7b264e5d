"""Hostile and broken submissions affect only their own row: each runs as its own job under a wall
clock, a per-cell timeout, a memory limit and an output cap (its kernel in bubblewrap where it
works; see tests/test_sandbox.py for what the sandbox hides). The students below are part of the
hostile class graded once per run (tests/hostile.py), with an honest neighbour of their own."""
from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat

from autograder.sandbox import isolation
from hostile import only
from test_sandbox import otter_form

HOSTILE = {
    "kills_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
    "exits": "import os\nos._exit(0)",
    "ignores_interrupts": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
    "prints_forever": "while True:\n    print('spam ' * 200)",
    # Out of memory, then dead: a kernel at its limit dies in whichever later cell allocates (here
    # for sure); the row says memory, the first cause, and keeps what the cells before it earn.
    "allocates_forever": ("chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 28))",
                          "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
    "spawns_processes": ("import subprocess\nsubprocess.Popen(['sleep', '997'])\n"
                         "subprocess.Popen(['setsid', 'sleep', '998'])"),
}
EXPECTED_STATUS = {"kills_parent": "crashed", "exits": "crashed", "ignores_interrupts": "timeout",
                   "prints_forever": "timeout", "allocates_forever": "memory", "spawns_processes": "ok"}
if isolation("auto").isolated:  # in its PID namespace the kernel's parent is an init it cannot kill
    EXPECTED_STATUS["kills_parent"] = "ok"


def hostile_notebook(code: str | tuple[str, ...]) -> nbformat.NotebookNode:
    """The released notebook up to the first question's check, answered, then the hostile cell(s):
    the rest of the unit would only make each job longer."""
    nb = otter_form(None)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in ((code,) if isinstance(code, str) else code)]
    return nb


PREFIX = "safety-"  # the class is shared with other files (tests/hostile.py)
BOTH_BACKENDS = ("allocates_forever", "ignores_interrupts")  # the nbgrader class grades these too (and the honest one)


def hostile_students(backend: str, submissions: Path, out: Path) -> dict[str, nbformat.NotebookNode]:
    """This file's students of the hostile class (tests/hostile.py), an honest neighbour included."""
    names = HOSTILE if backend == "otter" else BOTH_BACKENDS
    students = {PREFIX + name: hostile_notebook(HOSTILE[name]) for name in names}
    students[PREFIX + "honest"] = hostile_notebook("print('hello')")
    return students


def rows_of(hostile_class) -> dict[str, dict[str, str]]:
    return {name[len(PREFIX):]: row for name, row in hostile_class.rows.items() if name.startswith(PREFIX)}


@only("otter")
def test_every_hostile_submission_gets_its_row_and_status(hostile_class):
    rows = rows_of(hostile_class)
    assert {name: rows[name]["status"] for name in HOSTILE} == EXPECTED_STATUS


def test_honest_neighbour_is_unaffected(hostile_class):  # both backends
    rows = rows_of(hostile_class)
    assert rows["honest"]["status"] == "ok"
    assert float(rows["honest"]["score"]) > 0  # the answered question still scores


@only("otter")
def test_partial_credit_survives_an_interrupted_cell(hostile_class):
    rows = rows_of(hostile_class)
    assert float(rows["prints_forever"]["score"]) == float(rows["honest"]["score"])


def test_a_kernel_that_dies_after_running_out_of_memory_is_graded_memory(hostile_class):
    """Both backends name the first cause and credit the cells before it (they ran alone again)."""
    rows = rows_of(hostile_class)
    starved = hostile_class.results[PREFIX + "allocates_forever"]
    assert rows["allocates_forever"]["status"] == "memory", starved.detail
    assert starved.failed_reason == "it ran out of memory" and starved.partial_rerun
    assert float(rows["allocates_forever"]["score"]) == float(rows["honest"]["score"]) > 0


def test_a_cell_that_ignores_interrupts_ends_its_run_before_the_wall_clock(hostile_class):
    """Both backends give an interrupted cell a few seconds to stop, then end the run (it used to
    keep the kernel busy, and the job a core, until the wall clock) and credit the cells before it."""
    rows = rows_of(hostile_class)
    stuck = hostile_class.results[PREFIX + "ignores_interrupts"]
    assert stuck.status == "timeout" and stuck.detail.startswith("a cell did not stop when interrupted"), stuck.detail
    assert "did not stop when interrupted" in stuck.failed_reason and stuck.partial_rerun
    assert float(rows["ignores_interrupts"]["score"]) == float(rows["honest"]["score"]) > 0


@only("otter")
def test_spawned_processes_are_killed(hostile_class):
    out = subprocess.run(["pgrep", "-f", "sleep 99[78]"], capture_output=True, text=True).stdout
    assert out.strip() == ""
