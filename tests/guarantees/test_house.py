"""The house rules a newcomer can rely on, checked from the source: modules stay small, module
imports form no cycle, the layers above the stores reach them through the package only, and
index engines do not lean on each other's modules.

(Imports go only downwards: ``test_public_api.test_layers_import_only_downwards``.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import s3explore

ROOT = Path(s3explore.__file__).parent
MAX_LINES = 500
# The stores layer's faces upward: its package, and what the layers above may name in it.
STORES_PACKAGE = "s3explore._stores"
UPPER_LAYERS = ("s3explore._frames", "s3explore.widgets")
# Index engine families of the stores layer, none importing another's modules: the
# pymongo-API engines (MongoDB, and mongomock and montydb on its MongoLikeStore) and DuckDB.
ENGINES = {
    "pymongo API": ("s3explore._stores._mongo", "s3explore._stores._mongo_uri",
                    "s3explore._stores._mongo_arrow", "s3explore._stores._mongo_facets",
                    "s3explore._stores._embedded"),
    "DuckDB": ("s3explore._stores._duckdb",),
}


def _within(module: str, family: tuple[str, ...]) -> bool:
    return any(module == m or module.startswith(m + ".") for m in family)


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        found[".".join(parts).removesuffix(".__init__")] = path
    return found


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, module: str, *, top_level_only: bool) -> list[tuple[str, int]]:
    """``(imported module or name, line)``; with ``top_level_only`` the imports run when the
    module is loaded (not those inside functions, nor under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(), str(path))
    nodes: list[ast.AST] = []
    if top_level_only:
        stack = list(tree.body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if _type_checking(node):
                stack.extend(getattr(node, "orelse", []))
                continue
            nodes.append(node)
            if isinstance(node, (ast.If, ast.Try, ast.With, ast.ClassDef)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    stack.extend(getattr(node, field, []))
            if isinstance(node, ast.ExceptHandler):
                stack.extend(node.body)
    else:
        nodes = list(ast.walk(tree))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def resolve(target: str, known: dict[str, Path]) -> str | None:
    """The s3explore module an import reaches (``a.b.name`` -> ``a.b`` when ``name`` is
    not a module of its own)."""
    while target:
        if target in known:
            return target
        target = target.rpartition(".")[0]
    return None


def test_no_module_is_over_the_line_limit():
    long = {m: n for m, p in modules().items()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these into private modules of at most {MAX_LINES} lines: {long}"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


def import_graph(top_level_only: bool = True) -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        for target, _ in imports(path, module, top_level_only=top_level_only):
            reached = resolve(target, known)
            # a package importing its own modules (its __init__ re-exporting them) is how
            # packages are made, not a cycle between peers
            if reached and reached != module and not reached.startswith(module + "."):
                graph[module].add(reached)
    return graph


def test_module_imports_form_no_cycle():
    graph, known = import_graph(), modules()
    # packages' __init__ modules stand for their members: leave them out of the peers
    peers = {m: {t for t in ts if known[t].name != "__init__.py"}
             for m, ts in graph.items() if known[m].name != "__init__.py"}
    assert cycles(peers) == [], "modules that import each other at load time"


def test_the_cycle_check_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_layers_above_reach_the_stores_through_their_package():
    known = modules()
    problems = []
    for module, path in known.items():
        if not module.startswith(UPPER_LAYERS):
            continue
        for target, line in imports(path, module, top_level_only=False):
            reached = resolve(target, known)
            if reached and reached.startswith(STORES_PACKAGE + ".") and reached != STORES_PACKAGE:
                problems.append(f"{module}:{line} imports {target}")
    assert problems == [], ("import these from s3explore._stores (its __init__ says what the "
                            "layers above may use), or add them there")


@pytest.mark.parametrize("family", sorted(ENGINES))
def test_index_engines_do_not_import_each_other(family):
    known = modules()
    others = [m for name, members in ENGINES.items() if name != family for m in members]
    problems = []
    for module, path in known.items():
        if not _within(module, ENGINES[family]):
            continue
        for target, line in imports(path, module, top_level_only=False):
            if _within(resolve(target, known) or "", tuple(others)):
                problems.append(f"{module}:{line} imports {target}")
    assert problems == [], "move what engines share into a neutral module of the stores layer"
