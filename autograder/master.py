"""Read a master notebook (otter-assign format) into questions, solutions and tests.

The format, as instructors write it in ``solutions/NN.ipynb``:

* a raw cell ``# ASSIGNMENT CONFIG`` first (YAML; ``name`` is the unit id);
* per question, raw cells ``# BEGIN QUESTION`` (YAML: ``name``, ``points`` - a list, one entry
  per test cell) ... ``# END QUESTION``;
* inside it, code between raw ``# BEGIN SOLUTION`` / ``# END SOLUTION`` cells, with the answer
  lines themselves between ``# BEGIN SOLUTION`` / ``# END SOLUTION`` comments;
* and test cells between raw ``# BEGIN TESTS`` / ``# END TESTS`` cells, each one function
  ``def test_...(names, from, the, notebook):`` that raises on a wrong answer. A test is hidden
  when its cell starts with a ``# BEGIN TEST CONFIG`` docstring saying ``hidden: true``.
"""
from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

SOLUTION_LINE = re.compile(r"^(\s*)([^#\n]+?)\s*=\s*(.+?)\s*#\s*SOLUTION\s*$", re.M)
TEST_CONFIG = re.compile(r'^\s*"""\s*#\s*BEGIN TEST CONFIG(.*?)"""\s*#\s*END TEST CONFIG\s*\n', re.S)


class MasterError(ValueError):
    """A master notebook that does not follow the format; the message names the cell."""


@dataclass
class TestCell:
    function: str  # name of the test function
    args: list[str]  # notebook variables it receives
    body: str  # the function definition, config docstring removed
    hidden: bool
    points: float
    cell_index: int


@dataclass
class Question:
    name: str
    points: list[float]
    tests: list[TestCell] = field(default_factory=list)
    solution_cells: list[int] = field(default_factory=list)

    @property
    def max_score(self) -> float:
        return float(sum(t.points for t in self.tests))


@dataclass
class Master:
    unit: str
    path: Path
    nb: nbformat.NotebookNode
    assignment_config: dict
    questions: list[Question]

    def copy(self) -> nbformat.NotebookNode:
        return copy.deepcopy(self.nb)

    @property
    def max_score(self) -> float:
        return sum(q.max_score for q in self.questions)


def raw_directive(cell) -> str | None:
    """``'BEGIN QUESTION'`` for a raw cell starting ``# BEGIN QUESTION``, else None."""
    if cell.cell_type != "raw":
        return None
    first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
    m = re.match(r"#\s*((?:BEGIN|END)\s+\w+|ASSIGNMENT CONFIG)\s*$", first)
    return " ".join(m.group(1).split()) if m else None


def raw_yaml(cell) -> dict:
    body = "\n".join(cell.source.strip().splitlines()[1:])
    data = yaml.safe_load(body) if body.strip() else {}
    return data or {}


def parse_test(source: str, where: str) -> tuple[str, list[str], str, dict]:
    config: dict = {}
    m = TEST_CONFIG.match(source)
    if m:
        config = yaml.safe_load(m.group(1)) or {}
        source = source[m.end():]
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise MasterError(f"{where}: test cell is not valid Python ({e})") from None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        raise MasterError(f"{where}: a test cell holds exactly one `def test_...(...)` function")
    fn = tree.body[0]
    return fn.name, [a.arg for a in fn.args.args], source.strip() + "\n", config


