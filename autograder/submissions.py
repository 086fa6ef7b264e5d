"""Finding and reading students' notebooks: any file shape becomes a status, never an exception.

``SUBMISSIONS/<student>/<unit>.ipynb`` (or a Colab/browser rename of it) is one
:class:`Submission`. A file that is not a notebook, is over :data:`MAX_NOTEBOOK_BYTES`, or holds a
cell of an unexpected shape (a ``source`` that is a number or null, a cell that is not an object)
is ``unreadable`` with a one-line reason the student can act on.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 32 << 20  # a course notebook with its figures is a few MB
SAVED_OUTPUT_WARNING_BYTES = 4 << 20  # saved outputs are never trusted; over this we say so


@dataclass
class Submission:
    student: str
    unit: str
    status: str  # "ok" (to grade), "missing", "ambiguous" or "unreadable"
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    detail: str = ""
    code_chars: int = 0  # how much code it runs: the longest are started first


def candidates(folder: Path, unit: str) -> list[Path]:
    """The unit's notebook, accepting Colab and browser renames (``Copy of X``, ``X (1)``)."""
    pattern = re.compile(rf"^(?:Copy of )?{re.escape(unit)}(?: ?\(\d+\))?\.ipynb$", re.IGNORECASE)
    return sorted(p for p in folder.iterdir() if p.is_file() and pattern.match(p.name))


def _text(source: object) -> str | None:
    """A cell's source as text (a string, or nbformat's list of strings), else None."""
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None


def _cell_problem(index: int, cell: object) -> str:
    if not isinstance(cell, dict):
        return f"cell {index} is a {type(cell).__name__}, not a cell"
    if not isinstance(cell.get("cell_type"), str):
        return f"cell {index} has no cell_type"
    if _text(cell.get("source", "")) is None:
        return f"cell {index}'s source is {type(cell.get('source')).__name__}, not text"
    if cell.get("cell_type") == "code" and not isinstance(cell.get("outputs", []), list):
        return f"cell {index}'s outputs are not a list"
    return ""


def inspect(path: Path) -> tuple[str, int, list[str]]:
    """(why it cannot be graded or '', characters of code, warnings) for the notebook at ``path``."""
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            return (f"the notebook is {size / 2**20:.0f} MB, over the {MAX_NOTEBOOK_BYTES >> 20} MB limit: "
                    "clear its outputs and submit it again"), 0, []
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        return f"not a notebook: {type(e).__name__}: {str(e)[:200]}", 0, []
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return "not a notebook: no list of cells", 0, []
    if not isinstance(data.get("nbformat"), int) or data["nbformat"] < 4:
        return "not a notebook: nbformat 4 or later expected (save it again from Jupyter or Colab)", 0, []
    for index, cell in enumerate(data["cells"], 1):
        problem = _cell_problem(index, cell)
        if problem:
            return f"not a notebook: {problem}", 0, []
    try:
        import nbformat

        nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a status, not a crash
        return f"not a notebook: {type(e).__name__}: {str(e)[:200]}", 0, []
    code = [c for c in data["cells"] if c["cell_type"] == "code"]
    outputs = len(json.dumps([c.get("outputs", []) for c in code]))
    warnings = ([f"its saved outputs ({outputs / 2**20:.0f} MB) were ignored: only the code is run"]
                if outputs > SAVED_OUTPUT_WARNING_BYTES else [])
    return "", sum(len(_text(c.get("source", ""))) for c in code), warnings


def readable(path: Path) -> tuple[str, int]:
    """('', characters of code) when ``path`` is a notebook we can execute, else (why not, 0)."""
    why, chars, _ = inspect(path)
    return why, chars


def discover(root: Path, units: list[str]) -> list[Submission]:
    """One :class:`Submission` per student folder and unit."""
    if not root.is_dir():
        raise SystemExit(f"submissions folder {root} does not exist")
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for unit in units:
            paths = candidates(folder, unit)
            if not paths:
                found.append(Submission(folder.name, unit, "missing", detail=f"no {unit}.ipynb"))
            elif len(paths) > 1:
                found.append(Submission(folder.name, unit, "ambiguous",
                                        detail="several candidates: " + ", ".join(p.name for p in paths)))
            else:
                (path,) = paths
                why, code_chars, warnings = inspect(path)
                if path.name != f"{unit}.ipynb":
                    warnings.insert(0, f"graded {path.name!r} (a renamed copy)")
                found.append(Submission(folder.name, unit, "unreadable" if why else "ok", path, warnings, why,
                                        code_chars))
    return found


def code_cells(path: Path | None) -> list[str]:
    """The notebook's code cells as text ([] when it cannot be read)."""
    if path is None:
        return []
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return []
        data = json.loads(path.read_bytes())
        return [text for c in data["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"
                for text in [_text(c.get("source", ""))] if text is not None]
    except (OSError, ValueError, RecursionError, KeyError, TypeError):
        return []
