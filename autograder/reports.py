"""Everything written from a batch of :class:`~autograder.results.UnitResult`.

* ``grades.csv`` and ``questions.csv`` - one row per result, one row per graded question;
* ``feedback/<student>/<unit>.html`` - the page a student gets back;
* ``index.html`` - the class page an instructor opens first: links to every feedback page, score
  distributions, a students x questions grid, the named mistakes per question and how many
  students made each, the statuses, and the integrity flags when present;
* ``summary.png`` - the same class at a glance, in one picture;
* ``results.json`` - every result, so that a regrade of a few students or questions merges in;
* the terminal table :func:`format_table` returns.

Grading principle: hidden test cases never reach a file a student sees. The feedback page shows
how many hidden cases of each question passed and nothing else about them - no name, message,
source or expected value. The instructor's one-line ``detail`` stays out of it too, since a grader
error there may quote a hidden test. A hidden case's named mistake (never a value) is counted on
the instructor's class page.
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import html
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import nbformat

from autograder.config import SOLUTIONS, UNITS
from autograder.results import STATUSES, QuestionResult, UnitResult

GRADES_HEADER = ("student", "unit", "score", "max_score", "status")
QUESTIONS_HEADER = ("student", "unit", "question", "score", "max_score")
RESULTS_FILE = "results.json"

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
pre.failed { outline: 3px solid #b3261e; } h3.failed { color: #b3261e; }
.grid td, .grid th { text-align: center; font-size: .85rem; } .grid td.none { color: #999; }
.bar { display: inline-block; height: .8rem; background: #4a6fa5; vertical-align: middle; }
.verdict { font-weight: bold; } .wide { overflow-x: auto; }
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


# --- question titles ------------------------------------------------------------------------

_TITLE = re.compile(r"\*\*\s*(Question\s+[\w.]+?)\.?\s*\*\*")


@functools.lru_cache(maxsize=None)
def question_titles(unit: str, solutions: Path = SOLUTIONS) -> dict[str, str]:
    """question id -> the title the notebook shows ('q4_bilinear' -> 'Question 4.1'), read from
    the markdown after each ``# BEGIN QUESTION`` of the unit's master; {} without a master."""
    try:
        nb = nbformat.read(solutions / f"{unit}.ipynb", as_version=4)
    except (OSError, ValueError):
        return {}
    titles: dict[str, str] = {}
    question = None
    for cell in nb.cells:
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        if cell.cell_type == "raw" and re.match(r"#\s*BEGIN\s+QUESTION", first):
            m = re.search(r"^name:\s*(\S+)", cell.source, re.M)
            question = m.group(1) if m else None
        elif cell.cell_type == "markdown" and question:
            m = _TITLE.search(cell.source)
            if m:
                titles[question] = " ".join(m.group(1).split())
            question = None
    return titles


def _title(titles: dict[str, str], question: str) -> str:
    return titles.get(question, question)


def _in_notebook_order(result: UnitResult, titles: dict[str, str]) -> UnitResult:
    """A shallow copy of ``result`` with its questions in the order the notebook asks them."""
    order = {q: i for i, q in enumerate(titles)}
    return dataclasses.replace(result, questions=sorted(result.questions, key=lambda q: order.get(q.name, len(order))))


# --- feedback HTML --------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value))


def _status_html(result: UnitResult) -> str:
    explanation = STATUS_EXPLANATIONS[result.status].format(unit=result.unit)
    css = "status-ok" if result.status == "ok" else "status-bad"
    return f'<p class="{css}"><strong>Status: {_e(result.status)}</strong> - {_e(explanation)}</p>'


def _failed_cell_html(result: UnitResult) -> str:
    """Which cell stopped the notebook, why, and what the scores count."""
    if result.failed_cell is None:
        return ""
    where = f'<a href="#cell-{result.failed_cell}">cell {result.failed_cell}</a>'
    reason = f": {_e(result.failed_reason)}" if result.failed_reason else ""
    if result.partial_rerun:
        counted = ("The scores below are what the cells before it earn: they were run again in a fresh "
                   "kernel, then the tests.")
    elif any(q.cases for q in result.questions):
        counted = "The cells after it ran too, and are counted."
    else:
        counted = "The tests could not run, so no question earned points."
    return f'<p class="status-bad">Your notebook stopped at {where} (listed under "Your code"){reason}. {counted}</p>'


