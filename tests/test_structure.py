"""The shape of the code, read from its source: no import cycle in the grader, every module says
what it is for, the receptive-field and model packages a student can find their way in, small modules."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 800  # past this a module holds more than one idea: split it (torchvision's layout, one family a file)


def modules(package: str) -> dict[str, Path]:
    """Dotted name -> file of every module of ``package`` (its release builds and generated checks left out)."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "build" in parts or "public_tests" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def import_nodes(tree: ast.Module, lazy: bool) -> list[ast.stmt]:
    """Every import of the file (``lazy``), or only those run when it is imported: module level,
    ``try``/``if`` blocks included, ``if TYPE_CHECKING:`` left out."""
    if lazy:
        return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    found, pending = [], list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            pending += node.body + node.orelse
        elif isinstance(node, ast.Try):
            pending += node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
    return found


def imported(name: str, path: Path, known: set[str], lazy: bool = True) -> set[str]:
    """The modules of ``known`` that ``name`` imports (see :func:`import_nodes` for ``lazy``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in import_nodes(ast.parse(path.read_text(encoding="utf-8")), lazy):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from .grade import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets.add(base)
            targets |= {f"{base}.{alias.name}" for alias in node.names}  # from autograder import config
    return {t for t in targets if t in known and t != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One closed path through each strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [closed_path(graph, c) for c in components]


def closed_path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """``a -> b -> ... -> a`` inside ``component``, for the failure message."""
    start, members = component[0], set(component)
    path, seen = [start], {start}
    while True:
        following = sorted(graph[path[-1]] & members)
        if start in following and len(path) > 1:
            return path + [start]
        step = next((w for w in following if w not in seen), None)
        if step is None:
            return path + [start]
        path.append(step)
        seen.add(step)


def import_graph(package: str, lazy: bool = True) -> dict[str, set[str]]:
    found = modules(package)
    return {name: imported(name, path, set(found), lazy) for name, path in found.items()}


# --- the checks ---------------------------------------------------------------------------------

def test_cycles_finds_a_cycle_and_names_its_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_import_nodes_at_import_time_leave_out_function_bodies_and_type_checking():
    tree = ast.parse("import a\ntry:\n    import b\nexcept ImportError:\n    import c\n"
                     "if TYPE_CHECKING:\n    import d\ndef f():\n    import e\n")
    names = lambda nodes: sorted(alias.name for n in nodes for alias in n.names)  # noqa: E731
    assert names(import_nodes(tree, lazy=False)) == ["a", "b", "c"]
    assert names(import_nodes(tree, lazy=True)) == ["a", "b", "c", "d", "e"]


def test_imported_resolves_absolute_relative_and_from_package_imports(tmp_path):
    source = ("from autograder import config\nimport autograder.grade\nfrom .sandbox import Limits\n"
              "def f():\n    from autograder.reports import write\n")
    (tmp_path / "m.py").write_text(source)
    known = {"autograder", "autograder.config", "autograder.grade", "autograder.sandbox",
             "autograder.reports", "autograder.m"}
    assert imported("autograder.m", tmp_path / "m.py", known) == {
        "autograder", "autograder.config", "autograder.grade", "autograder.sandbox", "autograder.reports"}


def test_the_grader_has_no_import_cycle():
    graph = import_graph("autograder")
    graph = {name: {t for t in targets if t != "autograder"} for name, targets in graph.items()}
    assert graph, "no module found under autograder/"
    assert cycles(graph) == [], "import cycles in autograder/ (lazy imports count too)"


def test_the_library_has_no_import_cycle_at_import_time():
    # receptive_field(module) asks the tracer for it inside the call: the tracer builds on the closed form
    graph = import_graph("helpers", lazy=False)
    # a package's __init__ re-exports its modules, and they import siblings through the package path
    graph = {name: {t for t in targets if not name.startswith(t + ".") and t != "helpers"}
             for name, targets in graph.items()}
    assert cycles(graph) == []


@pytest.mark.parametrize("package", ["helpers", "autograder"])
def test_every_module_says_first_what_it_is_for(package):
    missing = []
    for name, path in modules(package).items():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False)
        first = (doc or "").split("\n", 1)[0].strip()
        if len(first) < 10:
            missing.append(name)
    assert missing == [], "modules whose docstring's first line does not say what they are for"


@pytest.mark.parametrize("package", ["helpers", "autograder"])
def test_modules_stay_small(package):
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules(package).items()}
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}


def test_receptive_field_package_opens_on_the_closed_form():
    import helpers.receptive as receptive

    assert Path(receptive.__file__).name == "__init__.py"
    first_file = ROOT / "helpers" / "receptive" / "closed_form.py"
    assert re.findall(r"\w+\.py", receptive.__doc__)[0] == "closed_form.py", "the package's docstring points to it first"
    defined = {n.name for n in ast.parse(first_file.read_text(encoding="utf-8")).body
               if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert {"receptive_field", "ReceptiveField"} <= defined
    assert receptive.receptive_field.__module__ == "helpers.receptive.closed_form"
    assert receptive.ReceptiveField.__module__ == "helpers.receptive.closed_form"
    # the tracer and the measurement beside it
    assert receptive.receptive_fields_by_module.__module__ == "helpers.receptive.tracer"
    assert receptive.empirical_receptive_field.__module__ == "helpers.receptive.gradient"
    assert receptive.gradient_map.__module__ == "helpers.receptive.gradient"


def test_receptive_field_closed_form_reads_without_the_tracer():
    """The first file imports nothing of the tracer at import time (it asks for it only for a module)."""
    tree = ast.parse((ROOT / "helpers" / "receptive" / "closed_form.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not [n for n in top if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("helpers.receptive")]


def test_models_are_one_file_per_family_as_in_torchvision():
    models = importlib.import_module("helpers.models")
    assert Path(models.__file__).name == "__init__.py"
    family = {name: fn.__module__.rpartition(".")[2] for name, fn in models.BUILDERS.items()}
    expected = {"alexnet": "alexnet", "vgg16": "vgg", "googlenet": "googlenet", "resnet50": "resnet",
                "resnext50_32x4d": "resnet", "wide_resnet50_2": "resnet", "mobilenet_v2": "mobilenetv2",
                "efficientnet_b0": "efficientnet", "convnext_tiny": "convnext"}
    assert {name: family[name] for name in expected} == expected
    assert all(f != "models" for f in family.values()), "every builder lives in its family's file"
