"""Kill and resume: SIGKILL the real CLI mid-epoch, resume, and end exactly where an uninterrupted run ends.

Both trainers are deterministic on CPU for a fixed seed: the data order depends only on
(seed, epoch), the checkpoint holds weights, optimizer moments and step, and the generator
here runs without dropout (MindSpore's graph-mode dropout keeps its random state inside the
compiled kernel, which cannot be saved; with dropout > 0 a resumed run is a valid
continuation but not bit-identical, see the README). So the tolerance is zero: identical
semantic IDs, identical tokenizer reports, identical metrics.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cost_ms.engine import CheckpointManager
from tests.conftest import ROOT, shared

CFG = os.path.join(ROOT, "configs", "ml-latest-small.yaml")
SMALL = ["--set", "dataset.max_items=400", "--set", "dataset.max_seq_len=12", "--set", "tokenizer.hidden=[64,32]", "--set", "tokenizer.latent_dim=16",
         "--set", "tokenizer.codebook_size=16", "--set", "tokenizer.batch_size=64", "--set", "tokenizer.epochs=20",
         "--set", "tokenizer.ckpt_every_steps=2",
         "--set", "generator.enc_layers=1", "--set", "generator.dec_layers=1", "--set", "generator.d_model=32",
         "--set", "generator.num_heads=2", "--set", "generator.head_dim=16", "--set", "generator.ffn_dim=64",
         "--set", "generator.dropout=0.0", "--set", "generator.batch_size=64", "--set", "generator.epochs=2",
         "--set", "generator.max_history=5", "--set", "generator.length_buckets=[]",
         "--set", "generator.warmup_steps=10", "--set", "generator.eval_every=1",
         "--set", "generator.ckpt_every_steps=5", "--set", "generator.valid_users=100",
         "--set", "generator.beam_size=10", "--set", "generator.eval_batch_size=64", "--set", "eval.ks=[5,10]", "-q"]
ENV = dict(os.environ, HF_HUB_OFFLINE="1", GLOG_v="3", TOKENIZERS_PARALLELISM="false")


def cli(*args):
    proc = subprocess.run([sys.executable, "-m", "cost_ms", *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def kill_after_mid_epoch_checkpoint(args, ckpt_dir, timeout=300):
    """Start the CLI, SIGKILL it as soon as a mid-epoch checkpoint exists; return that checkpoint's state."""
    proc = subprocess.Popen([sys.executable, "-m", "cost_ms", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and proc.poll() is None:
            for name in sorted(os.listdir(ckpt_dir)) if os.path.isdir(ckpt_dir) else []:
                if name.startswith("step-") and name.endswith(".json"):
                    with open(os.path.join(ckpt_dir, name)) as f:
                        state = json.load(f)
                    if state["step"] > 0:
                        proc.send_signal(signal.SIGKILL)
                        proc.wait()
                        return state
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    pytest.fail(f"no mid-epoch checkpoint appeared in {ckpt_dir} before the run ended")


def assert_nothing_half_written(folder):
    """Every file a reader would open parses; temp files (dot-named) are the only leftovers a kill leaves."""
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if name.startswith("."):
                continue
            if name.endswith(".json"):
                with open(path) as f:
                    json.load(f)
            elif name.endswith(".npy"):
                np.load(path)
            elif name.endswith(".ckpt"):
                import mindspore as ms
                assert ms.load_checkpoint(path)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Prepared data and seeded random embeddings (the sentence encoder is not what is tested here)."""
    shared("ml-latest-small")
    out = tmp_path_factory.mktemp("base")
    cli("prepare", CFG, "--out", str(out), *SMALL)
    from cost_ms.data import load
    from cost_ms.embeddings import save_embeddings
    prep = load(str(out / "data"))
    emb = np.random.default_rng(0).normal(size=(prep.num_items, 32)).astype(np.float32)
    save_embeddings(str(out / "embed-minilm"), emb, prep.name, "random-test", False, prep.num_items)
    return out


def _copy(base, dst):
    shutil.copytree(base, dst)
    return str(dst)


def test_tokenizer_killed_mid_epoch_resumes_to_the_same_result(base, tmp_path):
    a = _copy(base, tmp_path / "a")
    cli("tokenize", CFG, "--out", a, *SMALL)

    b = _copy(base, tmp_path / "b")
    state = kill_after_mid_epoch_checkpoint(["tokenize", CFG, "--out", b, *SMALL], os.path.join(b, "tokenize-minilm-rqvae-co", "ckpt"))
    assert_nothing_half_written(b)
    assert not os.path.isfile(os.path.join(b, "tokenize-minilm-rqvae-co", "meta.json"))      # the stage is not finished
    resumed = cli("tokenize", CFG, "--out", b, *SMALL)
    assert "resuming tokenizer at epoch" in resumed.stderr, state

    ta, tb = os.path.join(a, "tokenize-minilm-rqvae-co"), os.path.join(b, "tokenize-minilm-rqvae-co")
    np.testing.assert_array_equal(np.load(os.path.join(ta, "semantic_ids.npy")), np.load(os.path.join(tb, "semantic_ids.npy")))
    with open(os.path.join(ta, "tokenizer_report.json")) as f, open(os.path.join(tb, "tokenizer_report.json")) as g:
        assert json.load(f) == json.load(g)
    assert len([n for n in os.listdir(os.path.join(tb, "ckpt")) if n.endswith(".ckpt")]) <= 3     # keep_checkpoints
    assert not [n for n in os.listdir(os.path.join(tb, "ckpt")) if n.startswith(".")]             # stale temps removed


@pytest.mark.parametrize("arch, folder", [("tiger", "generator-minilm-rqvae-co"),
                                          ("causal", "generator-causal-minilm-rqvae-co")])
def test_generator_killed_mid_epoch_resumes_to_the_same_metrics(base, tmp_path, arch, folder):
    small = [*SMALL, "--set", f"generator.arch={arch}", "--set", "generator.window_stride=2"]
    a = _copy(base, tmp_path / "a")
    cli("tokenize", CFG, "--out", a, *small)
    b = _copy(a, tmp_path / "b")                      # the same semantic IDs for both
    cli("train", CFG, "--out", a, *small)

    state = kill_after_mid_epoch_checkpoint(["train", CFG, "--out", b, *small], os.path.join(b, folder, "ckpt"))
    assert_nothing_half_written(b)
    resumed = cli("train", CFG, "--out", b, *small)
    assert "resuming generator at epoch" in resumed.stderr, state

    ga, gb = os.path.join(a, folder), os.path.join(b, folder)
    with open(os.path.join(ga, "best.ckpt"), "rb") as f, open(os.path.join(gb, "best.ckpt"), "rb") as g:
        assert f.read() == g.read()                   # the resumed run ends on bit-identical best weights
    with open(os.path.join(ga, "history.json")) as f, open(os.path.join(gb, "history.json")) as g:
        ha, hb = json.load(f), json.load(g)
    strip = ("seconds", "samples_per_s")              # wall-clock fields
    assert [{k: v for k, v in r.items() if k not in strip} for r in ha["epochs"]] == \
        [{k: v for k, v in r.items() if k not in strip} for r in hb["epochs"]]   # losses and validations
    with open(os.path.join(ga, "metrics.json")) as f, open(os.path.join(gb, "metrics.json")) as g:
        ma, mb = json.load(f), json.load(g)
    for key in ("valid", "test", "most_popular", "epochs", "best_epoch"):
        assert ma[key] == mb[key], key
    # the final evaluation in the training process == a fresh `evaluate` process on the same best.ckpt (it once
    # differed, on CI, when it reused the searcher that validation had compiled)
    cli("evaluate", CFG, "--out", a, *small)
    with open(os.path.join(ga, "metrics.json")) as f:
        fresh = json.load(f)
    for key in ("valid", "test"):
        assert fresh[key] == ma[key], key


def test_mid_epoch_checkpoint_resumes_exactly(graph_mode, tmp_path):
    """In-process: keep only a mid-epoch checkpoint (as if killed right after it), resume, compare."""
    from tests.test_tokenizer_train import TC, clusters
    from cost_ms.tokenizer.trainer import encode_items, train_rqvae
    emb = clusters()                                   # 300 rows, batch 64: 4 steps an epoch, checkpoints at 2
    net_a, hist_a = train_rqvae(TC, emb, str(tmp_path / "a"), seed=1, progress=False)
    train_rqvae(TC.replace(epochs=3), emb, str(tmp_path / "b"), seed=1, progress=False, keep=100)
    ckpt = tmp_path / "b" / "ckpt"
    for name in os.listdir(ckpt):                      # drop everything after epoch 2, step 2
        if int(name[5:13]) > 2 * 4 + 2:
            os.remove(ckpt / name)
    net_b, hist_b = train_rqvae(TC, emb, str(tmp_path / "b"), seed=1, progress=False)
    assert [h["loss"] for h in hist_b] == [h["loss"] for h in hist_a]
    assert [h["dead_codes"] for h in hist_b] == [h["dead_codes"] for h in hist_a]
    np.testing.assert_array_equal(encode_items(net_b, emb), encode_items(net_a, emb))


def test_step_budget_stops_on_the_step(base, tmp_path):
    """generator.max_train_steps stops mid-epoch on exactly that step, validates, and leaves a best.ckpt."""
    run = _copy(base, tmp_path / "run")
    cli("tokenize", CFG, "--out", run, *SMALL)
    cli("train", CFG, "--out", run, *SMALL, "--set", "generator.max_train_steps=7", "--set", "generator.epochs=5")
    states = sorted(os.listdir(os.path.join(run, "generator-minilm-rqvae-co", "ckpt")))
    with open(os.path.join(run, "generator-minilm-rqvae-co", "ckpt", [s for s in states if s.endswith(".json")][-1])) as f:
        state = json.load(f)
    assert state["global_step"] == 7 and state["epoch"] == 1
    assert state["history"][-1]["stopped_at_step"].endswith("(step budget)")
    assert os.path.isfile(os.path.join(run, "generator-minilm-rqvae-co", "best.ckpt"))


def test_only_the_writer_rank_writes(tmp_path):
    import mindspore as ms
    from mindspore import nn
    cell = nn.Dense(2, 2)
    CheckpointManager(str(tmp_path / "quiet"), cell, None, {"a": 1}, writer=False).save(1, {"epoch": 1})
    assert not (tmp_path / "quiet").exists()
    mgr = CheckpointManager(str(tmp_path / "ck"), cell, None, {"a": 1}, keep=2)
    for step in range(1, 5):
        mgr.save(step, {"epoch": step})
    assert sorted(os.listdir(tmp_path / "ck")) == ["step-00000003.ckpt", "step-00000003.json",
                                                   "step-00000004.ckpt", "step-00000004.json"]
    assert mgr.load()["epoch"] == 4
    assert ms.load_checkpoint(str(tmp_path / "ck" / "step-00000004.ckpt"))


def test_tokenizer_cpu_threads_change_speed_not_codes(base, tmp_path):
    """``run.tokenizer_cpu_threads`` (1 by default) against MindSpore's own thread count: the same codes."""
    runs = {}
    for threads in (0, 1):
        out = _copy(base, tmp_path / f"t{threads}")
        cli("tokenize", CFG, "--out", out, *SMALL, "--set", f"run.tokenizer_cpu_threads={threads}")
        runs[threads] = os.path.join(out, "tokenize-minilm-rqvae-co")
    np.testing.assert_array_equal(np.load(os.path.join(runs[0], "semantic_ids.npy")),
                                  np.load(os.path.join(runs[1], "semantic_ids.npy")))
    with open(os.path.join(runs[0], "history.json")) as f, open(os.path.join(runs[1], "history.json")) as g:
        losses = [[e["loss"] for e in json.load(h)["epochs"]] for h in (f, g)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
