"""Integrity flags and similarity: every rule fires on a student who does it, never on an honest
student (the released notebooks filled with the masters' answers), and a flag never changes a score."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder import config, integrity
from autograder.demo.make_demo import Release

UNITS = config.UNITS


@dataclass
class Sub:  # the fields of autograder.submissions.Submission that integrity reads
    student: str
    unit: str
    path: Path
    status: str = "ok"


@pytest.fixture(scope="module")
def releases() -> dict[str, Release]:
    return {u: Release(u) for u in UNITS}


def _scan(release: Release, student: str, overrides: dict[str, str] | None = None) -> list[integrity.Flag]:
    nb = release.filled(overrides or {})
    return integrity.scan_notebook(nb, release.nb, student, release.unit)


@pytest.mark.parametrize("unit", UNITS)
def test_honest_students_raise_no_flag(unit, releases):
    assert _scan(releases[unit], "honest") == []


def test_the_masters_raise_no_flag():
    """The solutions themselves (their answers, markers left in) are honest code."""
    from autograder.master import read_master

    for unit in UNITS:
        master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
        tests = {t.cell_index for q in master.questions for t in q.tests}
        nb = master.copy()
        nb.cells = [c for i, c in enumerate(nb.cells) if c.cell_type != "raw" and i not in tests]
        released = nbformat.read(config.NOTEBOOKS / f"{unit}.ipynb", as_version=4)
        assert integrity.scan_notebook(nb, released, "master", unit) == [], unit


# rule -> (unit, question, answer code that deserves a look)
HOSTILE: dict[str, tuple[str, str, str]] = {
    "monkeypatch": ("01_layers", "q1_formula", "import torch\ntorch.allclose = lambda *a, **k: True\n"
                    "def my_conv_output_size(size, kernel_size, stride=1, padding=0):\n    return 0\n"),
    "ipython-hook": ("01_layers", "q1_formula", "get_ipython().ast_transformers.append(object())\n"),
    "introspection": ("01_layers", "q1_formula", "import sys\nframe = sys._getframe(1)\n"),
    "private-torch": ("01_layers", "q6_loops", "def conv2d_loops(x, weight, bias=None, stride=1, padding=0):\n"
                      "    with torch._C._DisableTorchDispatch():\n        return F.conv2d(x, weight, bias, stride, padding)\n"),
    "thread-or-process": ("01_layers", "q6_loops", "import threading\nthreading.Thread(target=print).start()\n"),
    "file-outside": ("01_layers", "q1_formula", "secret = open('/etc/passwd').read()\n"),
    "comparison-override": ("01_layers", "q1_formula", "class Anything(int):\n    def __eq__(self, other):\n"
                            "        return True\nmy_conv_output_size = lambda *a, **k: Anything(0)\n"),
    "reference-code": ("01_layers", "q6_loops", "import types\nfrom helpers import layers\n"
                       "conv2d_loops = types.FunctionType(layers.conv2d_naive.__code__, layers.conv2d_naive.__globals__)\n"),
    "by-hand-computed": ("02_blocks", "q2_numbers", "import helpers\nout_channels_3a = 256\nnaive_out_channels = 416\n"
                         "naive_macs = helpers.count_macs(naive, (192, 28, 28))\n"),
}


@pytest.mark.parametrize("rule", sorted(HOSTILE))
def test_each_rule_flags_its_student(rule, releases):
    unit, question, code = HOSTILE[rule]
    flags = _scan(releases[unit], "hostile", {question: code})
    assert {f.rule for f in flags} == {rule}, flags
    flag = next(f for f in flags if f.rule == rule)
    assert flag.question == question and flag.cell == releases[unit].cell_of(question) and flag.excerpt


def test_a_copied_reference_routine_is_flagged(releases):
    """The source of helpers.layers.conv2d_naive pasted under other names is the reference's code."""
    import ast
    import inspect
    import textwrap

    from helpers import layers

    tree = ast.parse(textwrap.dedent(inspect.getsource(layers.conv2d_naive)))
    tree.body[0].decorator_list, tree.body[0].name = [], "conv2d_loops"
    source = ast.unparse(tree).replace("out", "result")  # pasted, and the locals renamed
    flags = _scan(releases["01_layers"], "copier", {"q6_loops": "from helpers._args import to_pair\n" + source})
    assert [f.rule for f in flags] == ["reference-code"]


def test_every_rule_is_documented():
    assert set(HOSTILE) == set(integrity.RULES)


def test_csv_and_similarity_over_a_small_class(tmp_path, releases):
    """integrity.csv has one row per flag and the header the class page reads; similarity.html lists
    the copier beside the student copied, not the two who wrote their own answers."""
    release = releases["02_blocks"]
    own = {"q1_vgg_params": "def stack_params(channels, kernel_size, num_layers, bias=False):\n"
                            "    per_layer = channels * channels * kernel_size ** 2\n"
                            "    if bias:\n        per_layer += channels\n    return per_layer * num_layers\n"}
    students = {"ann": release.filled(), "bob": release.filled(), "cat": release.filled(own),
                "dan": release.filled(HOSTILE_BY_HAND)}
    subs = []
    for name, nb in students.items():
        (tmp_path / "in" / name).mkdir(parents=True)
        path = tmp_path / "in" / name / "02_blocks.ipynb"
        nbformat.write(nb, path)
        subs.append(Sub(name, "02_blocks", path))
    out = tmp_path / "out"
    out.mkdir()
    flags, pairs = integrity.write_integrity(subs, out)
    rows = integrity.integrity_rows(out)
    assert [r["student"] for r in rows] == ["dan"] and rows[0]["rule"] == "by-hand-computed"
    with open(out / integrity.INTEGRITY_FILE, newline="") as f:
        assert next(csv.reader(f)) == list(integrity.FIELDS)
    html = (out / integrity.SIMILARITY_FILE).read_text()
    assert ("ann", "bob") in {(p.student_a, p.student_b) for p in pairs}
    assert all("cat" not in (p.student_a, p.student_b) or p.similarity < 1 for p in pairs)
    assert "ann" in html and "bob" in html


HOSTILE_BY_HAND = {"q3_costs": "import helpers\nfrom torchvision.models import resnet50\n"
                               "macs_basic_256 = helpers.count_macs(resnet50().layer1[0], (256, 56, 56))\n"
                               "macs_bottleneck_256 = macs_v1 = macs_v1_5 = 0\n"}
