"""Everything written from a batch of :class:`~autograder.results.UnitResult`.

* ``grades.csv`` and ``questions.csv`` - one row per result, one row per graded question;
* ``feedback/<student>/<unit>.html`` - the page a student gets back;
* ``summary.png`` - the class at a glance for the instructor;
* the terminal table :func:`format_table` returns.

Grading principle: hidden test cases never reach a file a student sees. The feedback page shows
how many hidden cases of each question passed and nothing else about them - no name, message,
source or expected value. The instructor's one-line ``detail`` stays out of it too, since a grader
error there may quote a hidden test.
"""
from __future__ import annotations

import csv
import html
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from autograder.config import UNITS
from autograder.results import STATUSES, QuestionResult, UnitResult

GRADES_HEADER = ("student", "unit", "score", "max_score", "status")
QUESTIONS_HEADER = ("student", "unit", "question", "score", "max_score")

# What each status means for the student, and what to do about it.
STATUS_EXPLANATIONS = {
    "ok": "your notebook ran from top to bottom and was graded.",
    "timeout": (
        "your notebook ran longer than the limit: look for an infinite loop, or a training loop "
        "with more epochs or data than the exercise asks for. Scores below count only what "
        "finished before the limit."
    ),
    "crashed": (
        "your notebook stopped with an error before the end: restart the kernel and run all "
        "cells (Runtime > Restart and run all in Colab) to find the cell that fails. Scores below "
        "count only what ran."
    ),
    "memory": (
        "your notebook used more memory than the limit: look for very large tensors, or a model "
        "or batch bigger than the exercise asks for. Scores below count only what ran."
    ),
    "unreadable": (
        "we could not open your file as a Jupyter notebook, so nothing was run: hand in the "
        ".ipynb file itself (File > Download > Download .ipynb), not a PDF, zip or renamed file."
    ),
    "ambiguous": (
        "we found more than one notebook that could be this unit and could not tell which to "
        "grade, so nothing was run: hand in exactly one notebook for it, named {unit}.ipynb."
    ),
    "missing": "we found no notebook for this unit in your submission: hand in {unit}.ipynb.",
}

_PAGE_STYLE = """\
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: .25rem .75rem; text-align: left; }
pre { background: #f6f6f6; padding: .5rem; overflow-x: auto; }
.status-ok { color: #1a7f37; } .status-bad { color: #b3261e; }
.pass { color: #1a7f37; } .fail { color: #b3261e; }
"""


# --- shared helpers -------------------------------------------------------------------------


def format_score(value: float) -> str:
    """A score without spurious decimals: 3.0 -> '3', 2.5 -> '2.5', 0.1 + 0.2 -> '0.3'."""
    text = f"{round(value, 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def unit_sort_key(unit: str) -> tuple[int, str]:
    """Course order for known units; unknown ones after them, alphabetically."""
    return (UNITS.index(unit) if unit in UNITS else len(UNITS), unit)


def sort_results(results: Iterable[UnitResult]) -> list[UnitResult]:
    """Results by student, then unit in course order."""
    return sorted(results, key=lambda r: (r.student, unit_sort_key(r.unit)))


def _units_present(results: Iterable[UnitResult]) -> list[str]:
    return sorted({r.unit for r in results}, key=unit_sort_key)


def _safe_path_part(name: str) -> str:
    """``name`` as one path component: a student id like '../x' must not escape feedback/."""
    safe = re.sub(r"[^\w.@+-]", "_", name)
    if not safe.strip("."):
        return "_"
    return "_" + safe[1:] if safe.startswith(".") else safe