def _questions_table_html(result: UnitResult, questions_max: dict[str, float] | None,
                          titles: dict[str, str]) -> str:
    """Score / max per question, by the titles the notebook shows; questions the unit has but the
    result lacks read 'not graded'."""
    rows = [(q.name, format_score(q.score), format_score(q.max_score)) for q in result.questions]
    graded = {q.name for q in result.questions}
    rows += [(n, "not graded", format_score(m)) for n, m in (questions_max or {}).items() if n not in graded]
    if not rows:
        return "<p>No question was graded.</p>"
    body = "".join(f'<tr><td><a href="#{_e(n)}">{_e(_title(titles, n))}</a></td><td>{_e(s)}</td><td>{_e(m)}</td></tr>'
                   if n in graded else f"<tr><td>{_e(_title(titles, n))}</td><td>{_e(s)}</td><td>{_e(m)}</td></tr>"
                   for n, s, m in rows)
    return f"<table><tr><th>Question</th><th>Score</th><th>Max</th></tr>{body}</table>"


def _check_cell(code_cells: Sequence[str], question: str) -> int | None:
    """The number of the code cell holding ``grader.check("question")``, if the notebook has one."""
    pattern = re.compile(rf"""\s*grader\.check\(\s*["']{re.escape(question)}["']\s*\)\s*""")
    return next((i for i, src in enumerate(code_cells, 1) if pattern.fullmatch(src)), None)


def _not_reached(result: UnitResult, question: QuestionResult) -> bool:
    """A question whose check comes after the cell that stopped the notebook, and earned nothing."""
    if result.failed_cell is None or question.score > 0 or not result.partial_rerun:
        return False
    cell = _check_cell(result.code_cells, question.name)
    return cell is not None and cell > result.failed_cell


def _question_tests_html(question: QuestionResult, title: str, unanswered: bool, not_reached: bool = False) -> str:
    """What to fix in one question: 'not answered yet', 'not reached', or each failing public
    case's message (once each) and a count of hidden cases - never a hidden case's name or message."""
    verdict = f"{format_score(question.score)} / {format_score(question.max_score)}"
    parts = [f'<h3 id="{_e(question.name)}">{_e(title)} <small>({_e(verdict)})</small></h3>']
    if not_reached:
        parts.append("<p>Not reached: it comes after the cell that stopped your notebook.</p>")
        return "".join(parts)
    if unanswered and question.score == 0:
        parts.append('<p class="fail">Not answered yet: the answer cell still holds <code>...</code>.</p>')
        return "".join(parts)
    public = [c for c in question.cases if not c.hidden]
    failing = Counter(c.message or "this check did not pass" for c in public if not c.passed)
    if failing:
        items = "".join(f"<li><pre>{_e(m)}</pre>{f' ({n} checks)' if n > 1 else ''}</li>" for m, n in failing.items())
        parts.append(f'<p class="fail">Failed checks:</p><ul>{items}</ul>')
    passed_public = sum(c.passed for c in public)
    if passed_public:
        parts.append(f'<p class="pass">{passed_public} of {len(public)} public checks passed.</p>')
    hidden = [c for c in question.cases if c.hidden]
    if hidden:
        parts.append(f"<p>hidden tests: {sum(c.passed for c in hidden)} of {len(hidden)} passed</p>")
    return "".join(parts)


def _code_html(code_cells: Sequence[str], failed_cell: int | None) -> str:
    if not code_cells:
        return ""
    cells = []
    for i, src in enumerate(code_cells, 1):
        mark = ' class="failed"' if i == failed_cell else ""
        note = " - your notebook stopped here" if i == failed_cell else ""
        cells.append(f'<h3 id="cell-{i}"{mark}>Cell {i}{note}</h3><pre{mark}>{_e(src)}</pre>')
    return f"<h2>Your code</h2>{''.join(cells)}"


