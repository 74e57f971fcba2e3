import glob
import os

import pytest

from cost_ms.config import load_config, parse_set
from cost_ms.errors import CostError
from tests.conftest import ROOT

CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml")))


def test_every_config_loads():
    assert len(CONFIGS) >= 7
    names = set()
    for path in CONFIGS:
        cfg = load_config(path)
        names.add(cfg["dataset"]["name"])
        assert cfg["tokenizer"]["levels"] >= 1
    assert {"ml-100k", "ml-latest-small", "amazon-office", "amazon-beauty", "mind", "amazon"} <= names


def test_set_overrides_and_types():
    cfg = load_config(os.path.join(ROOT, "configs", "amazon-office.yaml"),
                      ["tokenizer.loss=re", "tokenizer.lr=1e-3", "tokenizer.hidden=[64,32]", "generator.epochs=3"])
    assert cfg["tokenizer"]["loss"] == "re"
    assert cfg["tokenizer"]["lr"] == pytest.approx(1e-3)
    assert cfg["tokenizer"]["hidden"] == [64, 32]
    assert cfg["generator"]["epochs"] == 3
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
    assert load_config(cfg)["eval"]["early_stop"] == "ndcg@10"
    assert load_config(cfg, ["eval.ks=[5,20]"])["eval"]["early_stop"] == "ndcg@5"
    assert load_config(cfg, ["eval.ks=[5,20]", "eval.early_stop=recall@20"])["eval"]["early_stop"] == "recall@20"


def test_extends_merges_over_another_experiment(tmp_path):
    (tmp_path / "base.yaml").write_text(open(os.path.join(ROOT, "configs", "base.yaml")).read())
    (tmp_path / "a.yaml").write_text("dataset:\n  name: amazon-office\ngenerator:\n  d_model: 64\n  epochs: 3\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\ngenerator:\n  epochs: 5\n")
    cfg = load_config(str(tmp_path / "b.yaml"), ["generator.dropout=0.2"])
    assert cfg["dataset"]["name"] == "amazon-office" and cfg["generator"]["d_model"] == 64
    assert cfg["generator"]["epochs"] == 5 and cfg["generator"]["dropout"] == pytest.approx(0.2)
    simcit = load_config(os.path.join(ROOT, "configs", "amazon-office-simcit.yaml"))
    office = load_config(os.path.join(ROOT, "configs", "amazon-office-cpu.yaml"))
    assert simcit["tokenizer"]["method"] == "simcit" and simcit["generator"] == office["generator"]
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
    assert load_config(cfg)["tokenizer"]["center_inputs"] is True
    assert load_config(cfg, ["tokenizer.kmeans_init_rows=-1"])["tokenizer"]["kmeans_init_rows"] == -1
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
