"""The result data model and every report written from results, on hand-built results.

The key promise: a student's feedback page shows public test results and only a count of hidden
ones - hidden names and messages (which may hold expected values) never reach it.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

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
    assert "q2_public" in page
    assert "Total: 2.5 / 5" in page
    assert "<td>q2</td><td>0.5</td><td>2</td>" in page


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


def test_table_has_a_row_per_student_with_scores_and_statuses(class_results):
    lines = format_table(class_results).splitlines()
    assert lines[0].split() == ["student", "01_layers", "02_blocks"]
    assert lines[2].split() == ["alice", "2.5/5", "2.5/5"]
    assert lines[3].split() == ["bob", "timeout", "5/5"]
    assert lines[4].split() == ["carol", "unreadable", "missing"]
    assert lines[-1] == "6 results: ok 3, timeout 1, unreadable 1, missing 1"
    assert len(lines) == 6  # header, rule, three students, counts


def test_table_columns_are_aligned_to_the_widest_cell(class_results):
    lines = format_table(class_results).splitlines()[:-1]
    column = lines[0].index("02_blocks")
    # "unreadable" is the widest 01_layers cell: the next column starts two spaces after it.
    assert column == len("student") + 2 + len("unreadable") + 2
    assert all(line[column - 1] == " " and line[column] != " " for line in lines[2:])


def test_table_marks_a_unit_without_a_result():
    lines = format_table([full_marks_result("bob", "01_layers"), full_marks_result("dan", "02_blocks")]).splitlines()
    assert lines[2].split() == ["bob", "5/5", "-"]
    assert lines[3].split() == ["dan", "-", "5/5"]


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
    pages = list(tmp_path.rglob("*.html"))
    assert len(pages) == 1
    assert (tmp_path / "out" / "feedback") in pages[0].parents
