import glob
import os

import pytest

from cost_ms.config import load_config, parse_set
from cost_ms.errors import CostError
from tests.conftest import ROOT, base_config

CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml")))


def test_every_config_loads():
    assert len(CONFIGS) >= 7
    names = set()
    for path in CONFIGS:
        cfg = load_config(path)
        names.add(cfg.dataset.name)
        assert cfg.tokenizer.levels >= 1
    assert {"ml-100k", "ml-latest-small", "amazon-office", "amazon-beauty", "mind", "amazon"} <= names


def test_set_overrides_and_types():
    cfg = load_config(os.path.join(ROOT, "configs", "amazon-office.yaml"),
                      ["tokenizer.loss=re", "tokenizer.lr=1e-3", "tokenizer.hidden=[64,32]", "generator.epochs=3"])
    assert cfg.tokenizer.loss == "re"
    assert cfg.tokenizer.lr == pytest.approx(1e-3)
    assert cfg.tokenizer.hidden == [64, 32]
    assert cfg.generator.epochs == 3
    assert parse_set(["a.b.c=1"]) == {"a": {"b": {"c": 1}}}


@pytest.mark.parametrize("override, message", [
    ("tokenizer.levls=3", "unknown config key 'tokenizer.levls'"),
    ("nosuch=1", "unknown config key 'nosuch'"),
    ("tokenizer.levels=three", "'tokenizer.levels' in --set must be int"),
    ("tokenizer.shared_codebook=1", "must be bool"),
    ("generator.beam_size=10", "beam_size (10) must be >="),
    ("tokenizer.entropy_weight=-0.5", "tokenizer.entropy_weight must be >= 0, got -0.5"),
    ("tokenizer.gumbel_tau=0", "tokenizer.gumbel_tau must be > 0, got 0.0"),
    ("run.tokenizer_cpu_threads=-1", "run.tokenizer_cpu_threads must be a whole number >= 0"),
    ("run.generator_cpu_threads=-2", "run.generator_cpu_threads must be a whole number >= 0"),
])
def test_bad_keys_are_named(override, message):
    with pytest.raises(CostError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(os.path.join(ROOT, "configs", "ml-100k.yaml"), [override])


def test_unknown_key_in_file(tmp_path):
    (tmp_path / "base.yaml").write_text(open(os.path.join(ROOT, "configs", "base.yaml")).read())
    (tmp_path / "x.yaml").write_text("dataset:\n  nmae: ml-100k\n")
    with pytest.raises(CostError, match="unknown config key 'dataset.nmae'"):
        load_config(str(tmp_path / "x.yaml"))


def test_early_stop_follows_the_cut_offs():
    """The default early-stopping metric is ndcg@10, or ndcg at the first cut-off when 10 is not computed."""
    from cost_ms.config import load_config
    cfg = os.path.join(ROOT, "configs", "ml-100k.yaml")
    assert load_config(cfg).eval.early_stop == "ndcg@10"
    assert load_config(cfg, ["eval.ks=[5,20]"]).eval.early_stop == "ndcg@5"
    assert load_config(cfg, ["eval.ks=[5,20]", "eval.early_stop=recall@20"]).eval.early_stop == "recall@20"


def test_extends_merges_over_another_experiment(tmp_path):
    (tmp_path / "base.yaml").write_text(open(os.path.join(ROOT, "configs", "base.yaml")).read())
    (tmp_path / "a.yaml").write_text("dataset:\n  name: amazon-office\ngenerator:\n  d_model: 64\n  epochs: 3\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\ngenerator:\n  epochs: 5\n")
    cfg = load_config(str(tmp_path / "b.yaml"), ["generator.dropout=0.2"])
    assert cfg.dataset.name == "amazon-office" and cfg.generator.d_model == 64
    assert cfg.generator.epochs == 5 and cfg.generator.dropout == pytest.approx(0.2)
    simcit = load_config(os.path.join(ROOT, "configs", "amazon-office-simcit.yaml"))
    office = load_config(os.path.join(ROOT, "configs", "amazon-office-cpu.yaml"))
    assert simcit.tokenizer.method == "simcit" and simcit.generator == office.generator
    (tmp_path / "c.yaml").write_text("extends: d.yaml\n")
    (tmp_path / "d.yaml").write_text("extends: c.yaml\n")
    with pytest.raises(CostError, match="makes a cycle"):
        load_config(str(tmp_path / "c.yaml"))
    (tmp_path / "e.yaml").write_text("extends: nope.yaml\n")
    with pytest.raises(CostError, match="config not found"):
        load_config(str(tmp_path / "e.yaml"))
    (tmp_path / "f.yaml").write_text("extends: a.yaml\ngenerator:\n  epoks: 5\n")
    with pytest.raises(CostError, match="unknown config key 'generator.epoks'"):
        load_config(str(tmp_path / "f.yaml"))


def test_tokenizer_health_keys_are_checked():
    cfg = os.path.join(ROOT, "configs", "amazon-office-cpu.yaml")
    assert load_config(cfg).tokenizer.center_inputs is True
    assert load_config(cfg, ["tokenizer.kmeans_init_rows=-1"]).tokenizer.kmeans_init_rows == -1
    with pytest.raises(CostError, match="kmeans_init_rows must be"):
        load_config(cfg, ["tokenizer.kmeans_init_rows=10"])
    with pytest.raises(CostError, match="unknown tokenizer.method 'simcat'"):
        load_config(cfg, ["tokenizer.method=simcat"])


def test_check_settings_refuses_changed_keys_and_accepts_newer_ones(tmp_path):
    from cost_ms.errors import StaleStage
    from cost_ms.stages import check_settings
    (tmp_path / "config.yaml").write_text("tokenizer:\n  lr: 0.001\n  loss: co\n")
    check_settings(str(tmp_path), "tokenize", "tokenizer", {"lr": 0.001, "loss": "co", "added_since": 1})
    with pytest.raises(StaleStage, match=r"tokenizer.lr 0.001 there, 0.01 here$"):
        check_settings(str(tmp_path), "tokenize", "tokenizer", {"lr": 0.01, "loss": "co"})
    check_settings(str(tmp_path / "no-config"), "tokenize", "tokenizer", {"lr": 5})   # nothing saved: no check


def test_cpu_threads_are_set_once_per_process():
    """MindSpore takes one CPU thread setting per process: the same value again is fine, another is refused."""
    import subprocess
    import sys
    code = ("from cost_ms.runtime import init_runtime, set_cpu_threads\n"
            "init_runtime('CPU', 'graph', 0, cpu_threads=1)\n"
            "set_cpu_threads(1)\n"
            "set_cpu_threads(2)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, GLOG_v="3"))
    assert proc.returncode != 0
    assert "CPU kernel threads are already 1 in this process; MindSpore cannot change them to 2" in proc.stderr


def test_cpu_host_blocking_is_set_by_init_runtime_and_once_per_process(tmp_path):
    """On CPU, init_runtime makes MindSpore launch graphs from the calling thread (MS_DEV_HOST_BLOCKING_RUN=1,
    read once at the first launch; the child starts without the variable); a graph still computes the same
    values; asking for the other mode afterwards is logged and changes nothing."""
    import subprocess
    import sys
    code = ("import os, numpy as np, mindspore as ms\n"
            "from cost_ms.runtime import init_runtime, set_host_blocking\n"
            "assert 'MS_DEV_HOST_BLOCKING_RUN' not in os.environ\n"
            "init_runtime('CPU', 'graph', 0)\n"
            "assert os.environ['MS_DEV_HOST_BLOCKING_RUN'] == '1'\n"
            "@ms.jit\n"
            "def f(x):\n"
            "    return (x * 2).sum()\n"
            "assert float(f(ms.Tensor(np.arange(4, dtype=np.float32))).asnumpy()) == 12.0\n"
            "set_host_blocking(False)\n"
            "assert os.environ['MS_DEV_HOST_BLOCKING_RUN'] == '1'\n"
            "print('ok')\n")
    script = tmp_path / "host_blocking.py"     # ms.jit compiles from a source file, not from `python -c`
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if k != "MS_DEV_HOST_BLOCKING_RUN"}
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(env, GLOG_v="3", PYTHONPATH=ROOT))
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
    assert "host dispatch is already blocking in this process and cannot change; keeping it" in proc.stderr


