"""`python -m autograder grade`: the demo class grades as expected under both backends, the
feedback never shows hidden tests, and submissions are found the way students name them."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import nbformat
import pytest

from autograder import config
from autograder.demo import make_demo
from autograder.grade import discover, grade
from autograder.master import read_master
from conftest import DEMO_WHOLE_CLASS_UNIT, LEFT_BY_A_RUN, demo_expected

DEMO = config.DEMO / "submissions"


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# The class is graded once per run and backend by tests/conftest.py's `demo_grades`, shared with the
# other files that read it; every test taking it runs once per backend.
def test_demo_class_matches_expected_grades(demo_grades):
    backend, out, _, _ = demo_grades
    got = {(r["student"], r["unit"]): r for r in read_csv(out / "grades.csv")}
    expected = demo_expected(backend)  # expected_grades.csv, less what the tests leave out (tests/conftest.py)
    assert {unit for _, unit in expected} == set(config.released_units())
    assert sorted(got) == sorted(expected)
    for key, row in expected.items():
        assert (got[key]["status"], float(got[key]["score"]), float(got[key]["max_score"])) == row, f"{backend}: {key}"
    # Unit 01 shows every status of the class, under each backend.
    assert {status for (_, unit), (status, _, _) in expected.items() if unit == DEMO_WHOLE_CLASS_UNIT} == \
        {r["status"] for r in read_csv(config.DEMO / "expected_grades.csv")}


def test_every_student_and_unit_has_a_feedback_page_and_question_rows(demo_grades):
    _, out, results, _ = demo_grades
    for r in results:
        assert (out / "feedback" / r.student / f"{r.unit}.html").is_file()
    rows = read_csv(out / "questions.csv")
    for r in results:
        if r.status not in ("ok", "timeout"):
            continue
        master = read_master(config.SOLUTIONS / f"{r.unit}.ipynb")
        mine = [row["question"] for row in rows if (row["student"], row["unit"]) == (r.student, r.unit)]
        assert sorted(mine) == sorted(q.name for q in master.questions), (r.student, r.unit)
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def hidden_fingerprints(unit: str) -> tuple[list[str], list[str]]:
    """Names of the unit's hidden tests, and their distinctive source lines (no public test, no line of
    the student notebook and no line of the master's answers shares them: a hidden test may rebuild a
    network the notebook defines, and a right answer shows in the student's own feedback)."""
    student = nbformat.read(config.NOTEBOOKS / f"{unit}.ipynb", as_version=4)
    master = read_master(config.SOLUTIONS / f"{unit}.ipynb")
    names, lines = [], []
    public = {line.strip() for c in student.cells if c.cell_type == "code" for line in c.source.splitlines()}
    public |= {re.sub(r"\s*# SOLUTION\s*$", "", line).strip() for q in master.questions for i in q.solution_cells
               for line in master.nb.cells[i].source.splitlines()}
    for q in master.questions:
        for t in q.tests:
            body = [line.strip() for line in t.body.splitlines()[1:]]
            if t.hidden:
                names.append(t.function)
                lines += [line for line in body if len(line) > 40 and "import" not in line]
            else:
                public.update(body)
    return names, [line for line in lines if line not in public]


def test_feedback_never_shows_hidden_tests(demo_grades):
    import html

    _, out, results, _ = demo_grades
    for unit in {r.unit for r in results}:
        names, lines = hidden_fingerprints(unit)
        assert names
        for page in (out / "feedback").glob(f"*/{unit}.html"):
            text = html.unescape(page.read_text())
            leaked = [n for n in names if re.search(rf"\b{n}\b", text)] + [line for line in lines if line in text]
            assert leaked == [], f"{page}: {leaked[:3]}"


def test_nbgrader_backend_leaves_a_real_gradebook(demo_grades):
    backend, out, results, _ = demo_grades
    if backend != "nbgrader":
        pytest.skip("nbgrader only")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}") as gb:
        for r in results:
            if r.status == "ok":
                assert gb.find_submission(r.unit, r.student).score == pytest.approx(r.score)


@pytest.mark.slow(reason="regenerates the demo class and scores each distinct notebook in-process (about 2 min)")
def test_demo_class_is_generated_reproducibly(tmp_path):
    make_demo.main(tmp_path / "submissions", tmp_path / "expected.csv")
    fresh = {str(p.relative_to(tmp_path / "submissions")): p.read_bytes()
             for p in sorted((tmp_path / "submissions").rglob("*")) if p.is_file()}
    committed = {str(p.relative_to(DEMO)): p.read_bytes() for p in sorted(DEMO.rglob("*"))
                 if p.is_file() and not LEFT_BY_A_RUN & set(p.relative_to(DEMO).parts)}
    assert fresh.keys() == committed.keys()
    assert [k for k in fresh if fresh[k] != committed[k]] == []
    assert (tmp_path / "expected.csv").read_text() == (config.DEMO / "expected_grades.csv").read_text()


# --- finding submissions ------------------------------------------------------------------------

def write_nb(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), path)


def test_discover_accepts_renames_and_reports_ambiguous_missing_unreadable(tmp_path):
    write_nb(tmp_path / "a" / "01_layers.ipynb")
    write_nb(tmp_path / "b" / "Copy of 01_layers.ipynb")
    write_nb(tmp_path / "c" / "01_layers (2).ipynb")
    write_nb(tmp_path / "d" / "01_layers.ipynb")
    write_nb(tmp_path / "d" / "01_layers(1).ipynb")
    (tmp_path / "e").mkdir()
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "01_layers.ipynb").write_text('{"cells": 3}')
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "01_layers.ipynb").write_bytes(b"\x00\xff binary")
    write_nb(tmp_path / "h" / "01_layers_old.ipynb")  # not a rename of the unit: ignored
    found = {s.student: s for s in discover(tmp_path, ["01_layers"])}
    assert {k: v.status for k, v in found.items()} == {
        "a": "ok", "b": "ok", "c": "ok", "d": "ambiguous", "e": "missing", "f": "unreadable",
        "g": "unreadable", "h": "missing"}
    assert found["a"].warnings == [] and "renamed" in found["b"].warnings[0]
    assert "01_layers(1).ipynb" in found["d"].detail


def test_grade_refuses_unknown_backend_and_unit(tmp_path):
    with pytest.raises(SystemExit, match="backend"):
        grade(tmp_path, tmp_path / "out", backend="docker")
    with pytest.raises(SystemExit, match="unknown unit"):
        grade(tmp_path, tmp_path / "out", units=["05_transformers"])