def _prepare(path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# --- CSV ------------------------------------------------------------------------------------


def write_grades_csv(results: Iterable[UnitResult], path: Path | str) -> None:
    """``student,unit,score,max_score,status``: one row per result, whatever its status."""
    with _prepare(path).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(GRADES_HEADER)
        for r in sort_results(results):
            writer.writerow([r.student, r.unit, format_score(r.score), format_score(r.max_score), r.status])


def write_questions_csv(results: Iterable[UnitResult], path: Path | str) -> None:
    """``student,unit,question,score,max_score``: one row per question of each result.

    A result without questions (missing, unreadable, ...) contributes no rows.
    """
    with _prepare(path).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(QUESTIONS_HEADER)
        for r in sort_results(results):
            for q in r.questions:
                writer.writerow([r.student, r.unit, q.name, format_score(q.score), format_score(q.max_score)])


# --- feedback HTML --------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value))


def _status_html(result: UnitResult) -> str:
    explanation = STATUS_EXPLANATIONS[result.status].format(unit=result.unit)
    css = "status-ok" if result.status == "ok" else "status-bad"
    return f'<p class="{css}"><strong>Status: {_e(result.status)}</strong> - {_e(explanation)}</p>'


def _questions_table_html(result: UnitResult, questions_max: dict[str, float] | None) -> str:
    """Score / max per question; questions the unit has but the result lacks read 'not graded'."""
    rows = [(q.name, format_score(q.score), format_score(q.max_score)) for q in result.questions]
    graded = {q.name for q in result.questions}
    rows += [(n, "not graded", format_score(m)) for n, m in (questions_max or {}).items() if n not in graded]
    if not rows:
        return "<p>No question was graded.</p>"
    body = "".join(f"<tr><td>{_e(n)}</td><td>{_e(s)}</td><td>{_e(m)}</td></tr>" for n, s, m in rows)
    return f"<table><tr><th>Question</th><th>Score</th><th>Max</th></tr>{body}</table>"


def _question_tests_html(question: QuestionResult) -> str:
    """Public cases in full; hidden cases only as a count - never their name or message."""
    parts = [f"<h3>{_e(question.name)}</h3>"]
    public = [c for c in question.cases if not c.hidden]
    hidden = [c for c in question.cases if c.hidden]
    if public:
        items = []
        for c in public:
            verdict = '<span class="pass">passed</span>' if c.passed else '<span class="fail">failed</span>'
            message = f"<pre>{_e(c.message)}</pre>" if c.message and not c.passed else ""
            items.append(f"<li>{_e(c.name)}: {verdict}{message}</li>")
        parts.append(f"<ul>{''.join(items)}</ul>")
    if hidden:
        passed = sum(c.passed for c in hidden)
        parts.append(f"<p>hidden tests: {passed} of {len(hidden)} passed</p>")
    if not question.cases:
        parts.append("<p>No test case was reported for this question.</p>")
    return "".join(parts)


def _code_html(code_cells: Sequence[str]) -> str:
    if not code_cells:
        return ""
    cells = "".join(f"<h3>Cell {i}</h3><pre>{_e(src)}</pre>" for i, src in enumerate(code_cells, 1))
    return f"<h2>Your code</h2>{cells}"


def feedback_html(result: UnitResult, *, questions_max: dict[str, float] | None = None) -> str:
    """The feedback page of :func:`write_feedback`, as a string."""
    title = f"{result.unit}: feedback for {result.student}"
    parts = [
        f"<h1>{_e(title)}</h1>",
        _status_html(result),
        f"<p><strong>Total: {format_score(result.score)} / {format_score(result.max_score)}</strong></p>",
    ]
    if result.warnings:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(w)}</li>" for w in result.warnings) + "</ul>")
    parts += ["<h2>Questions</h2>", _questions_table_html(result, questions_max)]
    if result.questions:
        parts.append("<h2>Tests</h2>" + "".join(_question_tests_html(q) for q in result.questions))
    parts.append(_code_html(result.code_cells))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>\n{_PAGE_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(p for p in parts if p)
        + "\n</body>\n</html>\n"
    )


def write_feedback(result: UnitResult, path: Path | str, *, questions_max: dict[str, float] | None = None) -> None:
    """A self-contained HTML page for one student and unit, safe to hand to the student.

    ``questions_max`` (question name -> max points) lists the unit's questions, so a page for a
    result without them (missing, crashed early, ...) still shows what there was to earn.
    """
    _prepare(path).write_text(feedback_html(result, questions_max=questions_max), encoding="utf-8")


def unit_questions_max(results: Iterable[UnitResult]) -> dict[str, dict[str, float]]:
    """unit -> {question: max points}, from whichever results graded each question."""
    out: dict[str, dict[str, float]] = {}
    for r in results:
        for q in r.questions:
            unit = out.setdefault(r.unit, {})
            unit[q.name] = max(unit.get(q.name, 0.0), q.max_score)
    return out


# --- summary figure -------------------------------------------------------------------------


def _score_fractions(results: Sequence[UnitResult]) -> dict[str, list[float]]:
    """unit -> score/max of each notebook that was run; units in course order, only those present."""
    graded = [r for r in results if r.executed and r.max_score > 0]
    return {u: [r.score / r.max_score for r in graded if r.unit == u] for u in _units_present(graded)}


def question_pass_rates(results: Sequence[UnitResult]) -> list[tuple[str, str, float, int]]:
    """(unit, question, fraction with full marks, students graded on it), units in course order.

    The denominator is the students whose result contains the question: a missing notebook says
    nothing about how hard a question is.
    """
    tally: dict[tuple[str, str], list[int]] = {}
    for r in sorted(results, key=lambda r: unit_sort_key(r.unit)):
        for q in r.questions:
            counts = tally.setdefault((r.unit, q.name), [0, 0])
            counts[0] += q.full_marks
            counts[1] += 1
    return [(u, q, full / n, n) for (u, q), (full, n) in tally.items()]


