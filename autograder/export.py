"""Grades where grades go: an LMS gradebook-import CSV from ``grades.csv``, and feedback zips.

The roster is a CSV the instructor keeps, one row per student folder::

    folder,lms_id,name,sis_user_id,sis_login_id,section
    ada,10234,Ada Lovelace,ada01,ada@example.edu,A

``folder`` (the submission folder's name) and ``lms_id`` are required; the rest may be blank.

* ``canvas``: Canvas's gradebook import (the columns of its own gradebook export):
  ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per unit, after a
  ``Points Possible`` row. ``ID`` is Canvas's user id (``lms_id``). A unit column whose name is not
  an existing assignment becomes a new assignment on import.
* ``moodle``: Moodle's "Import grades from CSV": an ``ID number`` column (``lms_id``; map it to
  the user's ID number on import), ``Full name``, then one column per unit.
"""
from __future__ import annotations

import csv
import zipfile
from pathlib import Path

from autograder.reports import _safe_path_part, unit_sort_key

FORMATS = ("canvas", "moodle")
ROSTER_REQUIRED = ("folder", "lms_id")


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


def export_grades(out_dir: Path, fmt: str, roster_path: Path, destination: Path | None = None) -> Path:
    """Write ``OUT/<fmt>.csv`` (or ``destination``) from ``OUT/grades.csv`` and the roster.

    Every roster student gets a row (a student without a submission folder gets blank cells, which
    leaves the LMS's grade as it is); a graded folder missing from the roster raises, naming it,
    so no grade is silently dropped.
    """
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
    units = sorted({u for g in grades.values() for u in g}, key=unit_sort_key)
    max_scores = {u: next(g[u][1] for g in grades.values() if u in g) for u in units}
    destination = destination or out_dir / f"{fmt}.csv"
    with destination.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        if fmt == "canvas":
            writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *units])
            writer.writerow(["Points Possible", "", "", "", "", *(max_scores[u] for u in units)])
            for folder, row in roster.items():
                scores = [grades.get(folder, {}).get(u, ("", ""))[0] for u in units]
                writer.writerow([row.get("name") or folder, row["lms_id"], row.get("sis_user_id", ""),
                                 row.get("sis_login_id", ""), row.get("section", ""), *scores])
        else:
            writer.writerow(["ID number", "Full name", *units])
            for folder, row in roster.items():
                scores = [grades.get(folder, {}).get(u, ("", ""))[0] for u in units]
                writer.writerow([row["lms_id"], row.get("name") or folder, *scores])
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