def test_cpu_host_blocking_must_be_a_boolean():
    from cost_ms.config import load_config
    with pytest.raises(CostError, match="config key 'run.cpu_host_blocking' in --set must be bool"):
        load_config(os.path.join(ROOT, "configs", "ml-100k.yaml"), ["run.cpu_host_blocking=null"])


# ------------------------------------------------------------------ typed config
def test_each_section_dataclass_has_the_keys_of_its_base_yaml_section():
    """Field names (and order) are base.yaml's keys, so the schema and the dataclasses cannot drift; each
    field's annotation takes the default base.yaml gives it."""
    import dataclasses
    import typing

    import yaml

    from cost_ms.config import SECTIONS, Config
    with open(os.path.join(ROOT, "configs", "base.yaml")) as f:
        base = yaml.safe_load(f)
    assert [f.name for f in dataclasses.fields(Config)] == list(base) == list(SECTIONS)
    for name, cls in SECTIONS.items():
        assert cls.NAME == name and typing.get_type_hints(Config)[name] is cls
        assert [f.name for f in dataclasses.fields(cls)] == list(base[name]), name
        hints = typing.get_type_hints(cls)
        for key, default in base[name].items():
            hint = hints[key]
            kinds = typing.get_args(hint) if typing.get_origin(hint) is typing.Union else (hint,)
            kinds = tuple(typing.get_origin(k) or k for k in kinds)
            assert isinstance(default, kinds), f"{name}.{key}: {default!r} is not {hint}"


