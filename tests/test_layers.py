"""The package is a stack of layers, and every import points down it (docs/design.md).

The test reads every module's imports, at the top of the file and inside functions alike, and
fails on an import from a lower layer to a higher one, and on any cycle between modules.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "latentfolio"

# Bottom to top. A module may import from its own layer (no cycles) and from any layer below.
LAYERS = [
    ("errors", "version"),
    ("_io", "progress", "hardware"),
    ("metrics", "imaging"),
    ("data",),
    ("models",),
    ("saved", "features"),
    ("render",),
    ("latent",),
    ("codec",),
    ("training",),
    ("catalog",),
    ("commands",),
    ("gallery",),
    ("reports",),
    ("api",),
    ("cli", "__init__"),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
# The one seam where the package's own modules are imported on first use: the CLI's commands,
# the package root and the API load the library only when called, so `latentfolio --help`
# stays instant (importing the library imports torch) and `lf.similar` does not load what only
# `lf.train` needs (Lightning). The API names its modules in a table (`api._WHERE`), which
# test_the_api_loads_only_what_each_function_needs checks against the layers.
LAZY_ALLOWED = ("cli", "__init__", "api")


def modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def top(module: str) -> str:
    return module.split(".")[0]


def resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """The package modules an ``from X import Y`` names, as dotted names under the package."""
    is_pkg = path.name == "__init__.py"
    if node.level:
        base = module.split(".") if module != "__init__" else []
        base = base if is_pkg else base[:-1]
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        stem = ".".join(base + ([node.module] if node.module else []))
    elif node.module and node.module.startswith("latentfolio"):
        stem = node.module[len("latentfolio"):].lstrip(".")
    else:
        return []
    names = []
    for alias in node.names:
        sub = f"{stem}.{alias.name}" if stem else alias.name
        names.append(sub if sub in MODULES else stem)
    return [n or "__init__" for n in names]


MODULES = modules()


def imports() -> list[tuple[str, str, bool, int]]:
    """(importer, imported, inside a function, line) for every import of a package module."""
    found = []
    for mod, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        parents = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.ImportFrom):
                targets = resolve(mod, path, node)
            elif isinstance(node, ast.Import):
                targets = [a.name[len("latentfolio."):] for a in node.names if a.name.startswith("latentfolio.")]
            if not targets:
                continue
            p, local = parents.get(node), False
            while p is not None:
                if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    local = True
                p = parents.get(p)
            for t in targets:
                if t != mod:
                    found.append((mod, t, local, node.lineno))
    return found


IMPORTS = imports()


def test_every_module_has_a_layer():
    missing = sorted({top(m) for m in MODULES} - set(RANK))
    assert not missing, f"add these to LAYERS (and docs/design.md): {missing}"


def test_imports_point_down_the_stack():
    upward = [f"{a} (line {n}) imports {b}" for a, b, _, n in IMPORTS if RANK[top(b)] > RANK[top(a)]]
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph = defaultdict(set)
    for a, b, _, _ in IMPORTS:
        graph[a].add(b)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str):
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, ()):
            if state.get(m) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in list(graph):
        if n not in state:
            visit(n)


def test_own_modules_are_imported_at_the_top():
    lazy = [f"{a} (line {n}) imports {b} inside a function" for a, b, local, n in IMPORTS
            if local and top(a) not in LAZY_ALLOWED]
    assert not lazy, "import the package's own modules at the top of the file:\n" + "\n".join(lazy)


def test_modules_hold_one_idea():
    """A guide, not a law of nature: a module past 350 lines or a function past 80 holds more than one idea."""
    long_modules, long_functions = [], []
    for mod, path in MODULES.items():
        text = path.read_text()
        if text.count("\n") > 350:
            long_modules.append(f"{mod}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80 and top(mod) != "cli":  # a typer command's signature is its flag table
                    long_functions.append(f"{mod}.{node.name}: {n} lines")
    assert not long_modules and not long_functions, long_modules + long_functions


def test_the_api_loads_only_what_each_function_needs():
    """`latentfolio.api` imports each function from its command's module on first use; every
    module it names exists and sits below it."""
    import importlib

    api = importlib.import_module("latentfolio.api")
    assert set(api._WHERE) == set(api.__all__)
    for name, (module, attr) in api._WHERE.items():
        assert module in MODULES and RANK[top(module)] < RANK["api"], name
        assert callable(getattr(api, name)), name
