"""Hostile and broken submissions affect only their own row: each runs as its own job under a wall
clock, a per-cell timeout, a memory limit and an output cap (its kernel in bubblewrap where it
works; see tests/test_sandbox.py for what the sandbox hides)."""
from __future__ import annotations

import csv
import subprocess
import time

import nbformat
import pytest

from autograder import config
from autograder.grade import grade
from autograder.sandbox import Limits, isolation

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


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    subs = root / "submissions"
    for name, code in HOSTILE.items():
        (subs / name).mkdir(parents=True)
        nbformat.write(hostile_notebook(code), subs / name / "01_layers.ipynb")
    (subs / "honest").mkdir()
    nbformat.write(hostile_notebook("print('hello')"), subs / "honest" / "01_layers.ipynb")
    # Short limits keep the test quick; the honest notebook's cells need a few seconds each even
    # on a loaded machine.
    limits = Limits(wall_seconds=90, cell_seconds=15, memory_bytes=6 << 30)
    start = time.monotonic()
    grade(subs, root / "out", jobs=2, limits=limits, progress=False, units=["01_layers"])
    with open(root / "out" / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    return rows, time.monotonic() - start


def test_every_hostile_submission_gets_its_row_and_status(graded):
    rows, _ = graded
    assert {name: rows[name]["status"] for name in HOSTILE} == EXPECTED_STATUS


def test_honest_neighbour_is_unaffected(graded):
    rows, _ = graded
    assert rows["honest"]["status"] == "ok"
    assert float(rows["honest"]["score"]) > 0  # the answered question still scores


def test_partial_credit_survives_an_interrupted_cell(graded):
    rows, _ = graded
    assert float(rows["prints_forever"]["score"]) == float(rows["honest"]["score"])


def test_spawned_processes_are_killed(graded):
    out = subprocess.run(["pgrep", "-f", "sleep 99[78]"], capture_output=True, text=True).stdout
    assert out.strip() == ""
