"""The package's import graph, read from the source (lazy imports inside functions included): no cycle, the
baselines sit beside the generator, not above it, and production code never imports the reference package. And
the source's config reads: attributes of the typed config, never dict lookups, outside ``cost_ms/config/``."""
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


# ------------------------------------------------------------------ configs are read as attributes
CONFIG_NAMES = {"cfg", "config", "dc", "ec", "tc", "vc", "gc", "bc", "rc", "sec"}    # what code calls a config
LOADERS = {"load_config", "load_saved", "base_config"}
SCANNED = ("cost_ms", "tools", "benchmarks", "scripts", "tests")
CONFIG_PACKAGE = os.path.join(PKG, "config")


def _config_keys():
    """Section names and every key of every section: what a leftover ``cfg["..."]`` would name."""
    from cost_ms.config import SECTIONS
    from dataclasses import fields
    return set(SECTIONS) | {f.name for cls in SECTIONS.values() for f in fields(cls)}


def _is_config(node):
    """``cfg``, ``self.gc``, ``load_config(...)`` or a subscript of one of them (``cfg["generator"]["lr"]``)."""
    if isinstance(node, ast.Subscript):
        return _is_config(node.value)
    if isinstance(node, ast.Name):
        return node.id in CONFIG_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in CONFIG_NAMES
    if isinstance(node, ast.Call):
        f = node.func
        return (f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)) in LOADERS
    return False


def dict_style_reads(source, keys=None):
    """``(line, text)`` of each place ``source`` reads a config like a dict: ``X["<key>"]``, ``X.get("<key>")``,
    ``X.items()`` / ``.keys()`` / ``.update()``, where ``X`` is a config (:func:`_is_config`) and ``<key>`` a
    section name or a key of a section."""
    keys = _config_keys() if keys is None else keys
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Subscript) and _is_config(node.value):
            key = node.slice
            if isinstance(key, ast.Constant) and key.value in keys:
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _is_config(node.func.value):
            name, args = node.func.attr, node.args
            if name in ("items", "keys", "update") or (name == "get" and args and isinstance(args[0], ast.Constant)
                                                        and args[0].value in keys):
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_scan_finds_dict_style_config_reads():
    planted = ('gc = cfg["generator"]\n'
               'x = gc["beam_size"] + self.tc["levels"] + load_config(p)["eval"]["ks"][0]\n'
               'y = cfg.get("run") or dc.items()\n'
               'ok = meta["beam_size"] + cfg.generator.beam_size + row["generator"] + gc[0] + cfg.to_dict()["run"]\n')
    assert sorted(line for line, _ in dict_style_reads(planted)) == [1, 2, 2, 2, 2, 3, 3]


def test_configs_are_read_as_attributes_outside_the_config_package():
    """A config is a frozen dataclass (no ``__getitem__``): ``cfg.generator.beam_size``, never
    ``cfg["generator"]["beam_size"]``; a plain dict comes only from ``to_dict()``."""
    bad = []
    for top in SCANNED:
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            if folder.startswith(CONFIG_PACKAGE):
                continue
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    found = dict_style_reads(f.read())
                bad += [f"{os.path.relpath(path, ROOT)}:{line}: {text}" for line, text in found]
    assert not bad, "\n".join(bad)


def test_config_objects_have_no_dict_interface():
    from cost_ms.config import SECTIONS, Config
    for cls in [Config, *SECTIONS.values()]:
        assert not any(hasattr(cls, name) for name in ("__getitem__", "get", "items", "keys")), cls
