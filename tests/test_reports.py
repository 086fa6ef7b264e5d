"""The result data model and every report written from results, on hand-built results.

The key promise: a student's feedback page shows public test results and only a count of hidden
ones - hidden names and messages (which may hold expected values) never reach it.
"""
from __future__ import annotations

import csv
import dataclasses
import html
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.reports import (
    GRADES_HEADER,
    QUESTIONS_HEADER,
    feedback_html,
    format_score,
    format_table,
    write_feedback,
    write_grades_csv,
    write_questions_csv,
    write_reports,
    write_summary_png,
)
from autograder.results import STATUSES, CaseResult, QuestionResult, UnitResult

HIDDEN_MESSAGE = "SECRET-EXPECTED-42"
HIDDEN_NAME = "test_hidden_secret"
PUBLIC_FAILURE = "conv output shape is (1, 3, 8, 8), expected (1, 4, 8, 8)"
SCRIPT_CELL = "print('<script>alert(1)</script>')"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _case(name: str, question: str, passed: bool, *, hidden: bool = False, message: str = "") -> CaseResult:
    return CaseResult(
        name=name, question=question, points=1.0 if passed else 0.0, max_points=1.0,
        hidden=hidden, passed=passed, message="" if passed else message,
    )


def ok_result(student: str = "alice", unit: str = "01_layers") -> UnitResult:
    """q1: public pass + two hidden (one fails with a secret message); q2: public fail + hidden pass."""
    q1 = QuestionResult("q1", 2.0, 3.0, [
        _case("q1_public", "q1", True),
        _case(HIDDEN_NAME, "q1", False, hidden=True, message=HIDDEN_MESSAGE),
        _case("test_hidden_other", "q1", True, hidden=True),
    ])
    q2 = QuestionResult("q2", 0.5, 2.0, [
        _case("q2_public", "q2", False, message=PUBLIC_FAILURE),
        CaseResult("test_hidden_half", "q2", 0.5, 1.0, True, True, ""),
    ])
    return UnitResult(
        student=student, unit=unit, status="ok", score=2.5, max_score=5.0, questions=[q1, q2],
        code_cells=["import torch", SCRIPT_CELL], warnings=["graded 'Copy of 01_layers.ipynb' (renamed by Colab)"],
        seconds=12.5,
    )


def full_marks_result(student: str, unit: str = "01_layers") -> UnitResult:
    q1 = QuestionResult("q1", 3.0, 3.0, [_case("q1_public", "q1", True)])
    q2 = QuestionResult("q2", 2.0, 2.0, [_case("q2_public", "q2", True)])
    return UnitResult(student, unit, "ok", 5.0, 5.0, [q1, q2], ["x = 1"])


def bare_result(student: str, unit: str, status: str) -> UnitResult:
    return UnitResult(student, unit, status, 0.0, 5.0, detail=f"instructor-only detail for {status}")


@pytest.fixture
def class_results() -> list[UnitResult]:
    """A small class, deliberately out of order: the writers must sort."""
    return [
        bare_result("carol", "02_blocks", "missing"),
        full_marks_result("bob", "02_blocks"),
        ok_result("alice", "02_blocks"),
        bare_result("bob", "01_layers", "timeout"),
        ok_result("alice", "01_layers"),
        bare_result("carol", "01_layers", "unreadable"),
    ]


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


# --- data model ------------------------------------------------------------------------------


def test_unit_result_survives_a_json_round_trip():
    original = ok_result()
    restored = UnitResult.from_dict(json.loads(json.dumps(original.to_dict())))
    assert restored == original
    assert isinstance(restored.questions[0].cases[0], CaseResult)


def test_json_integer_scores_come_back_as_floats():
    data = full_marks_result("bob").to_dict()
    data["score"], data["questions"][0]["score"] = 5, 3  # what another JSON writer might send
    restored = UnitResult.from_dict(data)
    assert isinstance(restored.score, float) and isinstance(restored.questions[0].score, float)


def test_unknown_status_is_rejected():
    with pytest.raises(ValueError, match="unknown status"):
        UnitResult("alice", "01_layers", "finished", 0.0, 5.0)


@pytest.mark.parametrize("value, text", [(3.0, "3"), (2.5, "2.5"), (0.1 + 0.2, "0.3"), (0.0, "0"), (-0.0, "0")])
def test_scores_are_formatted_without_spurious_decimals(value, text):
    assert format_score(value) == text


