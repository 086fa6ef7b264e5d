"""Integrity flags for the instructor: what in a submission's code deserves a human look.

Two reports, neither of which ever changes a score:

* ``integrity.csv`` (student, unit, cell, question, rule, excerpt): an AST scan of every answer cell
  (a code cell that is not, character for character, a cell of the released notebook) for the rules
  of :data:`RULES` - monkeypatching, IPython hooks, frame and heap introspection, private torch entry
  points, threads and subprocesses, files read outside the notebook's folder, comparison overrides,
  a reference routine's code as the answer, and by-hand answers computed with a routine their
  question's declaration (:mod:`helpers.shortcuts`) rules out;
* ``similarity.html``: pairs of students whose answer cells of a unit are alike, found by
  ``copydetect`` (winnowing over tokens) with the released notebook's code as boilerplate.

:func:`integrity_rows` and :func:`similar_pairs` read both back for the class page.
"""
from __future__ import annotations

import ast
import csv
import inspect
import re
import tempfile
import textwrap
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Iterable

import nbformat

from autograder import config

INTEGRITY_FILE = "integrity.csv"
SIMILARITY_FILE = "similarity.html"
FIELDS = ("student", "unit", "cell", "question", "rule", "excerpt")

# copydetect's similarity: the share of a student's answer tokens (after the released notebook's
# own code is removed) found in the other's. Pairs at or above it are listed (both directions are
# computed; the larger one counts). 0.6 leaves out two students who only share the short formulas
# every correct answer contains. See README, "What a grade means".
SIMILARITY_THRESHOLD = 0.6
NOISE_TOKENS, GUARANTEE_TOKENS = 15, 20  # shorter matches are ignored; longer ones always found

RULES = {
    "monkeypatch": "assigns to an attribute of torch, numpy, math, builtins, helpers or otter",
    "ipython-hook": "installs an IPython hook (ast_transformers, input_transformers, events, set_custom_exc, showtraceback)",
    "introspection": "reads frames or the heap (sys._getframe, inspect.stack, gc.get_objects/get_referrers)",
    "private-torch": "uses a private torch entry point (torch._C, torch.ops, torch.utils._python_dispatch)",
    "thread-or-process": "starts threads or processes (threading, multiprocessing, subprocess, os.system)",
    "file-outside": "reads a file outside the notebook's folder",
    "comparison-override": "defines __eq__/__hash__/comparisons on a class (its instances could pass any check)",
    "reference-code": "an answer with the code of a course reference routine (copied or rebuilt from __code__)",
    "by-hand-computed": "a by-hand answer computed with a routine its question rules out",
}

_PATCHED_ROOTS = {"torch", "numpy", "math", "builtins", "__builtins__", "helpers", "otter", "torchvision",
                  "checks", "grader", "statistics", "time", "sys"}
_HOOKS = {"ast_transformers", "input_transformers_cleanup", "input_transformers_post", "set_custom_exc",
          "showtraceback", "showsyntaxerror", "register_magic_function", "input_splitter"}
_INTROSPECTION = {("sys", "_getframe"), ("inspect", "stack"), ("inspect", "currentframe"), ("inspect", "getouterframes"),
                  ("gc", "get_objects"), ("gc", "get_referrers"), ("gc", "get_referents"), ("sys", "_current_frames")}
_FRAME_ATTRS = {"f_back", "f_globals", "f_locals", "tb_frame", "gi_frame", "cr_frame"}
_CONCURRENCY = {"threading", "_thread", "multiprocessing", "subprocess", "concurrent", "pty"}
_OS_PROCESS = {"system", "popen", "fork", "forkpty", "execv", "execve", "execl", "execvp", "spawnv", "spawnl",
               "posix_spawn", "startfile"}
_COMPARISONS = {"__eq__", "__ne__", "__hash__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__",
                "__instancecheck__", "__subclasscheck__", "__index__", "__float__", "__int__"}
_READERS = {"open", "read_text", "read_bytes", "load", "loadtxt", "listdir", "scandir", "glob", "iterdir",
            "read_csv", "imread", "Path"}


@dataclass(frozen=True)
class Flag:
    student: str
    unit: str
    cell: int
    question: str
    rule: str
    excerpt: str