def _draw_distribution(ax, fractions: dict[str, list[float]]) -> None:
    units = list(fractions)
    positions = list(range(1, len(units) + 1))
    ax.boxplot([fractions[u] for u in units], positions=positions, widths=0.5, showfliers=False)
    for x, u in zip(positions, units):
        values = sorted(fractions[u])
        # Evenly spread, not random: the figure is the same on every run.
        offsets = [0.0] if len(values) == 1 else [-0.15 + 0.3 * i / (len(values) - 1) for i in range(len(values))]
        ax.scatter([x + o for o in offsets], values, s=14, alpha=0.7, zorder=3)
    ax.set_xticks(positions)
    ax.set_xticklabels(units, rotation=20)
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("score / max score")
    ax.set_title("Score distribution per unit")


def _draw_pass_rates(ax, rates: list[tuple[str, str, float, int]]) -> None:
    if not rates:
        ax.text(0.5, 0.5, "no per-question scores", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    values = [[rate] for _, _, rate, _ in rates]
    ax.imshow(values, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    for row, (_, _, rate, _) in enumerate(rates):
        # The colour map is dark at both ends; white text stays readable there.
        colour = "white" if rate < 0.2 or rate > 0.85 else "black"
        ax.text(0, row, f"{rate:.0%}", ha="center", va="center", fontsize=9, color=colour)
    ax.set_yticks(range(len(rates)))
    ax.set_yticklabels([f"{u} / {q} (n={n})" for u, q, _, n in rates], fontsize=8)
    ax.set_xticks([])
    ax.set_title("Students with full marks, per question")


def write_summary_png(results: Sequence[UnitResult], path: Path | str) -> None:
    """The class at a glance: score distribution per unit and full-marks rate per question.

    Draws "nothing graded" when no notebook was run (no results, or all missing/unreadable).
    """
    # Figure without pyplot: no global figure registry, no GUI backend, safe in any process.
    from matplotlib.figure import Figure

    results = list(results)
    fractions = _score_fractions(results)
    rates = question_pass_rates(results)
    if not fractions and not rates:
        fig = Figure(figsize=(6, 3))
        fig.text(0.5, 0.5, "nothing graded", ha="center", va="center", fontsize=16)
    else:
        fig = Figure(figsize=(12, max(4.0, 1.5 + 0.3 * len(rates))), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=(3, 2))
        if fractions:
            _draw_distribution(left, fractions)
        else:
            left.text(0.5, 0.5, "nothing graded", ha="center", va="center", transform=left.transAxes)
            left.set_axis_off()
        _draw_pass_rates(right, rates)
    fig.savefig(_prepare(path), format="png", dpi=100)


# --- terminal table -------------------------------------------------------------------------


def _cell(result: UnitResult) -> str:
    if result.status == "ok":
        return f"{format_score(result.score)}/{format_score(result.max_score)}"
    return result.status


def format_table(results: Sequence[UnitResult]) -> str:
    """Students as rows, units as columns: ``score/max`` when ok, else the status word.

    A unit a student has no result for reads '-'. The last line counts results per status.
    """
    results = sort_results(results)
    units = _units_present(results)
    cells = {(r.student, r.unit): _cell(r) for r in results}
    students = sorted({r.student for r in results})
    rows = [["student", *units]] + [[s, *(cells.get((s, u), "-") for u in units)] for s in students]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(text.ljust(w) for text, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts = Counter(r.status for r in results)
    tally = ", ".join(f"{status} {counts[status]}" for status in STATUSES if counts[status])
    lines.append(f"{len(results)} results: {tally}" if results else "0 results")
    return "\n".join(lines)


# --- everything -----------------------------------------------------------------------------


def feedback_path(out_dir: Path | str, result: UnitResult) -> Path:
    """``out_dir/feedback/<student>/<unit>.html`` (names made safe as path components)."""
    return Path(out_dir) / "feedback" / _safe_path_part(result.student) / f"{_safe_path_part(result.unit)}.html"


def write_reports(results: Sequence[UnitResult], out_dir: Path | str) -> str:
    """grades.csv, questions.csv, a feedback page per result and summary.png; returns the table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = list(results)
    write_grades_csv(results, out_dir / "grades.csv")
    write_questions_csv(results, out_dir / "questions.csv")
    questions_max = unit_questions_max(results)
    for r in results:
        write_feedback(r, feedback_path(out_dir, r), questions_max=questions_max.get(r.unit))
    write_summary_png(results, out_dir / "summary.png")
    return format_table(results)