# --- CSV -------------------------------------------------------------------------------------


def test_grades_csv_has_one_sorted_row_per_result_whatever_the_status(tmp_path, class_results):
    path = tmp_path / "grades.csv"
    write_grades_csv(class_results, path)
    assert _read_csv(path) == [
        list(GRADES_HEADER),
        ["alice", "01_layers", "2.5", "5", "ok"],
        ["alice", "02_blocks", "2.5", "5", "ok"],
        ["bob", "01_layers", "0", "5", "timeout"],
        ["bob", "02_blocks", "5", "5", "ok"],
        ["carol", "01_layers", "0", "5", "unreadable"],
        ["carol", "02_blocks", "0", "5", "missing"],
    ]
    assert GRADES_HEADER == ("student", "unit", "score", "max_score", "status")


def test_grades_csv_orders_units_by_course_order_not_alphabet(tmp_path):
    # "03_architectures" < "10_extra" < "04_efficiency" would be wrong; unknown units go last.
    results = [bare_result("a", u, "missing") for u in ("10_extra", "04_efficiency", "03_architectures")]
    path = tmp_path / "grades.csv"
    write_grades_csv(results, path)
    assert [row[1] for row in _read_csv(path)[1:]] == ["03_architectures", "04_efficiency", "10_extra"]


def test_questions_csv_has_a_row_per_question_and_none_for_results_without_questions(tmp_path, class_results):
    path = tmp_path / "questions.csv"
    write_questions_csv(class_results, path)
    assert _read_csv(path) == [
        list(QUESTIONS_HEADER),
        ["alice", "01_layers", "q1", "2", "3"],
        ["alice", "01_layers", "q2", "0.5", "2"],
        ["alice", "02_blocks", "q1", "2", "3"],
        ["alice", "02_blocks", "q2", "0.5", "2"],
        ["bob", "02_blocks", "q1", "3", "3"],
        ["bob", "02_blocks", "q2", "2", "2"],
    ]
    assert QUESTIONS_HEADER == ("student", "unit", "question", "score", "max_score")


# --- feedback --------------------------------------------------------------------------------


def test_feedback_shows_public_failure_message_and_scores(tmp_path):
    path = tmp_path / "fb" / "alice" / "01_layers.html"
    write_feedback(ok_result(), path)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert PUBLIC_FAILURE in page
    assert "Total: 2.5 / 5" in page
    assert '<td><a href="#q2">q2</a></td><td>0.5</td><td>2</td>' in page


def test_feedback_never_contains_hidden_names_or_messages():
    page = feedback_html(ok_result())
    for secret in (HIDDEN_MESSAGE, HIDDEN_NAME, "test_hidden_other", "test_hidden_half"):
        assert secret not in page


def test_feedback_counts_hidden_cases_per_question():
    page = feedback_html(ok_result())
    assert "hidden tests: 1 of 2 passed" in page  # q1
    assert "hidden tests: 1 of 1 passed" in page  # q2


def test_feedback_escapes_the_students_code():
    page = feedback_html(ok_result())
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert "<pre>import torch</pre>" in page


def test_feedback_escapes_names_and_messages():
    result = ok_result(student="<b>mallory</b>")
    result.questions[1].cases[0].message = "expected <tensor> & got <None>"
    page = feedback_html(result)
    assert "<b>mallory</b>" not in page and "&lt;b&gt;mallory&lt;/b&gt;" in page
    assert "expected &lt;tensor&gt; &amp; got &lt;None&gt;" in page


def test_feedback_explains_a_timeout():
    page = feedback_html(bare_result("bob", "01_layers", "timeout"))
    assert "Status: timeout" in page
    assert "infinite loop" in page


@pytest.mark.parametrize("status, advice", [
    ("missing", "hand in 01_layers.ipynb"),
    ("unreadable", "not a PDF"),
    ("ambiguous", "exactly one notebook"),
])
def test_feedback_for_an_unrun_notebook_says_what_to_fix(tmp_path, status, advice):
    path = tmp_path / "page.html"
    write_feedback(bare_result("carol", "01_layers", status), path, questions_max={"q1": 3.0, "q2": 2.0})
    page = path.read_text(encoding="utf-8")
    assert f"Status: {status}" in page
    assert advice in page
    assert "<td>q1</td><td>not graded</td><td>3</td>" in page  # what there was to earn


