"""Grades where grades go: an LMS gradebook-import CSV from ``grades.csv``, and feedback zips.

The roster is a CSV the instructor keeps, one row per student folder::

    folder,lms_id,name,sis_user_id,sis_login_id,section,email
    ada,10234,Ada Lovelace,ada01,ada@example.edu,A,ada@example.edu

``folder`` (the submission folder's name) and ``lms_id`` are required columns; the others may be
left out or blank. Only graded folders get a row: a blank grade cell is not "leave as is" in
either LMS (Canvas reads it as a changed score, Moodle as "no grade"), so a roster student without
a folder is left out and keeps whatever the LMS holds. A graded folder missing from the roster, or
a row without any id the LMS can match, raises, so no grade is dropped in silence.

* ``canvas`` - the Gradebook's "Import" (Grades > Import). The file follows Canvas's own gradebook
  export: ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per unit; a second
  row starts with ``Points Possible`` and gives each unit's maximum. Canvas finds a student by
  ``ID`` (its numeric user id: ``lms_id``), else by ``SIS User ID``, else by ``SIS Login ID``, else
  by name. A unit column matches the assignment whose id is in parentheses at the end of the
  header (the export writes ``Quiz 1 (87568490)``), else the assignment named exactly like it
  (``01_layers``), else Canvas creates that assignment on import. UTF-8, comma-separated.
  Sources: the importer that reads the file,
  https://github.com/instructure/canvas-lms/blob/master/app/models/gradebook_importer.rb
  (the header test, the ``Points Possible`` row, ``Assignment.title_and_id``, student look-up);
  the exported columns, https://nemogb-dev.github.io/nemogb-r/articles/detailed-canvas-export-info.html;
  the columns an import needs and new columns becoming assignments,
  https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades.
* ``moodle`` - Grades > Import > "CSV file". Moodle lets the teacher map columns on import: "Map
  from" a column that identifies the user to "Map to" ``useridnumber`` (the user's *ID number*,
  ``lms_id``) or ``useremail``, and each grade column to a grade item or a "new grade item". The
  columns carry the labels of Moodle's own grade export: ``ID number``, ``Email address``, then
  ``Full name`` (ignored on import) and one column per unit. Encoding UTF-8, separator comma (the
  import form's defaults). Moodle aborts the whole import on a row whose user it cannot find and
  refuses grades over 100 unless the site allows more.
  Sources: https://docs.moodle.org/311/en/Grade_import (mapping, ``useridnumber``/``useremail``);
  https://github.com/moodle/moodle/blob/main/grade/import/grade_import_form.php (the encoding and
  separator options, comma by default);
  https://github.com/moodle/moodle/blob/main/grade/import/csv/classes/load_data.php (blank or ``-``
  is "no grade"; an unknown user aborts the import).
"""
from __future__ import annotations

import csv
import zipfile
from pathlib import Path

from autograder.reports import _safe_path_part, unit_sort_key

FORMATS = ("canvas", "moodle")
ROSTER_REQUIRED = ("folder", "lms_id")
# The student columns of a Canvas gradebook export, in order; the importer needs them so.
CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "Points Possible"
# Labels of Moodle's grade export for the user fields an import can map to.
MOODLE_USER_COLUMNS = ("ID number", "Email address", "Full name")


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """folder -> roster row; a missing file or column, or a repeated folder, raises ``SystemExit``."""
    if not path.is_file():
        raise SystemExit(f"--roster {path}: no such file")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ROSTER_REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(f"--roster {path}: missing column(s) {', '.join(missing)}; "
                             f"expected a header with {', '.join(ROSTER_REQUIRED)}")
        roster: dict[str, dict[str, str]] = {}
        for row in reader:
            folder = (row["folder"] or "").strip()
            if folder in roster:
                raise SystemExit(f"--roster {path}: folder {folder!r} appears twice")
            if folder:
                roster[folder] = {k: (v or "").strip() for k, v in row.items() if k}
    return roster


def read_grades(path: Path) -> dict[str, dict[str, tuple[str, str]]]:
    """student -> unit -> (score, max_score), as ``grades.csv`` writes them."""
    grades: dict[str, dict[str, tuple[str, str]]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            grades.setdefault(row["student"], {})[row["unit"]] = (row["score"], row["max_score"])
    return grades


def _identified(fmt: str, row: dict[str, str]) -> bool:
    """Whether the LMS can find this roster row's user."""
    keys = ("lms_id", "sis_user_id", "sis_login_id") if fmt == "canvas" else ("lms_id", "email")
    return any(row.get(k) for k in keys)


def export_grades(out_dir: Path, fmt: str, roster_path: Path, destination: Path | None = None) -> Path:
    """Write ``OUT/<fmt>.csv`` (or ``destination``) from ``OUT/grades.csv`` and the roster: one row
    per graded folder, in the roster's order."""
    if fmt not in FORMATS:
        raise SystemExit(f"--export must be one of {', '.join(FORMATS)}, got {fmt!r}")
    grades_path = out_dir / "grades.csv"
    if not grades_path.exists():
        raise SystemExit(f"{grades_path} does not exist: grade the class first")
    grades = read_grades(grades_path)
    roster = read_roster(roster_path)
    unknown = sorted(set(grades) - set(roster))
    if unknown:
        raise SystemExit(f"--roster {roster_path}: no row for folder(s) {', '.join(unknown)}")
    graded = [(folder, row) for folder, row in roster.items() if folder in grades]
    anonymous = [folder for folder, row in graded if not _identified(fmt, row)]
    if anonymous:
        ids = "lms_id, sis_user_id or sis_login_id" if fmt == "canvas" else "lms_id or email"
        raise SystemExit(f"--roster {roster_path}: no {ids} for folder(s) {', '.join(anonymous)}")
    units = sorted({u for g in grades.values() for u in g}, key=unit_sort_key)
    max_scores = {u: next(g[u][1] for g in grades.values() if u in g) for u in units}
    destination = destination or out_dir / f"{fmt}.csv"
    with destination.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)  # RFC 4180: comma, double quotes, CRLF
        if fmt == "canvas":
            writer.writerow([*CANVAS_STUDENT_COLUMNS, *units])
            writer.writerow([CANVAS_POINTS_ROW, "", "", "", "", *(max_scores[u] for u in units)])
            for folder, row in graded:
                scores = [grades[folder].get(u, ("", ""))[0] for u in units]
                writer.writerow([row.get("name") or folder, row["lms_id"], row.get("sis_user_id", ""),
                                 row.get("sis_login_id", ""), row.get("section", ""), *scores])
        else:
            writer.writerow([*MOODLE_USER_COLUMNS, *units])
            for folder, row in graded:
                scores = [grades[folder].get(u, ("", ""))[0] for u in units]
                writer.writerow([row["lms_id"], row.get("email", ""), row.get("name") or folder, *scores])
    return destination


def feedback_zips(out_dir: Path) -> list[Path]:
    """``OUT/feedback-zips/<student>.zip``: each student's feedback pages, ready to hand back."""
    feedback = out_dir / "feedback"
    target = out_dir / "feedback-zips"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for folder in sorted(p for p in feedback.iterdir() if p.is_dir()) if feedback.is_dir() else []:
        path = target / f"{_safe_path_part(folder.name)}.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for page in sorted(folder.glob("*.html")):
                z.write(page, arcname=f"{folder.name}/{page.name}")
        written.append(path)
    return written
