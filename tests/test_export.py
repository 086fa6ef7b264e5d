"""The LMS exports, read the way each LMS reads them, and the feedback zips.

The expected columns are the LMSs' own, not ours:

* Canvas (the gradebook export's columns, which its importer requires:
  https://nemogb-dev.github.io/nemogb-r/articles/detailed-canvas-export-info.html and
  https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades):
  ``Student, ID, SIS User ID, SIS Login ID, Section``, a ``Points Possible`` row, one column per
  assignment. :func:`canvas_import` follows Canvas's importer
  (instructure/canvas-lms, app/models/gradebook_importer.rb).
* Moodle (https://docs.moodle.org/311/en/Grade_import): a column mapped to ``useridnumber`` (the
  export labels it ``ID number``) or ``useremail`` (``Email address``), grade columns mapped to
  grade items. :func:`moodle_import` follows grade/import/csv/classes/load_data.php.
"""
from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path

import pytest

from autograder.reports import write_grades_csv, write_reports
from autograder.results import CaseResult, QuestionResult, UnitResult

CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def _result(student: str, unit: str, score: float, status: str = "ok") -> UnitResult:
    case = CaseResult("test_q1", "q1", score, 5.0, False, score == 5.0, "" if score == 5.0 else "wrong")
    return UnitResult(student, unit, status, score, 5.0, [QuestionResult("q1", score, 5.0, [case])], ["x = 1"])


@pytest.fixture
def graded(tmp_path) -> Path:
    """OUT with grades.csv for alice, bob and carol in two units (carol's 02 notebook missing)."""
    out = tmp_path / "out"
    out.mkdir()
    write_grades_csv([_result("alice", "01_layers", 2.5), _result("alice", "02_blocks", 5.0),
                      _result("bob", "01_layers", 0.0, "timeout"), _result("bob", "02_blocks", 4.0),
                      _result("carol", "01_layers", 1.0), _result("carol", "02_blocks", 0.0, "missing")],
                     out / "grades.csv")
    return out