def test_feedback_leaves_out_the_instructor_detail():
    result = bare_result("bob", "01_layers", "crashed")
    result.detail = f"AssertionError in {HIDDEN_NAME}: {HIDDEN_MESSAGE}"
    page = feedback_html(result)
    assert HIDDEN_MESSAGE not in page and HIDDEN_NAME not in page
    assert "Status: crashed" in page


def test_every_status_has_a_feedback_explanation():
    for status in STATUSES:
        assert f"Status: {status}</strong> - " in feedback_html(bare_result("x", "01_layers", status))


# --- summary figure --------------------------------------------------------------------------


def _assert_png(path: Path) -> None:
    """A real PNG with something drawn on it (a blank 6x3 inch figure is about 1.5 kB, all white)."""
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 3_000
    pixels = imread(path)
    assert pixels.min() < 0.5  # some dark ink: text or marks, not an empty canvas


def test_summary_png_for_a_class(tmp_path, class_results):
    path = tmp_path / "summary.png"
    write_summary_png(class_results, path)
    _assert_png(path)


@pytest.mark.parametrize("results", [
    pytest.param([ok_result()], id="one-student-one-unit"),
    pytest.param([bare_result("a", "01_layers", "missing"), bare_result("b", "02_blocks", "missing")], id="all-missing"),
    pytest.param([bare_result("a", "01_layers", "timeout")], id="graded-without-questions"),
    pytest.param([], id="no-results"),
])
def test_summary_png_for_degenerate_inputs(tmp_path, results):
    path = tmp_path / "summary.png"
    write_summary_png(results, path)
    _assert_png(path)


# --- terminal table --------------------------------------------------------------------------


def test_table_has_score_max_and_status_for_every_row_problems_first(class_results):
    lines = format_table(class_results).splitlines()
    assert lines[0].split() == ["student", "unit", "score", "max", "status", "note"]
    rows = [line.split()[:5] for line in lines[2:8]]
    # bob's timeout first, then the unrun notebooks, then the half-marked alice rows, then full marks.
    assert rows[0] == ["bob", "01_layers", "0", "5", "timeout"]
    assert {tuple(r) for r in rows[1:3]} == {("carol", "01_layers", "0", "5", "unreadable"),
                                              ("carol", "02_blocks", "0", "5", "missing")}
    assert rows[-1] == ["bob", "02_blocks", "5", "5", "ok"]
    assert lines[-1] == "6 results: ok 3, timeout 1, unreadable 1, missing 1"


def test_table_ends_with_a_verdict_per_unit(class_results):
    lines = format_table(class_results).splitlines()
    # 01_layers: alice 2.5, bob 0 (timeout ran), carol unreadable (not run) -> mean 1.25, median 1.25.
    assert "01_layers: mean 1.2 / 5, median 1.25 / 5 over 2 notebooks run; 2 of 3 need a look" in lines
    assert "02_blocks: mean 3.8 / 5, median 3.75 / 5 over 2 notebooks run; 1 of 3 need a look" in lines


def test_table_names_the_cell_that_stopped_a_notebook():
    result = bare_result("gus", "01_layers", "crashed")
    result.failed_cell, result.failed_reason, result.partial_rerun = 13, "the kernel died while it ran", True
    assert "cell 13: the kernel died while it ran (scored what ran before it)" in format_table([result])


# --- everything ------------------------------------------------------------------------------


def test_write_reports_writes_every_file_and_returns_the_table(tmp_path, class_results):
    table = write_reports(class_results, tmp_path / "out")
    out = tmp_path / "out"
    assert table == format_table(class_results)
    assert len(_read_csv(out / "grades.csv")) == 1 + len(class_results)
    assert len(_read_csv(out / "questions.csv")) == 1 + 6
    _assert_png(out / "summary.png")
    pages = sorted(p.relative_to(out).as_posix() for p in (out / "feedback").rglob("*.html"))
    assert pages == [f"feedback/{r.student}/{r.unit}.html" for r in sorted(class_results, key=lambda r: (r.student, r.unit))]
    # The missing student's page lists the unit's questions, learnt from the others' results.
    assert "<td>q2</td><td>not graded</td><td>2</td>" in (out / "feedback/carol/02_blocks.html").read_text()
    for page in (out / "feedback").rglob("*.html"):
        assert HIDDEN_MESSAGE not in page.read_text() and HIDDEN_NAME not in page.read_text()