def _targets(node: ast.AST) -> set[str]:
    """Names an assignment target binds (``a``, ``a, (b, *c)``; not ``a.x`` or ``a[0]``)."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, (ast.Tuple, ast.List)):
        return set().union(*(_targets(e) for e in node.elts)) if node.elts else set()
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return set()


def bound_names(source: str) -> set[str] | None:
    """Global names a code cell binds, or None when that cannot be told (a star import, magics)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names: set[str] = set()
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue  # their bodies bind local names
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names |= _targets(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            names |= _targets(node.target)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            names |= _targets(node.target)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    names |= _targets(item.optional_vars)
        elif isinstance(node, ast.Try):
            names |= {h.name for h in node.handlers if h.name}
        for child in ast.iter_child_nodes(node):  # nested blocks of if/for/while/with/try
            if isinstance(child, ast.stmt):
                stack.append(child)
            elif isinstance(child, ast.ExceptHandler):
                stack.extend(child.body)
        for sub in ast.walk(node) if isinstance(node, ast.stmt) else ():
            if isinstance(sub, ast.NamedExpr):
                names |= _targets(sub.target)
    return names


def read_master(path: Path) -> Master:
    """Parse and validate ``path``; raises :class:`MasterError` naming the offending cell."""
    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear error
        raise MasterError(f"{path}: not a readable notebook ({e})") from None
    if not nb.cells or raw_directive(nb.cells[0]) != "ASSIGNMENT CONFIG":
        raise MasterError(f"{path}: the first cell must be a raw '# ASSIGNMENT CONFIG' cell")
    if "kernelspec" not in nb.metadata:
        raise MasterError(f"{path}: notebook metadata has no kernelspec")
    settings = raw_yaml(nb.cells[0])
    unit = path.stem
    if settings.get("name", unit) != unit:
        raise MasterError(f"{path}: ASSIGNMENT CONFIG name {settings['name']!r} differs from the file stem")

    questions: list[Question] = []
    question: Question | None = None
    region: str | None = None  # "SOLUTION" or "TESTS" while inside one
    # Names the notebook has bound so far (None: unknown, e.g. after a star import). A test may only
    # take names bound before it: otter hands a check the notebook's globals at that point.
    bound: set[str] | None = set()
    for i, cell in enumerate(nb.cells[1:], start=1):
        where = f"{path.name} cell {i}"
        directive = raw_directive(cell)
        if cell.cell_type == "code" and region != "TESTS" and bound is not None:
            names = bound_names(cell.source)
            bound = None if names is None else bound | names
        if directive == "BEGIN QUESTION":
            if question is not None:
                raise MasterError(f"{where}: BEGIN QUESTION inside question {question.name!r}")
            meta = raw_yaml(cell)
            points = meta.get("points")
            if "name" not in meta or not isinstance(points, list):
                raise MasterError(f"{where}: a question needs `name` and a `points` list (one per test)")
            question = Question(meta["name"], [float(p) for p in points])
        elif directive == "END QUESTION":
            if question is None or region is not None:
                raise MasterError(f"{where}: END QUESTION without an open question")
            if len(question.tests) != len(question.points):
                raise MasterError(f"{where}: question {question.name!r} has {len(question.tests)} "
                                  f"tests but {len(question.points)} points entries")
            questions.append(question)
            question = None
        elif directive in ("BEGIN SOLUTION", "BEGIN TESTS"):
            if question is None or region is not None:
                raise MasterError(f"{where}: {directive} outside a question or inside another region")
            region = directive.split()[1]
        elif directive in ("END SOLUTION", "END TESTS"):
            if region != directive.split()[1]:
                raise MasterError(f"{where}: {directive} without its BEGIN")
            region = None
        elif directive is not None:
            raise MasterError(f"{where}: unknown directive {directive!r}")
        elif region == "SOLUTION" and cell.cell_type == "code":
            if "# BEGIN SOLUTION" not in cell.source and not SOLUTION_LINE.search(cell.source):
                raise MasterError(f"{where}: a solution cell marks its answer with # BEGIN/END SOLUTION "
                                  "or a `name = value  # SOLUTION` line")
            for m in SOLUTION_LINE.finditer(cell.source):
                if "=" in m.group(3) or "," in m.group(2):
                    raise MasterError(f"{where}: `{m.group(0).strip()}`: a one-line answer assigns one name "
                                      "and its value has no '=' (otter would blank the whole line); "
                                      "use # BEGIN/END SOLUTION")
            question.solution_cells.append(i)
        elif region == "TESTS":
            if cell.cell_type != "code":
                raise MasterError(f"{where}: only code cells may sit between BEGIN and END TESTS")
            name, args, body, cfg = parse_test(cell.source, where)
            unbound = [a for a in args if bound is not None and a not in bound]
            if unbound:
                raise MasterError(f"{where}: test {name} takes {', '.join(unbound)}, which no cell before "
                                  f"question {question.name!r}'s tests defines (otter would pass None)")
            k = len(question.tests)
            if k >= len(question.points):
                raise MasterError(f"{where}: more tests than `points` entries in {question.name!r}")
            question.tests.append(TestCell(name, args, body, bool(cfg.get("hidden", False)),
                                           question.points[k], i))
    if question is not None or region is not None:
        raise MasterError(f"{path}: a question or region is not closed at the end of the notebook")
    names = [q.name for q in questions]
    if len(set(names)) != len(names):
        raise MasterError(f"{path}: question names repeat: {names}")
    return Master(unit, path, nb, settings, questions)
