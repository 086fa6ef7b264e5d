"""Hostile and broken submissions affect only their own row: each runs as its own job under a wall
clock, a per-cell timeout, a memory limit and an output cap (its kernel in bubblewrap where it
works; see tests/test_sandbox.py for what the sandbox hides). The students below are part of the
hostile class graded once per run (tests/hostile.py), with an honest neighbour of their own."""
from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat

from autograder import config
from autograder.sandbox import isolation
from hostile import only

HOSTILE = {
    "kills_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
    "exits": "import os\nos._exit(0)",
    "ignores_interrupts": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
    "prints_forever": "while True:\n    print('spam ' * 200)",
    "allocates_forever": "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 28))",
    "spawns_processes": ("import subprocess\nsubprocess.Popen(['sleep', '997'])\n"
                         "subprocess.Popen(['setsid', 'sleep', '998'])"),
}
EXPECTED_STATUS = {"kills_parent": "crashed", "exits": "crashed", "ignores_interrupts": "timeout",
                   "prints_forever": "timeout", "allocates_forever": "memory", "spawns_processes": "ok"}
if isolation("auto").isolated:  # in its PID namespace the kernel's parent is an init it cannot kill
    EXPECTED_STATUS["kills_parent"] = "ok"


def hostile_notebook(code: str) -> nbformat.NotebookNode:
    """The released notebook with the first question answered, then a hostile cell."""
    nb = nbformat.read(config.NOTEBOOKS / "01_layers.ipynb", as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if "otter_answer_cell" in c.metadata.get("tags", []))
    nb.cells[first].source = ("def my_conv_output_size(size, kernel_size, stride=1, padding=0):\n"
                              "    return (size - kernel_size + 2 * padding) // stride + 1\n")
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(code))
    return nb


PREFIX = "safety-"  # the class is shared with other files (tests/hostile.py)
pytestmark = only("otter")


def hostile_students(backend: str, submissions: Path, out: Path) -> dict[str, nbformat.NotebookNode]:
    """This file's students of the hostile class (tests/hostile.py), an honest neighbour included."""
    if backend != "otter":
        return {}
    students = {PREFIX + name: hostile_notebook(code) for name, code in HOSTILE.items()}
    students[PREFIX + "honest"] = hostile_notebook("print('hello')")
    return students


def rows_of(hostile_class) -> dict[str, dict[str, str]]:
    return {name[len(PREFIX):]: row for name, row in hostile_class.rows.items() if name.startswith(PREFIX)}


def test_every_hostile_submission_gets_its_row_and_status(hostile_class):
    rows = rows_of(hostile_class)
    assert {name: rows[name]["status"] for name in HOSTILE} == EXPECTED_STATUS


def test_honest_neighbour_is_unaffected(hostile_class):
    rows = rows_of(hostile_class)
    assert rows["honest"]["status"] == "ok"
    assert float(rows["honest"]["score"]) > 0  # the answered question still scores


def test_partial_credit_survives_an_interrupted_cell(hostile_class):
    rows = rows_of(hostile_class)
    assert float(rows["prints_forever"]["score"]) == float(rows["honest"]["score"])


def test_spawned_processes_are_killed(hostile_class):
    out = subprocess.run(["pgrep", "-f", "sleep 99[78]"], capture_output=True, text=True).stdout
    assert out.strip() == ""