def _page(title: str, parts: Iterable[str]) -> str:
    """A self-contained page: inline style, no script, nothing fetched from the network."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>\n{_PAGE_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(p for p in parts if p)
        + "\n</body>\n</html>\n"
    )


def feedback_html(result: UnitResult, *, questions_max: dict[str, float] | None = None,
                  titles: dict[str, str] | None = None) -> str:
    """The feedback page of :func:`write_feedback`, as a string."""
    titles = question_titles(result.unit) if titles is None else titles
    result = _in_notebook_order(result, titles)
    title = f"{result.unit}: feedback for {result.student}"
    parts = [
        f"<h1>{_e(title)}</h1>",
        _status_html(result),
        _failed_cell_html(result),
        f"<p><strong>Total: {format_score(result.score)} / {format_score(result.max_score)}</strong></p>",
    ]
    if result.warnings:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(w)}</li>" for w in result.warnings) + "</ul>")
    parts += ["<h2>Questions</h2>", _questions_table_html(result, questions_max, titles)]
    if any(q.cases for q in result.questions):
        unanswered = set(result.unanswered)
        full = [f'<a href="#{_e(q.name)}">{_e(_title(titles, q.name))}</a>' for q in result.questions if q.full_marks]
        if full:
            parts.append(f'<p class="pass">Full marks: {", ".join(full)}.</p>')
        parts.append("<h2>What to look at</h2>" + "".join(
            _question_tests_html(q, _title(titles, q.name), q.name in unanswered, _not_reached(result, q))
            for q in result.questions if not q.full_marks))
    parts.append(_code_html(result.code_cells, result.failed_cell))
    return _page(title, parts)


def write_feedback(result: UnitResult, path: Path | str, *, questions_max: dict[str, float] | None = None,
                   titles: dict[str, str] | None = None) -> None:
    """A self-contained HTML page for one student and unit, safe to hand to the student.

    ``questions_max`` (question name -> max points) lists the unit's questions, so a page for a
    result without them (missing, crashed early, ...) still shows what there was to earn.
    ``titles`` maps question ids to the notebook's titles (default: read from the unit's master).
    """
    _prepare(path).write_text(feedback_html(result, questions_max=questions_max, titles=titles), encoding="utf-8")


def unit_questions_max(results: Iterable[UnitResult]) -> dict[str, dict[str, float]]:
    """unit -> {question: max points}, from whichever results graded each question."""
    out: dict[str, dict[str, float]] = {}
    for r in results:
        for q in r.questions:
            unit = out.setdefault(r.unit, {})
            unit[q.name] = max(unit.get(q.name, 0.0), q.max_score)
    return out


# --- what the class did -----------------------------------------------------------------------


def needs_a_look(result: UnitResult) -> bool:
    """A result an instructor should open: not ``ok``, or under half the points."""
    return result.status != "ok" or (result.max_score > 0 and result.score < 0.5 * result.max_score)


def unit_verdict(results: Sequence[UnitResult], unit: str) -> str:
    """'01_layers: mean 41.2 / 65, median 52 / 65 over 9 notebooks run; 5 of 12 need a look'."""
    mine = [r for r in results if r.unit == unit]
    ran = [r.score for r in mine if r.executed]
    max_score = max((r.max_score for r in mine), default=0.0)
    look = sum(needs_a_look(r) for r in mine)
    if not ran:
        return f"{unit}: no notebook ran; {look} of {len(mine)} need a look"
    return (f"{unit}: mean {format_score(round(statistics.mean(ran), 1))} / {format_score(max_score)}, "
            f"median {format_score(statistics.median(ran))} / {format_score(max_score)} over {len(ran)} "
            f"notebook{'s' if len(ran) != 1 else ''} run; {look} of {len(mine)} need a look")


def question_mistakes(results: Sequence[UnitResult]) -> dict[tuple[str, str], Counter]:
    """(unit, question) -> Counter of named mistakes -> how many students made each.

    A student counts once per mistake and question, hidden cases included (only the mistake's
    name is used, never a message). 'not answered yet' counts untouched answers.
    """
    out: dict[tuple[str, str], Counter] = {}
    for r in results:
        unanswered = set(r.unanswered)
        for q in r.questions:
            counter = out.setdefault((r.unit, q.name), Counter())
            if q.name in unanswered and q.score == 0:
                counter["not answered yet"] += 1
                continue
            names = {c.mistake for c in q.cases if not c.passed and c.mistake}
            counter.update(names)
    return out


def question_means(results: Sequence[UnitResult]) -> list[tuple[str, str, float, int]]:
    """(unit, question, mean fraction of its points, students counted), units in course order.

    Only notebooks that ran to the end and answered the question count: a blank or crashed
    notebook says nothing about how hard a question is.
    """
    tally: dict[tuple[str, str], list[float]] = {}
    for r in sorted(results, key=lambda r: unit_sort_key(r.unit)):
        if r.status != "ok":
            continue
        for q in r.questions:
            fractions = tally.setdefault((r.unit, q.name), [])
            if q.max_score > 0 and not (q.name in r.unanswered and q.score == 0):
                fractions.append(q.score / q.max_score)
    def order(key: tuple[str, str]) -> tuple:
        titles = list(question_titles(key[0]))
        return unit_sort_key(key[0]), titles.index(key[1]) if key[1] in titles else len(titles), key[1]

    return [(u, q, statistics.mean(tally[u, q]) if tally[u, q] else float("nan"), len(tally[u, q]))
            for u, q in sorted(tally, key=order)]


# --- summary figure -------------------------------------------------------------------------


def _score_fractions(results: Sequence[UnitResult]) -> dict[str, list[float]]:
    """unit -> score/max of each notebook that was run; units in course order, only those present."""
    graded = [r for r in results if r.executed and r.max_score > 0]
    return {u: [r.score / r.max_score for r in graded if r.unit == u] for u in _units_present(graded)}


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
    ax.set_title("Score distribution per unit (notebooks that ran)")


def _draw_question_means(fig, ax, means: list[tuple[str, str, float, int]]) -> None:
    if not means:
        ax.text(0.5, 0.5, "no per-question scores", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    values = [[mean] for _, _, mean, _ in means]
    image = ax.imshow(values, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    for row, (_, _, mean, n) in enumerate(means):
        text = "-" if n == 0 else f"{mean:.0%}"
        colour = "white" if n and (mean < 0.2 or mean > 0.85) else "black"  # the map is dark at both ends
        ax.text(0, row, text, ha="center", va="center", fontsize=8, color=colour)
    ax.set_yticks(range(len(means)))
    ax.set_yticklabels([f"{u} {_title(question_titles(u), q)} (n={n})" for u, q, _, n in means], fontsize=7)
    ax.set_xticks([])
    ax.set_title("Mean share of the points\n(ran to the end, answered)", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.2, pad=0.04, format=lambda v, _: f"{v:.0%}")


def _draw_mistakes(ax, mistakes: dict[tuple[str, str], Counter], limit: int = 15) -> None:
    rows = sorted(((n, f"{_title(question_titles(u), q)}: {name}")
                   for (u, q), counter in mistakes.items() for name, n in counter.items()
                   if name != "not answered yet"), key=lambda t: -t[0])[:limit]
    if not rows:
        ax.text(0.5, 0.5, "no named mistake", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    counts, labels = zip(*reversed(rows))
    ax.barh(range(len(rows)), counts, color="#b3261e")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([label if len(label) < 60 else label[:57] + "..." for label in labels], fontsize=7)
    ax.set_xlabel("students")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Named mistakes (most made first)", fontsize=10)


def write_summary_png(results: Sequence[UnitResult], path: Path | str) -> None:
    """The class at a glance: score distribution per unit, the mean share of each question's
    points (with its colour scale; only notebooks that ran to the end and answered it count), the
    named mistakes and how many students made each, and the statuses in the title.

    Draws "nothing graded" when no notebook was run (no results, or all missing/unreadable).
    """
    # Figure without pyplot: no global figure registry, no GUI backend, safe in any process.
    from matplotlib.figure import Figure

    results = list(results)
    fractions = _score_fractions(results)
    means = question_means(results)
    if not fractions and not means:
        fig = Figure(figsize=(6, 3))
        fig.text(0.5, 0.5, "nothing graded", ha="center", va="center", fontsize=16)
    else:
        fig = Figure(figsize=(16, max(4.5, 1.5 + 0.22 * len(means))), layout="constrained")
        left, middle, right = fig.subplots(1, 3, width_ratios=(3, 2, 3))
        if fractions:
            _draw_distribution(left, fractions)
        else:
            left.text(0.5, 0.5, "nothing graded", ha="center", va="center", transform=left.transAxes)
            left.set_axis_off()
        _draw_question_means(fig, middle, means)
        _draw_mistakes(right, question_mistakes(results))
        counts = Counter(r.status for r in results)
        fig.suptitle("Statuses: " + ", ".join(f"{s} {counts[s]}" for s in STATUSES if counts[s]))
    fig.savefig(_prepare(path), format="png", dpi=100)


# --- class page -----------------------------------------------------------------------------


def _score_colour(fraction: float) -> str:
    """Red (0) through yellow to green (1), light enough for black text."""
    return f"hsl({round(120 * max(0.0, min(1.0, fraction)))}, 70%, 78%)"


def _histogram_html(values: Sequence[float], max_score: float, bins: int = 10) -> str:
    """A bar per tenth of the points: how many notebooks scored in it (plain HTML, no script)."""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(bins * v / max_score)) if max_score > 0 else 0] += 1
    top = max(counts) or 1
    rows = []
    for i, n in enumerate(counts):
        low, high = max_score * i / bins, max_score * (i + 1) / bins
        bar = f'<span class="bar" style="width:{12 * n / top:.1f}rem"></span>'
        rows.append(f"<tr><td>{format_score(low)}-{format_score(high)}</td><td>{bar} {n}</td></tr>")
    return f'<table class="histogram"><tr><th>points</th><th>notebooks</th></tr>{"".join(rows)}</table>'


def _grid_html(results: Sequence[UnitResult], unit: str, out_dir: Path) -> str:
    """Students x questions, each cell coloured by the share of the question's points."""
    mine = sort_results(r for r in results if r.unit == unit)
    titles = question_titles(unit)
    order = {q: i for i, q in enumerate(titles)}
    questions = sorted(unit_questions_max(mine).get(unit, {}), key=lambda q: order.get(q, len(order)))
    head = "".join(f'<th title="{_e(q)}">{_e(_title(titles, q))}</th>' for q in questions)
    rows = []
    for r in mine:
        link = feedback_path(out_dir, r).relative_to(out_dir).as_posix()
        scores = {q.name: q for q in r.questions}
        cells = []
        for name in questions:
            q = scores.get(name)
            if q is None:
                cells.append('<td class="none">-</td>')
                continue
            text = "not answered" if name in r.unanswered and q.score == 0 else format_score(q.score)
            fraction = q.score / q.max_score if q.max_score else 0.0
            cells.append(f'<td style="background:{_score_colour(fraction)}">{_e(text)}</td>')
        css = "status-ok" if r.status == "ok" else "status-bad"
        rows.append(f'<tr><th><a href="{_e(link)}">{_e(r.student)}</a></th><td class="{css}">{_e(r.status)}</td>'
                    f"<td>{format_score(r.score)} / {format_score(r.max_score)}</td>{''.join(cells)}</tr>")
    return (f'<div class="wide"><table class="grid"><tr><th>student</th><th>status</th><th>total</th>{head}</tr>'
            f"{''.join(rows)}</table></div>")