def test_write_reports_keeps_feedback_inside_the_output_folder(tmp_path):
    write_reports([bare_result("../../escape", "01_layers", "missing")], tmp_path / "out")
    pages = list((tmp_path / "out" / "feedback").rglob("*.html"))
    assert len(pages) == 1 and len(list(tmp_path.rglob("*.html"))) == 2  # and index.html
    assert (tmp_path / "out" / "feedback") in pages[0].parents


# --- feedback a student reads once ------------------------------------------------------------


def _mistaken_result(student: str, *, mistake: str = "padding on one side only", hidden_mistake: str = "",
                     unanswered: bool = False) -> UnitResult:
    """01_layers with the master's ids: q1_formula fails (public case names ``mistake``, hidden
    case names ``hidden_mistake`` with an expected value in its message); q1_shapes full marks."""
    formula = QuestionResult("q1_formula", 0.0, 5.0, [
        CaseResult("test_public", "q1_formula", 0.0, 2.0, False, False,
                   f"CheckFailed: size: got 30, expected 31: {mistake}" if mistake else "TypeError: float() argument",
                   mistake),
        CaseResult(HIDDEN_NAME, "q1_formula", 0.0, 3.0, True, False, "", hidden_mistake),
    ])
    shapes = QuestionResult("q1_shapes", 4.0, 4.0, [CaseResult("test_shapes", "q1_shapes", 4.0, 4.0, False, True, "")])
    return UnitResult(student, "01_layers", "ok", 4.0, 9.0, [formula, shapes],
                      code_cells=["import helpers", "x = 1", 'grader.check("q1_formula")'],
                      unanswered=["q1_formula"] if unanswered else [])


def test_feedback_names_questions_as_the_notebook_does():
    page = feedback_html(_mistaken_result("ada"))
    assert "Question 1.1" in page and "Question 1.2" in page  # from the master's markdown
    assert ">q1_formula<" not in page


def test_question_titles_come_from_the_master():
    from autograder.reports import question_titles

    titles = question_titles("01_layers")
    assert titles["q1_formula"] == "Question 1.1"
    assert titles["q4_bilinear"] == "Question 4.1"
    assert question_titles("99_nothing") == {}


def test_feedback_says_not_answered_yet_instead_of_the_error():
    page = feedback_html(_mistaken_result("cleo", mistake="", unanswered=True))
    assert "Not answered yet" in page
    assert "TypeError" not in page


def test_feedback_shows_each_failing_message_once():
    result = _mistaken_result("dev")
    twin = dataclasses.replace(result.questions[0].cases[0], name="test_public_twin")
    result.questions[0].cases.append(twin)
    page = feedback_html(result)
    assert page.count("got 30, expected 31") == 1
    assert "(2 checks)" in page


def test_feedback_keeps_hidden_mistakes_and_messages_out():
    result = _mistaken_result("dev", hidden_mistake="SECRET-MISTAKE")
    result.questions[0].cases[1].message = HIDDEN_MESSAGE
    page = feedback_html(result)
    assert "SECRET-MISTAKE" not in page and HIDDEN_MESSAGE not in page and HIDDEN_NAME not in page
    assert "hidden tests: 0 of 1 passed" in page


def test_feedback_names_the_cell_that_stopped_the_notebook_and_what_counts():
    result = _mistaken_result("gus")
    result.status, result.failed_cell, result.partial_rerun = "crashed", 2, True
    result.failed_reason = "the kernel died while it ran"
    page = feedback_html(result)
    assert 'stopped at <a href="#cell-2">cell 2</a>' in page
    assert "the kernel died while it ran" in page
    assert "run again in a fresh kernel" in page
    assert '<h3 id="cell-2" class="failed">Cell 2 - your notebook stopped here</h3>' in page
    # Question 1.1's check comes after the failed cell: "not reached", not its failure message.
    assert "Not reached" in page and "got 30" not in page
    assert page.count("No test case was reported") == 0


def test_feedback_page_fetches_nothing():
    page = feedback_html(_mistaken_result("ada"))
    assert "<script" not in page and "http://" not in page and "https://" not in page


# --- class page -------------------------------------------------------------------------------