def _roster(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _rows(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # UTF-8 without a byte-order mark in the first header
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def canvas_import(rows: list[list[str]], users: dict[str, str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """What Canvas's gradebook importer takes from ``rows``: (assignment -> points possible,
    Canvas user id -> assignment -> grade). ``users`` maps SIS user ids to Canvas ids (the
    importer's second way of finding a student)."""
    header = rows[0]
    # The header test: "Student" then "ID"; with "SIS User ID" then "SIS Login ID", the fifth
    # column must be "Section" (the last student-information column).
    assert len(header) > 3 and "Student" in header[0] and "ID" in header[1]
    assert re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3])
    assert "Section" in header[4]
    assignments = header[5:]
    titles = [re.fullmatch(r"(.*)\s\((\d+)\)", a).group(1) if re.fullmatch(r"(.*)\s\((\d+)\)", a) else a
              for a in assignments]
    points, grades = {}, {}
    for row in rows[1:]:
        if "Points Possible" in row[0]:
            points = {t: row[5 + i] for i, t in enumerate(titles) if row[5 + i]}
            continue
        user = row[1] or users.get(row[2])
        assert user, f"Canvas finds no student for {row}"
        grades[user] = {t: row[5 + i].strip() for i, t in enumerate(titles)}
    return points, grades


def moodle_import(rows: list[list[str]], map_from: str) -> dict[str, dict[str, float | None]]:
    """What Moodle's CSV grade import takes from ``rows`` with "Map from" ``map_from`` and every
    unit column mapped to a grade item: user -> item -> grade (None is "no grade")."""
    header = [h.strip() for h in rows[0]]
    key = header.index(map_from)
    items = [i for i, h in enumerate(header) if re.fullmatch(r"\d\d_\w+", h)]
    out = {}
    for line in rows[1:]:
        if len(line) <= 1:
            continue
        assert line[key].strip(), f"a blank user field aborts Moodle's import: {line}"
        grades = {}
        for i in items:
            value = line[i].strip()
            grades[header[i]] = None if value in ("", "-") else float(value)
            assert grades[header[i]] is None or grades[header[i]] <= 100  # Moodle's default maximum
        out[line[key]] = grades
    return out


def test_canvas_csv_imports_each_rosters_numbers(graded, tmp_path):
    from autograder.export import export_grades

    roster = _roster(tmp_path / "roster.csv", "folder,lms_id,name,sis_user_id,sis_login_id,section\n"
                     "dora,104,Dora D,d4,,\n"  # on the roster, no folder: left out, Canvas keeps her grades
                     "alice,101,\"Lovelace, Ada\",a1,alice@x.edu,S1\n"
                     "bob,102,Bob B,,,\n"
                     "carol,,Carol C,c3,,\n")  # no Canvas id: found by her SIS user id
    rows = _rows(export_grades(graded, "canvas", roster))
    assert rows[0][:5] == CANVAS_STUDENT_COLUMNS
    assert rows[1][0] == "Points Possible" and rows[1][1:5] == ["", "", "", ""]
    points, grades = canvas_import(rows, users={"c3": "103"})
    assert points == {"01_layers": "5", "02_blocks": "5"}
    assert grades == {"101": {"01_layers": "2.5", "02_blocks": "5"},
                      "102": {"01_layers": "0", "02_blocks": "4"},
                      "103": {"01_layers": "1", "02_blocks": "0"}}
    assert rows[2][0] == "Lovelace, Ada"  # a comma inside a name is quoted, not a new column


def test_moodle_csv_imports_by_id_number_or_email(graded, tmp_path):
    from autograder.export import export_grades

    roster = _roster(tmp_path / "roster.csv", "folder,lms_id,name,email\n"
                     "alice,S-101,Alice A,alice@x.edu\nbob,S-102,,bob@x.edu\ncarol,S-103,,carol@x.edu\n"
                     "dora,S-104,,dora@x.edu\n")
    rows = _rows(export_grades(graded, "moodle", roster))
    assert {"ID number", "Email address"} <= set(rows[0])
    expected = {"01_layers": 2.5, "02_blocks": 5.0}, {"01_layers": 0.0, "02_blocks": 4.0}, \
        {"01_layers": 1.0, "02_blocks": 0.0}
    by_id = moodle_import(rows, "ID number")
    assert by_id == dict(zip(("S-101", "S-102", "S-103"), expected))
    by_email = moodle_import(rows, "Email address")
    assert by_email == dict(zip(("alice@x.edu", "bob@x.edu", "carol@x.edu"), expected))


def test_a_roster_that_misses_a_student_or_an_id_is_refused(graded, tmp_path):
    from autograder.export import export_grades

    short = _roster(tmp_path / "short.csv", "folder,lms_id\nalice,101\n")
    with pytest.raises(SystemExit, match="no row for folder.*bob, carol"):
        export_grades(graded, "canvas", short)
    with pytest.raises(SystemExit, match="missing column"):
        export_grades(graded, "canvas", _roster(tmp_path / "bad.csv", "name,id\n"))
    blank = _roster(tmp_path / "blank.csv", "folder,lms_id,sis_user_id\nalice,101,\nbob,,b2\ncarol,,\n")
    with pytest.raises(SystemExit, match="no lms_id, sis_user_id or sis_login_id for folder.*carol"):
        export_grades(graded, "canvas", blank)
    with pytest.raises(SystemExit, match="no lms_id or email for folder.*bob, carol"):
        export_grades(graded, "moodle", blank)


def test_feedback_zip_per_student_holds_only_their_pages(tmp_path):
    from autograder.export import feedback_zips

    out = tmp_path / "out"
    write_reports([_result("alice", "01_layers", 2.5), _result("alice", "02_blocks", 5.0),
                   _result("bob", "01_layers", 0.0)], out)
    zips = {p.name: sorted(zipfile.ZipFile(p).namelist()) for p in feedback_zips(out)}
    assert zips == {"alice.zip": ["alice/01_layers.html", "alice/02_blocks.html"],
                    "bob.zip": ["bob/01_layers.html"]}


def test_export_without_a_roster_is_refused_by_the_command_line(capsys):
    from autograder.__main__ import main

    with pytest.raises(SystemExit) as error:
        main(["grade", "submissions", "--export", "canvas"])
    assert error.value.code == 2
    assert "--export canvas needs --roster" in capsys.readouterr().err