def _mistakes_html(results: Sequence[UnitResult], unit: str) -> str:
    """Per question, each named mistake and how many students made it (most made first)."""
    titles = question_titles(unit)
    items = []
    for (u, question), counter in question_mistakes(results).items():
        if u != unit or not counter:
            continue
        named = "".join(f'<li><span class="mistake">{_e(name)}</span>: <span class="count">{n}</span> '
                        f"student{'s' if n != 1 else ''}</li>" for name, n in counter.most_common())
        items.append(f'<li data-question="{_e(question)}"><strong>{_e(_title(titles, question))}</strong> '
                     f"<small>({_e(question)})</small><ul>{named}</ul></li>")
    if not items:
        return "<p>No named mistake.</p>"
    return f'<ul class="mistakes">{"".join(items)}</ul>'


def _statuses_html(results: Sequence[UnitResult], out_dir: Path) -> str:
    """Counts per status, and each result that needs a look with its one-line detail."""
    counts = Counter(r.status for r in results)
    tally = ", ".join(f"{s} {counts[s]}" for s in STATUSES if counts[s]) or "no result"
    rows = []
    for r in sorted((r for r in results if needs_a_look(r)), key=_table_key):
        link = feedback_path(out_dir, r).relative_to(out_dir).as_posix()
        detail = r.detail
        if r.failed_cell is not None:
            detail = f"cell {r.failed_cell}: {r.failed_reason}" + ("; scored what ran before it" if r.partial_rerun else "")
        rows.append(f'<tr><td><a href="{_e(link)}">{_e(r.student)}</a></td><td>{_e(r.unit)}</td>'
                    f"<td>{format_score(r.score)} / {format_score(r.max_score)}</td><td>{_e(r.status)}</td>"
                    f"<td>{_e(detail)}</td></tr>")
    table = ("<table><tr><th>student</th><th>unit</th><th>score</th><th>status</th><th>why</th></tr>"
             + "".join(rows) + "</table>") if rows else ""
    return f"<p>{_e(tally)}</p>{table}"


