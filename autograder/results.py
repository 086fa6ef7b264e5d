"""What grading one student's notebook for one unit produced: the data every report is written from.

The grader runs each notebook in its own process and hands the result back as JSON, so every
class here round-trips through :meth:`to_dict` / :meth:`from_dict` (plain dicts, lists, strings
and numbers only).

Hidden test cases travel in these objects, message and all, because the instructor's reports
need them; it is :mod:`autograder.reports` that keeps them out of anything a student sees.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Why a notebook has the score it has. Only "ok" means the notebook ran to the end.
STATUSES = ("ok", "timeout", "crashed", "memory", "unreadable", "ambiguous", "missing")

# Statuses where the notebook was started (and may have partial scores); in the others
# there was no notebook to run, so there is nothing to show but what to fix.
EXECUTED_STATUSES = ("ok", "timeout", "crashed", "memory")


@dataclass
class CaseResult:
    """One test case of a question.

    ``message`` is the public failure text ('' when the case passed). For a hidden case it may
    contain expected values, so it is never written to a student's feedback.
    """

    name: str
    question: str
    points: float
    max_points: float
    hidden: bool
    passed: bool
    message: str
    # The likely mistake the check named ("padding on one side only"), never a value: safe to
    # count across the class even for a hidden case.
    mistake: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        """The inverse of :meth:`to_dict`; an unknown or missing key raises ``TypeError``."""
        case = cls(**data)
        # JSON writes 3.0 as 3; floats everywhere keep a round trip equal to the original.
        case.points, case.max_points = float(case.points), float(case.max_points)
        return case


@dataclass
class QuestionResult:
    """The score of one question and the test cases that made it."""

    name: str
    score: float
    max_score: float
    cases: list[CaseResult]

    @property
    def full_marks(self) -> bool:
        """Whether the question earned all its points (with slack for float sums of case points)."""
        return self.max_score > 0 and self.score >= self.max_score - 1e-9

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuestionResult:
        """The inverse of :meth:`to_dict`."""
        data = dict(data)
        cases = [CaseResult.from_dict(c) for c in data.pop("cases")]
        question = cls(cases=cases, **data)
        question.score, question.max_score = float(question.score), float(question.max_score)
        return question


@dataclass
class UnitResult:
    """Everything grading one student's notebook for one unit produced."""

    student: str
    unit: str
    status: str
    score: float
    max_score: float
    questions: list[QuestionResult] = field(default_factory=list)
    code_cells: list[str] = field(default_factory=list)  # the student's code, in order, as submitted
    warnings: list[str] = field(default_factory=list)  # e.g. "graded 'Copy of 01_layers.ipynb' (renamed by Colab)"
    detail: str = ""  # why the status is not ok, in one line for the instructor
    seconds: float = 0.0
    # The code cell (1-based, counting the submitted notebook's code cells as the feedback lists
    # them) that was running when the kernel died or the time ran out, and why it stopped.
    failed_cell: int | None = None
    failed_reason: str = ""
    # True when the scores come from re-running only the cells before ``failed_cell``.
    partial_rerun: bool = False
    unanswered: list[str] = field(default_factory=list)  # questions whose answer cells still hold `...`

    def __post_init__(self) -> None:
        # A misspelt status would silently fall out of every count and explanation.
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; expected one of {', '.join(STATUSES)}")

    @property
    def executed(self) -> bool:
        """Whether the notebook was run at all (as opposed to missing, unreadable or ambiguous)."""
        return self.status in EXECUTED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``json.dumps`` takes it as is)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnitResult:
        """The inverse of :meth:`to_dict`; raises ``TypeError`` / ``ValueError`` on a malformed dict."""
        data = dict(data)
        questions = [QuestionResult.from_dict(q) for q in data.pop("questions", [])]
        result = cls(questions=questions, **data)
        result.score, result.max_score = float(result.score), float(result.max_score)
        result.seconds = float(result.seconds)
        result.code_cells, result.warnings = list(result.code_cells), list(result.warnings)
        result.unanswered = list(result.unanswered)
        return result
