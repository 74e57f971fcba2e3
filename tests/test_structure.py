"""The package's import graph, read from the source (lazy imports inside functions included): no cycle, the
baselines sit beside the generator, not above it, and production code never imports the reference package."""
import ast
import os

from tests.conftest import ROOT

PKG = os.path.join(ROOT, "cost_ms")


def _modules():
    out = {}
    for folder, _, files in os.walk(PKG):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                mod = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[mod[:-len(".__init__")] if mod.endswith(".__init__") else mod] = path
    return out


def import_graph():
    """``{module: {cost_ms modules it imports anywhere in its source}}``."""
    mods = _modules()
    graph = {}
    for mod, path in mods.items():
        package = mod if path.endswith("__init__.py") else mod.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                while name not in mods and "." in name:       # a name imported from a module -> that module
                    name = name.rsplit(".", 1)[0]
                if name in mods and name != mod:
                    deps.add(name)
        graph[mod] = deps
    return graph


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        state[m] = "done"
        stack.pop()
        return None
    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_graph_sees_lazy_imports():
    graph = import_graph()
    assert "cost_ms.generator.transformer" in graph["cost_ms.architectures"]   # imported inside a method
    assert "cost_ms.baseline.sasrec" in graph["cost_ms.baseline"]          # imported inside a function
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle():
    assert _cycle(import_graph()) is None


def test_baselines_do_not_import_the_generator():
    graph = import_graph()
    for mod, deps in graph.items():
        if mod.startswith("cost_ms.baseline"):
            assert not {d for d in deps if d.startswith("cost_ms.generator")}, mod


def test_production_code_never_imports_the_reference_package():
    graph = import_graph()
    assert graph["cost_ms.reference.decoding"]                 # it does import production code: the graph sees it
    for mod, deps in graph.items():
        if not mod.startswith("cost_ms.reference"):
            assert not {d for d in deps if d.startswith("cost_ms.reference")}, mod