def _csv_table(path: Path) -> tuple[int, str]:
    """(rows, an HTML table) of a CSV file the grader wrote; (0, '') when absent or empty."""
    if not path.exists():
        return 0, ""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        return 0, ""
    head = "".join(f"<th>{_e(h)}</th>" for h in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows[1:])
    return len(rows) - 1, f"<table><tr>{head}</tr>{body}</table>"


def _integrity_html(out_dir: Path) -> str:
    """The integrity check's flags (``integrity.csv``) and similar pairs (``similarity.csv``,
    ``similarity.html``) when it wrote them; never a grade."""
    if not any((out_dir / name).exists() for name in ("integrity.csv", "similarity.csv", "similarity.html")):
        return "<p>No integrity check was run.</p>"
    flags, flags_table = _csv_table(out_dir / "integrity.csv")
    pairs, pairs_table = _csv_table(out_dir / "similarity.csv")
    parts = [f'<p><a href="integrity.csv">integrity.csv</a>: {flags} flag(s) for a human look (never a grade).</p>',
             flags_table]
    if (out_dir / "similarity.html").exists() or pairs:
        parts += [f'<p><a href="similarity.html">similarity.html</a>: {pairs} pair(s) of notebooks with '
                  "similar answers.</p>", pairs_table]
    return "".join(parts)


