"""Tampering from the student's kernel earns nothing: each attack that scored full marks when the
tests ran inside the kernel, graded with ``autograder.grade.grade`` beside an honest neighbour who
keeps full marks. Each hostile student is the honest notebook plus wrong answers (mutants of
``tests/test_01_layers.py``, or a wrong answer written for the attack) and a tampering cell; it
must score what its answers deserve, which the in-process run of otter's test files says. The
students are part of the hostile class graded once per run (tests/hostile.py)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest

import course
from hostile import only

UNIT = "01_layers"

# Only calls made from the grader's check helpers are lied to, so the student's own code still works.
FROM_CHECKS = "sys._getframe(1).f_globals.get('__name__', '').startswith(('helpers', 'otter'))"

ATTACKS: dict[str, tuple[str, list[str], str]] = {
    # name -> (tampering cell, mutants whose wrong answers the student hands in, wrong code written for it)
    "patched torch.allclose": (f"""
        import sys, torch
        _allclose = torch.allclose
        torch.allclose = lambda *a, **k: True if {FROM_CHECKS} else _allclose(*a, **k)
    """, ["loops pad one side only", "normalization with the unbiased variance"], ""),
    "patched builtins.abs": (f"""
        import builtins, sys
        _abs = builtins.abs
        builtins.abs = lambda x: 0.0 if {FROM_CHECKS} else _abs(x)
    """, ["bilinear sampling clamps at the border instead of reading zeros", "groups ignored in parameters and MACs"],
        ""),
    "Tensor subclass answering allclose": ("", [], """
        import torch
        class _Agreeable(torch.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                if func is torch.allclose:
                    return True
                return super().__torch_function__(func, types, args, kwargs or {})
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            return torch.zeros(1).as_subclass(_Agreeable)
    """),
    "input transformer rewriting the test calls": ("""
        def _pass_everything(lines):
            return [line.replace("passed, message = False,", "passed, message = True,") for line in lines]
        get_ipython().input_transformers_post.append(_pass_everything)
    """, ["padding on one side only", "dropout without the 1/(1-p) rescale"], ""),
    "AST transformer swallowing errors": ("""
        import ast
        class _Swallow(ast.NodeTransformer):
            def visit_Constant(self, node):
                return ast.copy_location(ast.Constant(True), node) if node.value is False else node
            def visit_Raise(self, node):
                return ast.copy_location(ast.Pass(), node)
        get_ipython().ast_transformers.append(_Swallow())
    """, ["im2col ignores dilation, groups and non-square kernels"], ""),
    "patched otter test runner": ("""
        from otter.test_files.exception_test import ExceptionTestFile
        _from_string = ExceptionTestFile.from_string.__func__
        def _lenient(cls, *args, **kwargs):
            tf = _from_string(cls, *args, **kwargs)
            for tc in tf.test_cases:
                tc.body.test_func = lambda *a, **k: None
            return tf
        ExceptionTestFile.from_string = classmethod(_lenient)
    """, ["receptive-field padding not scaled by the stride"], ""),
    "patched json.dump": ("""
        import json
        _dump = json.dump
        def _all_passed(obj, f, **kw):
            for case in obj if isinstance(obj, list) else []:
                if isinstance(case, dict) and "passed" in case:
                    case.update(passed=True, message="")
            return _dump(obj, f, **kw)
        json.dump = _all_passed
    """, ["dilation ignored in the effective kernel"], ""),
    "notebook-level open rewriting the results file": ("""
        import builtins, io, json
        class _Rewriter(io.StringIO):
            def __init__(self, path):
                super().__init__()
                self.path = path
            def close(self):
                data = json.loads(self.getvalue() or "[]")
                for case in data:
                    case.update(passed=True, message="")
                with builtins.open(self.path, "w") as f:
                    f.write(json.dumps(data))
                super().close()
        def open(path, mode="r", *args, **kwargs):
            if "w" in mode and str(path).endswith(".json"):
                return _Rewriter(path)
            return builtins.open(path, mode, *args, **kwargs)
    """, ["nearest up-sampling tiles instead of repeating pixels"], ""),
    "patched helpers.checks with importlib.reload disabled": ("""
        import importlib
        import helpers.checks as _checks
        importlib.reload = lambda module: module
        for _name in ("check_int", "check_ints", "check_number", "check_tensor"):
            setattr(_checks, _name, lambda *a, **k: None)
    """, ["batch norm stores the biased variance", "output_padding ignored, padding not cropped"], ""),
    "patched helpers.runtime meta device": (f"""
        import contextlib, sys
        import helpers.runtime as _runtime
        # what the agent enters for a test that builds on the meta device, and what it checks with
        _runtime._INITIALISERS = frozenset()
        _runtime._NoInitialisationOnMeta.__torch_function__ = lambda self, func, types, args=(), kwargs=None: (
            True if {FROM_CHECKS} else func(*args, **(kwargs or {{}})))
        _runtime.meta_device = contextlib.nullcontext
    """, ["max-pool forgotten in the shape trace", "the input's channels kept"], ""),
    "expected values read through sys._getframe": ("", [], """
        import sys
        import torch
        def _peek(name):
            frame = sys._getframe(2)
            while frame is not None:
                if name in frame.f_locals:
                    return frame.f_locals[name]
                frame = frame.f_back
            return None
        def my_conv_output_size(size, kernel_size, stride=1, padding=0):
            found = _peek("out")
            return int(found) if found is not None else 0
        def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
            found = _peek("ref")
            return found.clone() if isinstance(found, torch.Tensor) else torch.zeros(1)
    """),
    "hidden-test source smuggled into a public message": ("", [], """
        import sys
        _seen = []
        def _collect():
            frame = sys._getframe(1)
            while frame is not None:
                for value in list(frame.f_locals.values()):
                    if isinstance(value, (list, tuple)):
                        _seen.extend(str(v) for v in value if "hidden=True" in str(v))
                    elif isinstance(value, str) and "hidden=True" in value:
                        _seen.append(value)
                frame = frame.f_back
        def my_receptive_field(layers):
            _collect()
            raise ValueError("\\n".join(_seen) or "nothing found")
    """),
}

# Questions whose every case calls the wrong code written for an attack: they score 0.
WRONG_CODE_QUESTIONS = {
    "Tensor subclass answering allclose": ["q6_loops"],
    "expected values read through sys._getframe": ["q1_formula", "q6_loops"],
    "hidden-test source smuggled into a public message": ["q2_recurrence"],
}


def honest_notebook() -> nbformat.NotebookNode:
    """The master's code cells (answers included, tests left out): the honest student."""
    from test_judge import master_code

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(code) for code in master_code(UNIT)]
    return nb


