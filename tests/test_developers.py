"""DEVELOPERS.md's recipes match the code: the trainer example runs as written (train, resume, curve), and every
call a recipe names (``name(param, ...)`` in inline code) has the parameters of the real function or method."""
import dataclasses
import importlib.util
import inspect
import json
import os
import re
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

DEVELOPERS = os.path.join(ROOT, "DEVELOPERS.md")


def section(title):
    with open(DEVELOPERS, encoding="utf-8") as f:
        text = f.read()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def python_block(text):
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    assert len(blocks) == 1, "one python block per recipe"
    return blocks[0]


def import_recipe(folder, title):
    """The recipe's python block as a module (MindSpore compiles a Cell from its source file, so it needs one)."""
    path = folder / "developers_recipe.py"
    path.write_text(python_block(section(title)))
    spec = importlib.util.spec_from_file_location("developers_recipe", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def quoted_calls(text):
    """``(name, [param, ...])`` of each ``name(a, b=1, ...)`` in inline code outside code blocks; calls whose
    arguments are not plain names (``register(<Name>Method())``) are examples, not signatures, and are skipped."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    out = []
    for span in re.findall(r"`([^`]+)`", prose, re.S):
        m = re.fullmatch(r"(\w+)\((.*?)\)(\s*->.*)?", " ".join(span.split()), re.S)
        if not m:
            continue
        params = [p.split("=")[0].strip() for p in m.group(2).split(",") if p.strip()]
        if all(re.fullmatch(r"[a-z_]\w*", p) for p in params):
            out.append((m.group(1), [p for p in params if p != "self"]))
    return out


def signature_problems(calls, owners):
    """A call matches when its parameters are the real ones, in order, up to the first one left out that has a
    default; ``owners``: classes and functions the recipe's names resolve against."""
    bad = []
    for name, params in calls:
        found = [getattr(o, name) for o in owners if inspect.isclass(o) and hasattr(o, name)]
        found += [o for o in owners if not inspect.isclass(o) and o.__name__ == name]
        if not found:
            bad.append(f"{name}(): not in {[o.__name__ for o in owners]}")
        for fn in found:
            real = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
            rest = real[len(params):]
            if [p.name for p in real[:len(params)]] != params or any(p.default is p.empty for p in rest):
                bad.append(f"{name}({', '.join(params)}): the code has {name}{inspect.signature(fn)}")
    return bad


def test_the_trainer_recipe_names_the_real_signatures():
    from cost_ms.engine import fingerprint, make_train_step
    from cost_ms.engine.curves import write_curves
    from cost_ms.engine.loop import Hooks, LoopSpec, run_loop
    text = section("How to add a trainer")
    calls = quoted_calls(text)
    assert ("run_loop", ["step", "net", "opt", "batches", "hooks", "spec", "world", "log"]) in calls
    local = [c for c in calls if f"def {c[0]}(" not in python_block(text)]        # batches(epoch): the example's own
    assert not signature_problems(local, [Hooks, make_train_step, run_loop, write_curves, fingerprint])
    fields = {f.name for f in dataclasses.fields(LoopSpec)}
    named = set(re.findall(r"LoopSpec\.(\w+)", text))
    assert named and named <= fields, named - fields


def test_the_tokenizer_method_recipe_names_the_real_signatures():
    from cost_ms.tokenizer.method import TokenizerMethod
    calls = quoted_calls(section("How to add a tokenizer method"))
    assert {name for name, _ in calls} >= {"train", "check", "tag", "report_name", "views"}
    assert not signature_problems(calls, [TokenizerMethod])


def test_the_architecture_recipe_names_the_real_signatures():
    from cost_ms.architectures import Architecture
    from cost_ms.generator.decoders import CausalDecoder, TigerDecoder
    calls = quoted_calls(section("How to add a generator architecture"))
    methods = {n for n, f in vars(Architecture).items() if callable(f) and not n.startswith("_")}
    assert methods <= {name for name, _ in calls}, methods - {name for name, _ in calls}     # every method is named
    assert not signature_problems(calls, [Architecture, TigerDecoder, CausalDecoder])


def test_the_signature_check_catches_drift():
    def run_loop(step, net, opt, batches, hooks, spec, world, log=None):
        pass
    assert not signature_problems([("run_loop", ["step", "net", "opt", "batches", "hooks", "spec", "world"])],
                                  [run_loop])
    assert signature_problems([("run_loop", ["step", "ckpt", "batches", "hooks", "spec", "world", "log"])],
                              [run_loop])
    assert signature_problems([("run_loop", ["step", "net"])], [run_loop])                 # required ones left out
    assert signature_problems([("missing", [])], [run_loop])


def test_the_trainer_recipe_trains_resumes_and_writes_its_curve(tmp_path, graph_mode):
    namespace = import_recipe(tmp_path, "How to add a trainer").__dict__
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32) + 0.1).astype(np.float32)
    folder = str(tmp_path / "linear")
    net, state = namespace["train_linear"](folder, x, y)
    curve = state["curve"]
    assert state["global_step"] == 4 * 8 and curve[-1]["loss"] < curve[0]["loss"] / 2
    with open(os.path.join(folder, "history.json")) as f:
        assert json.load(f)["intervals"] == curve
    assert any(name.endswith(".ckpt") for name in os.listdir(os.path.join(folder, "ckpt")))
    weights = net.weight.asnumpy().copy()
    net2, again = namespace["train_linear"](folder, x, y)                 # the same run again: resumes, trains no more
    assert again["global_step"] == state["global_step"]
    np.testing.assert_array_equal(net2.weight.asnumpy(), weights)
    with pytest.raises(Exception, match="(?i)config|resume|differ|mismatch"):
        namespace["train_linear"](folder, x, y, lr=0.01)                  # another resume key is refused