def index_html(results: Sequence[UnitResult], out_dir: Path | str) -> str:
    """The class page of :func:`write_index`, as a string."""
    out_dir = Path(out_dir)
    results = sort_results(results)
    parts = ["<h1>Class report</h1>",
             '<p><a href="grades.csv">grades.csv</a> | <a href="questions.csv">questions.csv</a> | '
             '<a href="summary.png">summary.png</a></p>',
             "<h2>Statuses</h2>", _statuses_html(results, out_dir),
             "<h2>Integrity</h2>", _integrity_html(out_dir)]
    for unit in _units_present(results):
        mine = [r for r in results if r.unit == unit]
        max_score = max(r.max_score for r in mine)
        parts += [f'<h2 id="{_e(unit)}">{_e(unit)}</h2>', f'<p class="verdict">{_e(unit_verdict(results, unit))}</p>',
                  "<h3>Score distribution (notebooks that ran)</h3>",
                  _histogram_html([r.score for r in mine if r.executed], max_score),
                  "<h3>Named mistakes per question</h3>", _mistakes_html(results, unit),
                  "<h3>Students and questions</h3>", _grid_html(results, unit, out_dir)]
    return _page("Class report", parts)


def write_index(results: Sequence[UnitResult], out_dir: Path | str) -> Path:
    """``out_dir/index.html``: the static page an instructor opens first (no server, no script).

    Call it again after writing ``integrity.csv`` / ``similarity.html`` to list them.
    """
    path = _prepare(Path(out_dir) / "index.html")
    path.write_text(index_html(results, out_dir), encoding="utf-8")
    return path