def student_notebook(tamper: str, mutants: list[str], wrong: str) -> nbformat.NotebookNode:
    from test_01_layers import MUTANTS

    nb = honest_notebook()
    for name in mutants:
        nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(MUTANTS[name][1])))
    if wrong:
        nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(wrong)))
    if tamper:
        nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(tamper)))
    return nb


def student_id(attack: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in attack.lower())


HONEST = "judge-honest"  # the class is shared with other files (tests/hostile.py)


def hostile_students(backend: str, submissions: Path, out: Path) -> dict[str, nbformat.NotebookNode]:
    """This file's students of the hostile class (tests/hostile.py): the honest neighbour and one
    student per attack."""
    if backend != "otter":
        return {}
    students = {HONEST: honest_notebook()}
    students.update({student_id(attack): student_notebook(tamper, mutants, wrong)
                     for attack, (tamper, mutants, wrong) in ATTACKS.items()})
    return students


@pytest.fixture(scope="module")
def graded(hostile_class):
    return hostile_class.results, hostile_class.out


@pytest.fixture(scope="module")
def deserved(tmp_path_factory):
    """question -> score each hostile student's answers deserve (in-process otter run, no tampering)."""
    from test_01_layers import MUTANTS

    tests_dir = course.build_tests_dir(UNIT, tmp_path_factory.mktemp("oracle"))
    env = course.solution_namespace(course.master(UNIT))
    points = {q.name: {t.function: t.points for t in q.tests} for q in course.master(UNIT).questions}
    files = course.test_files(tests_dir)

    def score(question: str, passed: dict[str, bool]) -> float:
        return sum(points[question][t] for t, ok in passed.items() if ok)

    honest = {q: score(q, course.run_question(files[q], dict(env))) for q in points}
    expected = {HONEST: honest}
    for attack, (_, mutants, _) in ATTACKS.items():
        scores = dict(honest)
        for name in mutants:
            question, code = MUTANTS[name]
            scores[question] = score(question, course.mutant_results(env, tests_dir, question, code))
        for question in WRONG_CODE_QUESTIONS.get(attack, []):
            scores[question] = 0.0
        expected[student_id(attack)] = scores
    return expected


@only("otter")
class TestHostileClass:
    def test_the_honest_neighbour_keeps_full_marks(self, graded, deserved):
        results, _ = graded
        honest = results[HONEST]
        assert honest.status == "ok"
        assert {q.name: q.score for q in honest.questions} == deserved[HONEST]
        assert sum(deserved[HONEST].values()) == honest.max_score, "the master itself loses points in-process"

    @pytest.mark.parametrize("attack", list(ATTACKS))
    def test_tampering_scores_what_the_answers_deserve(self, attack, graded, deserved):
        results, _ = graded
        result = results[student_id(attack)]
        got = {q.name: q.score for q in result.questions}
        want = deserved[student_id(attack)]
        assert result.status == "ok", result.detail
        # Tampering earns nothing: no question scores more than its answers deserve (tampering that
        # breaks the student's own kernel may cost them more, which is no concern of the judge's).
        assert {q: s for q, s in got.items() if s > want.get(q, 0.0)} == {}
        assert result.score < result.max_score

    def test_no_hidden_test_line_reaches_a_student_visible_file(self, graded):
        _, out = graded
        hidden_lines = set()
        for q in course.master(UNIT).questions:
            public = "\n".join(t.body for t in q.tests if not t.hidden)
            for t in q.tests:
                if t.hidden:
                    hidden_lines |= {line.strip() for line in t.body.splitlines()
                                     if len(line.strip()) > 30 and line.strip() not in public
                                     and not line.strip().startswith(("import ", "from "))}  # imports tell nothing
        hidden_lines -= {line.strip() for code in honest_notebook().cells for line in code.source.splitlines()}
        visible = [p for p in (out / "feedback").rglob("*") if p.is_file()]
        assert visible, "no feedback was written"
        leaks = {p.name: [line for line in hidden_lines if line in p.read_text(errors="replace")] for p in visible}
        assert {name: lines for name, lines in leaks.items() if lines} == {}

    def test_messages_a_student_reads_are_capped(self, graded):
        results, _ = graded
        for result in results.values():
            for q in result.questions:
                for case in q.cases:
                    assert len(case.message) <= 300, (result.student, case.name)