@pytest.fixture
def mistakes_class() -> list[UnitResult]:
    """Three students share the public mistake; two of them also the hidden one; one blank."""
    return [
        _mistaken_result("ada", hidden_mistake="stride updated before the size"),
        _mistaken_result("ben", hidden_mistake="stride updated before the size"),
        _mistaken_result("dev"),
        _mistaken_result("cleo", mistake="", unanswered=True),
        full_marks_result("ivan"),
    ]


def test_mistakes_are_counted_per_question_hidden_ones_included(mistakes_class):
    from autograder.reports import question_mistakes

    counts = question_mistakes(mistakes_class)[("01_layers", "q1_formula")]
    assert counts == {"padding on one side only": 3, "stride updated before the size": 2, "not answered yet": 1}


def test_index_links_every_feedback_page_and_counts_mistakes(tmp_path, mistakes_class):
    out = tmp_path / "out"
    write_reports(mistakes_class, out)
    page = (out / "index.html").read_text(encoding="utf-8")
    for r in mistakes_class:
        assert f'href="feedback/{r.student}/{r.unit}.html"' in page
        assert (out / "feedback" / r.student / f"{r.unit}.html").exists()
    assert '<span class="mistake">padding on one side only</span>: <span class="count">3</span>' in page
    assert '<span class="mistake">stride updated before the size</span>: <span class="count">2</span>' in page
    assert HIDDEN_MESSAGE not in page and "expected 31" not in page  # names only, never a value
    assert "background:hsl(120" in page and "background:hsl(0," in page  # full and zero marks coloured
    assert "No integrity check was run." in page
    assert "<script" not in page


def test_index_shows_integrity_flags_when_present(tmp_path, mistakes_class):
    from autograder.reports import write_index

    out = tmp_path / "out"
    write_reports(mistakes_class, out)
    (out / "integrity.csv").write_text("student,unit,cell,flag\nben,01_layers,3,calls F.conv2d\n")
    (out / "similarity.html").write_text("<html></html>")
    (out / "similarity.csv").write_text("unit,student_a,student_b,similarity\n01_layers,ada,ben,0.93\n")
    page = write_index(mistakes_class, out).read_text(encoding="utf-8")
    assert "calls F.conv2d" in page and 'href="similarity.html"' in page
    assert "<td>ada</td><td>ben</td><td>0.93</td>" in page and "1 pair(s)" in page


def test_question_means_leave_out_crashed_and_blank_notebooks(mistakes_class):
    from autograder.reports import question_means

    crashed = _mistaken_result("gus")
    crashed.status = "crashed"
    crashed.questions[1].score = 0.0
    means = {q: (m, n) for _, q, m, n in question_means([*mistakes_class, crashed])}
    assert means["q1_shapes"] == (1.0, 4)  # gus's crash does not drag it down
    assert means["q1_formula"] == (0.0, 3)  # cleo's blank answer is not counted


def test_summary_png_draws_mistakes(tmp_path, mistakes_class):
    path = tmp_path / "summary.png"
    write_summary_png(mistakes_class, path)
    _assert_png(path)


# --- regrade ------------------------------------------------------------------------------------


def test_regrading_one_student_replaces_only_their_rows(tmp_path, class_results):
    from autograder.reports import merge_results, read_results

    out = tmp_path / "out"
    write_reports(class_results, out)
    fixed = full_marks_result("bob", "01_layers")
    merged = merge_results(read_results(out), [fixed])
    write_reports(merged, out)
    rows = _read_csv(out / "grades.csv")
    assert ["bob", "01_layers", "5", "5", "ok"] in rows and len(rows) == 1 + len(class_results)
    assert ["alice", "01_layers", "2.5", "5", "ok"] in rows
    assert "Status: ok" in (out / "feedback/bob/01_layers.html").read_text()


def test_regrading_one_question_keeps_the_others():
    from autograder.reports import merge_results

    old = ok_result("alice")
    new = ok_result("alice")
    new.questions[1] = QuestionResult("q2", 2.0, 2.0, [_case("q2_public", "q2", True)])
    new.questions[0] = QuestionResult("q1", 0.0, 3.0, [])  # not asked for: must not be taken
    (merged,) = merge_results([old], [new], questions=["q2"])
    assert [q.score for q in merged.questions] == [2.0, 2.0]
    assert merged.score == 4.0


# --- credit for what ran ------------------------------------------------------------------------