# --- terminal table -------------------------------------------------------------------------

_SEVERITY = {s: i for i, s in enumerate(("crashed", "timeout", "memory", "unreadable", "ambiguous", "missing", "ok"))}


def _table_key(result: UnitResult) -> tuple:
    """Problems first (by status, then lowest share of the points), then by unit and student."""
    share = result.score / result.max_score if result.max_score else 0.0
    return (not needs_a_look(result), _SEVERITY.get(result.status, 0), share, unit_sort_key(result.unit), result.student)


def _note(result: UnitResult) -> str:
    if result.failed_cell is not None:
        return f"cell {result.failed_cell}: {result.failed_reason}" + (" (scored what ran before it)" if result.partial_rerun else "")
    return result.detail


def format_table(results: Sequence[UnitResult]) -> str:
    """One row per result - student, unit, score, max, status, why - problems first; then a
    one-line verdict per unit (mean, median, how many need a look) and the status counts."""
    results = list(results)
    rows = [["student", "unit", "score", "max", "status", "note"]]
    rows += [[r.student, r.unit, format_score(r.score), format_score(r.max_score), r.status, _note(r)[:80]]
             for r in sorted(results, key=_table_key)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(text.ljust(w) for text, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [unit_verdict(results, u) for u in _units_present(results)]
    counts = Counter(r.status for r in results)
    tally = ", ".join(f"{status} {counts[status]}" for status in STATUSES if counts[status])
    lines.append(f"{len(results)} results: {tally}" if results else "0 results")
    return "\n".join(lines)


# --- everything -----------------------------------------------------------------------------


def feedback_path(out_dir: Path | str, result: UnitResult) -> Path:
    """``out_dir/feedback/<student>/<unit>.html`` (names made safe as path components)."""
    return Path(out_dir) / "feedback" / _safe_path_part(result.student) / f"{_safe_path_part(result.unit)}.html"


def read_results(out_dir: Path | str) -> list[UnitResult]:
    """The results a previous run saved in ``out_dir/results.json`` ([] when there is none)."""
    path = Path(out_dir) / RESULTS_FILE
    if not path.exists():
        return []
    return [UnitResult.from_dict(d) for d in json.loads(path.read_text(encoding="utf-8"))]


def merge_results(old: Sequence[UnitResult], new: Sequence[UnitResult],
                  questions: Sequence[str] | None = None) -> list[UnitResult]:
    """``old`` with ``new`` in place of the same (student, unit); with ``questions``, only those
    questions' scores are taken from ``new`` (the rest of the old result is kept, its total
    recomputed). Results only in ``old`` stay as they were."""
    merged = {(r.student, r.unit): r for r in old}
    for r in new:
        before = merged.get((r.student, r.unit))
        if questions is None or before is None:
            merged[(r.student, r.unit)] = r
            continue
        fresh = {q.name: q for q in r.questions if q.name in questions}
        before.questions = [fresh.pop(q.name, q) for q in before.questions] + list(fresh.values())
        before.score = sum(q.score for q in before.questions)
        before.unanswered = sorted((set(before.unanswered) - set(questions)) | (set(r.unanswered) & set(questions)))
    return sort_results(merged.values())


def write_reports(results: Sequence[UnitResult], out_dir: Path | str) -> str:
    """grades.csv, questions.csv, results.json, a feedback page per result, summary.png and
    index.html; returns the terminal table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = sort_results(results)
    write_grades_csv(results, out_dir / "grades.csv")
    write_questions_csv(results, out_dir / "questions.csv")
    (out_dir / RESULTS_FILE).write_text(json.dumps([r.to_dict() for r in results]), encoding="utf-8")
    questions_max = unit_questions_max(results)
    for r in results:
        write_feedback(r, feedback_path(out_dir, r), questions_max=questions_max.get(r.unit))
    write_summary_png(results, out_dir / "summary.png")
    write_index(results, out_dir)
    return format_table(results)