# --- the AST scan --------------------------------------------------------------------------

def _dotted(node: ast.AST) -> list[str]:
    """``torch.utils._python_dispatch.x`` -> ['torch', 'utils', '_python_dispatch', 'x'] ([] otherwise)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + parts[::-1]
    return []


class _Scanner(ast.NodeVisitor):
    """Collects (rule, node) for one cell; ``aliases`` maps names bound by imports to modules."""

    def __init__(self, aliases: dict[str, str], by_hand: set[str]):
        self.aliases, self.by_hand = aliases, by_hand
        self.found: list[tuple[str, ast.AST]] = []

    def root(self, parts: list[str]) -> list[str]:
        if not parts:
            return parts
        return self.aliases.get(parts[0], parts[0]).split(".") + parts[1:]

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self._module_used(a.name, node)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self._module_used(module, node)
        for a in node.names:
            self._module_used(f"{module}.{a.name}", node)
        self.generic_visit(node)

    def _module_used(self, dotted: str, node: ast.AST) -> None:
        parts = dotted.split(".")
        if parts[0] in _CONCURRENCY:
            self.found.append(("thread-or-process", node))
        elif self._private_torch(parts):
            self.found.append(("private-torch", node))
        elif tuple(parts[:2]) in _INTROSPECTION:
            self.found.append(("introspection", node))

    @staticmethod
    def _private_torch(parts: list[str]) -> bool:
        return (len(parts) > 1 and parts[0] == "torch"
                and (parts[1] == "ops" or any(p.startswith("_") and not p.startswith("__") for p in parts[1:])))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        parts = self.root(_dotted(node))
        if self._private_torch(parts):
            self.found.append(("private-torch", node))
            return  # one flag per expression
        if node.attr in _HOOKS or (node.attr == "register" and isinstance(node.value, ast.Attribute)
                                   and node.value.attr == "events"):
            self.found.append(("ipython-hook", node))
        elif tuple(parts[-2:]) in _INTROSPECTION or node.attr in _FRAME_ATTRS:
            self.found.append(("introspection", node))
        elif parts and parts[0] == "os" and node.attr in _OS_PROCESS:
            self.found.append(("thread-or-process", node))
        elif node.attr == "__code__" or (parts[:2] == ["types", "FunctionType"]):
            self.found.append(("reference-code", node))
        self.generic_visit(node)

    def _target(self, target: ast.AST, node: ast.AST) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._target(t, node)
            return
        parts = self.root(_dotted(target)) if isinstance(target, ast.Attribute) else []
        if parts and parts[0] in _PATCHED_ROOTS:
            self.found.append(("monkeypatch", node))
        elif isinstance(target, ast.Attribute) and target.attr in _HOOKS:
            self.found.append(("ipython-hook", node))

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._target(t, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self._target(t, node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        parts = self.root(_dotted(node.func))
        name = parts[-1] if parts else ""
        if name in ("setattr", "delattr") and node.args:
            obj = self.root(_dotted(node.args[0]))
            if obj and obj[0] in _PATCHED_ROOTS:
                self.found.append(("monkeypatch", node))
        if parts and parts[0] == "__import__" or name == "import_module":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                self._module_used(arg.value, node)
        if name in _READERS and _outside_path(node):
            self.found.append(("file-outside", node))
        if name in self.by_hand:
            self.found.append(("by-hand-computed", node))
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in _COMPARISONS:
                self.found.append(("comparison-override", item))
            elif isinstance(item, ast.Assign) and any(isinstance(t, ast.Name) and t.id in _COMPARISONS
                                                      for t in item.targets):
                self.found.append(("comparison-override", item))
        self.generic_visit(node)


def _outside_path(call: ast.Call) -> bool:
    """A literal path argument that leaves the notebook's folder: absolute, home, or '..'."""
    for arg in list(call.args) + [k.value for k in call.keywords]:
        if isinstance(arg, ast.JoinedStr):
            arg = arg.values[0] if arg.values else arg
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            path = arg.value
            if path.startswith(("/", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", path) or ".." in Path(path).parts:
                return True
    return False


def _aliases(trees: Iterable[ast.AST]) -> dict[str, str]:
    """Names bound by imports anywhere in the notebook -> the dotted module or object they name."""
    out: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


# --- answers that are a reference routine ----------------------------------------------------

class _Normalise(ast.NodeTransformer):
    """Docstrings, annotations, the function's name and every local name replaced by position."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_FunctionDef(self, node):
        node.name, node.returns, node.decorator_list = "f", None, []
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:] or [ast.Pass()]
        node.body = body
        self.generic_visit(node)
        return node

    def visit_arg(self, node):
        node.arg, node.annotation = self._name(node.arg), None
        return node

    def visit_Name(self, node):
        node.id = self._name(node.id)
        return node


def _normalised(fn: ast.AST) -> str:
    return ast.dump(_Normalise().visit(ast.parse(ast.unparse(fn)).body[0]))


def _reference_shapes() -> dict[str, str]:
    """normalised AST -> dotted name, for every routine a declaration protects (long enough to matter)."""
    from helpers import shortcuts

    shapes: dict[str, str] = {}
    for question in shortcuts.DECLARATIONS:
        for routine in shortcuts.routines(question):
            members = [routine] if not inspect.isclass(routine) else [
                f for f in vars(routine).values() if inspect.isfunction(f)]
            for f in members:
                try:
                    tree = ast.parse(textwrap.dedent(inspect.getsource(f))).body[0]
                except (OSError, TypeError, SyntaxError):
                    continue
                if sum(1 for _ in ast.walk(tree)) >= 40:
                    shapes[_normalised(tree)] = f"{f.__module__}.{f.__qualname__}"
    return shapes


# --- one notebook --------------------------------------------------------------------------

def _check_question(source: str) -> str | None:
    m = re.match(r"\s*grader\.check\(\s*[\"'](\w+)[\"']\s*\)\s*$", source)
    return m.group(1) if m else None


def answer_cells(nb, released) -> list[tuple[int, str, str]]:
    """(cell index, question, source) of the code cells the student wrote or changed; the question
    is the one of the next ``grader.check`` cell ('' after the last one)."""
    template = {c.source.strip() for c in released.cells if c.cell_type == "code"}
    cells = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    out, question_of = [], {}
    upcoming = ""
    for i, source in reversed(cells):
        upcoming = _check_question(source) or upcoming
        question_of[i] = upcoming
    for i, source in cells:
        if source.strip() and source.strip() not in template and _check_question(source) is None:
            out.append((i, question_of[i], source))
    return out


def scan_notebook(nb, released, student: str, unit: str, references: dict[str, str] | None = None) -> list[Flag]:
    """Every flag of one submission (its answer cells only; the released code is never flagged)."""
    from helpers import shortcuts

    references = _reference_shapes() if references is None else references
    trees = []
    for c in nb.cells:
        if c.cell_type == "code":
            try:
                trees.append(ast.parse(_strip_magics(c.source)))
            except SyntaxError:
                pass
    aliases = _aliases(trees)
    flags: list[Flag] = []
    for index, question, source in answer_cells(nb, released):
        try:
            tree = ast.parse(_strip_magics(source))
        except SyntaxError:
            continue
        by_hand: set[str] = set()
        key = f"{unit}/{question}"
        if question and key in shortcuts.DECLARATIONS and shortcuts.declaration(key).kind == "by hand":
            by_hand = shortcuts.forbidden_names(key)
        scanner = _Scanner(aliases, by_hand)
        scanner.visit(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and _normalised(node) in references:
                scanner.found.append(("reference-code", node))
        seen = set()
        for rule, node in scanner.found:
            excerpt = " ".join((ast.get_source_segment(source, node) or "").split())[:100]
            if (rule, excerpt) not in seen:
                seen.add((rule, excerpt))
                flags.append(Flag(student, unit, index, question, rule, excerpt))
    return flags


def _strip_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def released_notebook(unit: str):
    return nbformat.read(config.NOTEBOOKS / f"{unit}.ipynb", as_version=4)


def scan_submissions(submissions: Iterable) -> list[Flag]:
    """Flags of every readable submission (``autograder.submissions.Submission``), in order."""
    references = _reference_shapes()
    released: dict[str, object] = {}
    flags: list[Flag] = []
    for sub in submissions:
        if getattr(sub, "status", "ok") != "ok" or sub.path is None:
            continue
        if sub.unit not in released:
            released[sub.unit] = released_notebook(sub.unit)
        try:
            nb = nbformat.read(sub.path, as_version=4)
        except Exception:  # noqa: BLE001 - an unreadable notebook is the grader's status, not a flag
            continue
        flags += scan_notebook(nb, released[sub.unit], sub.student, sub.unit, references)
    return flags


def write_integrity_csv(flags: Iterable[Flag], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(FIELDS)
        writer.writerows(astuple(flag) for flag in flags)


def integrity_rows(out: Path) -> list[dict[str, str]]:
    """The rows of ``out/integrity.csv`` (empty when there is none), for the class page."""
    path = Path(out) / INTEGRITY_FILE
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --- similarity (copydetect) ---------------------------------------------------------------

@dataclass(frozen=True)
class Pair:
    unit: str
    student_a: str
    student_b: str
    similarity: float  # the larger of copydetect's two directed similarities


def _answers_file(nb, released) -> str:
    return "\n\n".join(f"# cell {i} ({q or 'no question'})\n{_strip_magics(s)}" for i, q, s in answer_cells(nb, released))


def write_similarity(submissions: Iterable, out: Path, threshold: float = SIMILARITY_THRESHOLD) -> list[Pair]:
    """``out/similarity.html``: copydetect over each unit's answer cells, the released notebook's
    code as boilerplate; returns the pairs at or above ``threshold``."""
    from copydetect import CopyDetector

    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="cnn-course-similarity-") as tmp:
        root, boiler = Path(tmp) / "answers", Path(tmp) / "released"
        boiler.mkdir(parents=True)
        units = set()
        for sub in submissions:
            if getattr(sub, "status", "ok") != "ok" or sub.path is None:
                continue
            released = released_notebook(sub.unit)
            if sub.unit not in units:
                units.add(sub.unit)
                code = "\n\n".join(c.source for c in released.cells if c.cell_type == "code")
                (boiler / f"{sub.unit}.py").write_text(_strip_magics(code), encoding="utf-8")
            try:
                nb = nbformat.read(sub.path, as_version=4)
            except Exception:  # noqa: BLE001
                continue
            folder = root / sub.student
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{sub.unit}.py").write_text(_answers_file(nb, released), encoding="utf-8")
        if not root.exists():
            (out / SIMILARITY_FILE).write_text("<p>No submissions to compare.</p>", encoding="utf-8")
            return []
        detector = CopyDetector(test_dirs=[str(root)], boilerplate_dirs=[str(boiler)], extensions=["py"],
                                noise_t=NOISE_TOKENS, guarantee_t=GUARANTEE_TOKENS, display_t=threshold,
                                same_name_only=True, autoopen=False, silent=True,
                                out_file=str(out / SIMILARITY_FILE))
        detector.run()
        detector.generate_html_report()
        pairs = {}
        for sim_a, sim_b, file_a, file_b, *_ in detector.get_copied_code_list():
            a, b = Path(file_a), Path(file_b)
            key = (a.stem, *sorted((a.parent.name, b.parent.name)))
            pairs[key] = max(pairs.get(key, 0.0), float(sim_a), float(sim_b))
    return [Pair(u, x, y, round(s, 3)) for (u, x, y), s in sorted(pairs.items()) if s >= threshold]


def similar_pairs(out: Path) -> list[dict[str, str]]:
    """The pairs written with the last ``write_integrity`` (``out/similarity.csv``), for the class page."""
    path = Path(out) / "similarity.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_integrity(submissions: Iterable, out: Path) -> tuple[list[Flag], list[Pair]]:
    """Both reports for one grading run (called by ``autograder.grade.grade``); never touches a score."""
    submissions = list(submissions)
    out = Path(out)
    flags = scan_submissions(submissions)
    write_integrity_csv(flags, out / INTEGRITY_FILE)
    pairs = write_similarity(submissions, out)
    with open(out / "similarity.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("unit", "student_a", "student_b", "similarity"))
        writer.writerows(astuple(p) for p in pairs)
    return flags, pairs