@pytest.mark.parametrize("source, placeholder", [
    ("x = ...", True),
    ("def f(a):\n    ...", True),
    ("def f(a):\n    raise NotImplementedError()", True),
    ("y = x[..., 0]", False),
    ("x = 3", False),
    ("def f(a):\n    return a", False),
    ("not python (", False),
])
def test_placeholders_are_told_from_answers(source, placeholder):
    from autograder.credit import holds_placeholder

    assert holds_placeholder(source) is placeholder


def _otter_notebook(*cells: tuple[str, str]):
    """('answer' | 'code', source) cells in otter's student form."""
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        if kind == "answer":
            cell.metadata["tags"] = ["otter_answer_cell"]
        nb.cells.append(cell)
    return nb


def test_unanswered_questions_are_those_whose_answers_all_hold_placeholders(tmp_path):
    from autograder.credit import unanswered_questions

    nb = _otter_notebook(("code", "import helpers"), ("answer", "a = ..."), ("code", 'grader.check("q1")'),
                         ("answer", "b = 2"), ("answer", "c = ..."), ("code", 'grader.check("q2")'))
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert unanswered_questions(path) == ["q1"]
    assert unanswered_questions(tmp_path / "absent.ipynb") == []


def test_cut_before_empties_the_failed_cell_and_later_code_but_keeps_checks():
    from autograder.credit import cut_before

    nb = _otter_notebook(("code", "import helpers"), ("answer", "a = 1"), ("code", 'grader.check("q1")'),
                         ("answer", "boom()"), ("code", 'grader.check("q2")'), ("code", "after = 1"))
    cut = cut_before(nb, 4)
    assert [c.source for c in cut.cells] == ["import helpers", "a = 1", 'grader.check("q1")', "",
                                             'grader.check("q2")', ""]
    assert nb.cells[3].source == "boom()"  # the original is untouched


def test_credit_for_what_ran_takes_the_cut_copys_scores_and_keeps_the_status(tmp_path):
    from autograder.credit import credit_for_what_ran

    nb = _otter_notebook(("answer", "a = 1"), ("code", 'grader.check("q1")'), ("answer", "die()"))
    path = tmp_path / "01_layers.ipynb"
    nbformat.write(nb, path)
    crashed = UnitResult("gus", "01_layers", "crashed", 0.0, 5.0, code_cells=["a = 1", 'grader.check("q1")', "die()"],
                         detail="the kernel died", failed_cell=3, failed_reason="the kernel died while it ran")
    seen = []

    def grade_copy(copy_path: Path) -> UnitResult:
        seen.append([c.source for c in nbformat.read(copy_path, as_version=4).cells])
        return full_marks_result("gus")

    result = credit_for_what_ran(path, crashed, grade_copy)
    assert seen == [["a = 1", 'grader.check("q1")', ""]]
    assert (result.status, result.score, result.partial_rerun, result.failed_cell) == ("crashed", 5.0, True, 3)
    assert result.code_cells[2] == "die()"  # the page still shows what the student wrote
    # Without a known cell, or when tests ran, nothing is re-run.
    assert credit_for_what_ran(path, bare_result("x", "01_layers", "crashed"), grade_copy).score == 0.0
    assert len(seen) == 1


def test_check_failed_names_the_mistake_without_a_value():
    from helpers import checks

    with pytest.raises(checks.CheckFailed) as error:
        checks.check_int("size", 30, 31, {"padding on one side only": 30}, reveal=False)
    assert error.value.mistake == "padding on one side only"
    assert "31" not in error.value.mistake
    with pytest.raises(checks.CheckFailed) as error:
        checks.check_int("size", 29, 31, {"padding on one side only": 30})
    assert error.value.mistake == ""


# --- end to end: a small real class under both backends ---------------------------------------