def _merged_the_old_way(path):
    """The resolved dict as the loader built it before configs were typed: base.yaml deep-updated with the
    experiment file's values (ints for float keys made floats) and eval.early_stop named."""
    import yaml
    with open(os.path.join(ROOT, "configs", "base.yaml")) as f:
        merged = yaml.safe_load(f)
    with open(path) as f:
        over = yaml.safe_load(f) or {}
    chain = [over]
    while "extends" in chain[-1]:
        with open(os.path.join(os.path.dirname(path), chain[-1].pop("extends"))) as f:
            chain.append(yaml.safe_load(f))
    for layer in reversed(chain):
        for section, values in layer.items():
            for key, value in values.items():
                merged[section][key] = float(value) if isinstance(merged[section][key], float) else value
    ks = merged["eval"]["ks"]
    merged["eval"]["early_stop"] = merged["eval"]["early_stop"] or f"ndcg@{10 if 10 in ks else ks[0]}"
    return merged


@pytest.mark.parametrize("path", CONFIGS)
def test_hashes_resume_keys_and_saved_config_are_unchanged_by_typing(path, tmp_path):
    """What config_hash, the resume keys and the saved config.yaml are made from is byte for byte the dict of
    before (same keys, base.yaml order, value types), so earlier run folders and checkpoints still match; the
    dump loads back into an equal Config."""
    import json

    import yaml

    from cost_ms.config import dump, load_saved
    from cost_ms.io import config_hash
    old, cfg = _merged_the_old_way(path), load_config(path)
    new = cfg.to_dict()
    assert json.dumps(new) == json.dumps(old)                       # order and types (1.0 is not 1) too
    assert config_hash(new) == config_hash(old)
    for section in old:
        assert config_hash(getattr(cfg, section).to_dict()) == config_hash(old[section])
    assert dump(cfg) == yaml.safe_dump(old, sort_keys=False)
    (tmp_path / "config.yaml").write_text(dump(cfg))
    assert load_saved(str(tmp_path / "config.yaml")) == cfg


def test_keys_added_since_a_run_take_their_defaults_when_its_config_loads(tmp_path):
    import yaml

    from cost_ms.config import load_saved
    cfg = load_config(os.path.join(ROOT, "configs", "amazon-office-cpu.yaml"), ["generator.max_train_steps=3"])
    older = cfg.to_dict()
    del older["run"]["cpu_host_blocking"], older["views"]              # a run made before these keys existed
    (tmp_path / "older.yaml").write_text(yaml.safe_dump(older, sort_keys=False))
    back = load_saved(str(tmp_path / "older.yaml"))
    assert back.run.cpu_host_blocking is True and back.views == base_config().views
    assert back.generator.max_train_steps == 3


def test_a_saved_config_of_another_version_is_refused_with_the_remake_command(tmp_path, capsys):
    from cost_ms.config import dump, load_saved
    from cost_ms.errors import StaleStage, report
    cfg = load_config(os.path.join(ROOT, "configs", "ml-100k.yaml"))
    path = tmp_path / "config.yaml"
    path.write_text(dump(cfg).replace("generator:\n", "generator:\n  retired_knob: 3\n"))
    with pytest.raises(StaleStage, match=r"config.yaml was written by another version of cost-ms \(unknown config "
                                         r"key 'generator.retired_knob' in this file; known keys here: arch, batch_size, "):
        load_saved(str(path))
    assert report(load_saved, str(path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run `python -m cost_ms train CONFIG --fresh` to replace it" in err


def test_length_buckets_above_max_history_are_refused():
    ml = os.path.join(ROOT, "configs", "ml-100k.yaml")
    ten = ["generator.max_history=10"]
    assert load_config(ml, ten + ["generator.length_buckets=[5,10]"]).generator.length_buckets == [5, 10]
    with pytest.raises(CostError, match=r"^generator.length_buckets \[5, 11\] go above generator.max_history \(10\)"):
        load_config(ml, ten + ["generator.length_buckets=[5,11]"])
    with pytest.raises(CostError, match="go above generator.max_history"):
        load_config(ml, ["generator.max_history=5"])                        # the default [5, 10]


def test_replace_makes_a_new_checked_config_and_configs_are_frozen():
    import dataclasses
    import operator
    cfg = load_config(os.path.join(ROOT, "configs", "ml-100k.yaml"), ["run.out=runs/x"])
    new = cfg.replace(generator={"max_train_steps": 3, "lr": 1}, run={"out": None})
    assert (new.generator.max_train_steps, new.generator.lr, new.run.out) == (3, 1.0, None)
    assert isinstance(new.generator.lr, float) and cfg.generator.max_train_steps == 600 and cfg.run.out == "runs/x"
    assert new.tokenizer == cfg.tokenizer and cfg.tokenizer.replace(levels=2).levels == 2
    for bad, message in (({"generator": {"beam_size": 10}}, r"generator.beam_size \(10\) must be >="),
                         ({"generator": {"epoks": 1}}, "unknown config key 'generator.epoks' in replace()"),
                         ({"generator": {"epochs": "3"}}, "config key 'generator.epochs' in replace.. must be int")):
        with pytest.raises(CostError, match=message):
            cfg.replace(**bad)
    with pytest.raises(CostError, match="tokenizer.levels must be a whole number >= 1, got 0"):
        cfg.tokenizer.replace(levels=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.generator.beam_size = 5
    with pytest.raises(TypeError, match="not subscriptable"):
        operator.getitem(cfg, "generator")