@pytest.fixture(scope="module")
def small_class(demo_grades, tmp_path_factory, release_build):
    """Unit 01 of the demo class graded once per backend (``demo_grades``): gus (the kernel dies in
    his q3 answer) and dev (named mistakes) among them; the oracle for gus's partial credit (his
    notebook's cells before that one, run in-process by the demo generator and scored by otter's
    test files), and dev regraded alone into a copy of the class's OUT."""
    from autograder import config
    from autograder.demo import make_demo
    from autograder.grade import grade
    from autograder.sandbox import Limits

    unit = "01_layers"
    root = tmp_path_factory.mktemp(f"class-{demo_grades.backend}")
    gus = nbformat.read(config.DEMO / "submissions" / "gus" / f"{unit}.ipynb", as_version=4)
    crash_index = next(i for i, c in enumerate(gus.cells) if "os.kill(os.getpid()" in c.source)
    crash_number = sum(c.cell_type == "code" for c in gus.cells[: crash_index + 1])
    (student,) = [s for s in make_demo.students(unit) if s.name == "gus"]
    assert student.stop_at == crash_index  # the generator cuts him where the kernel dies
    tests = release_build / "otter" / unit / "dist" / "autograder" / "tests"
    before_the_crash: dict[str, float] = {}
    for case in make_demo.run_in_process(student, tests):
        before_the_crash[case.question] = before_the_crash.get(case.question, 0.0) + case.points * case.passed
    out = root / "out"
    shutil.copytree(demo_grades.out, out)
    limits = Limits(wall_seconds=240, cell_seconds=30)
    regraded = grade(demo_grades.submissions, out, backend=demo_grades.backend, jobs=1, units=[unit],
                     limits=limits, progress=False, build=release_build, students=["dev"])
    results = {r.student: r for r in demo_grades.results if r.unit == unit}
    return demo_grades, out, results, regraded, crash_number, before_the_crash


def test_a_crashed_notebook_earns_what_the_cells_before_the_crash_earn_alone(small_class):
    demo, _, results, _, crash_number, before_the_crash = small_class
    gus = results["gus"]
    assert (gus.status, gus.failed_cell, gus.partial_rerun) == ("crashed", crash_number, True)
    assert 0 < sum(before_the_crash.values()) < gus.max_score
    assert {q.name: q.score for q in gus.questions} == before_the_crash
    assert gus.score == sum(before_the_crash.values())
    page = (demo.out / "feedback/gus/01_layers.html").read_text(encoding="utf-8")
    assert f'stopped at <a href="#cell-{crash_number}">cell {crash_number}</a>' in page
    assert "the kernel died while it ran" in page


def test_a_regrade_of_one_student_merges_into_out(small_class):
    demo, out, results, regraded, _, _ = small_class
    rows = _read_csv(out / "grades.csv")
    assert rows == _read_csv(demo.out / "grades.csv")  # nobody lost, and dev's row the same again
    assert sorted((r.student, r.unit) for r in regraded) == sorted((r.student, r.unit) for r in demo.results)
    (dev,) = [r for r in regraded if (r.student, r.unit) == ("dev", "01_layers")]
    assert dev.score == results["dev"].score and dev.seconds != results["dev"].seconds  # graded again
    gus = results["gus"]
    assert ["gus", "01_layers", format_score(gus.score), format_score(gus.max_score), "crashed"] in rows
    page = (out / "index.html").read_text(encoding="utf-8")
    assert all(f'href="feedback/{r.student}/{r.unit}.html"' in page for r in demo.results)


def test_the_class_page_counts_the_named_mistakes_of_a_real_class(small_class):
    demo, _, results, _, _, _ = small_class
    dev_formula = next(q for q in results["dev"].questions if q.name == "q1_formula")
    # dev's answer forgets one side's padding; the check names it, in its message and apart.
    (mistake,) = {c.mistake for c in dev_formula.cases if not c.passed and c.mistake}
    assert "one side" in mistake
    assert any(f": {mistake}" in c.message for c in dev_formula.cases if not c.hidden)
    page = (demo.out / "index.html").read_text(encoding="utf-8")
    assert f'<span class="mistake">{html.escape(mistake)}</span>: <span class="count">1</span>' in page


def test_nbgrader_export_works_on_the_produced_gradebook(small_class, tmp_path):
    import subprocess
    import sys

    demo, _, results, _, _, _ = small_class
    if demo.backend != "nbgrader":
        pytest.skip("the otter backend keeps no gradebook")
    course = tmp_path / "nbgrader"
    shutil.copytree(demo.out / "nbgrader", course)  # the shared OUT is read, never written
    done = subprocess.run([sys.executable, "-m", "nbgrader", "export"], cwd=course, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with (course / "grades.csv").open(newline="") as f:
        exported = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f)
                    if row["assignment"] == "01_layers"}
    assert exported == {name: r.score for name, r in results.items() if r.executed and name != "gus_cut"}
