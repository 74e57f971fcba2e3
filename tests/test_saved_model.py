"""Saved networks load in a new process exactly, or are refused with one line.

``best.ckpt`` and the resumable checkpoints store parameter names relative to the bare network,
so a process that builds the network afresh (``evaluate``, ``recommend``, ``Recommender``) loads
every weight; a checkpoint with a missing or extra parameter is refused and changes no file.
"""
import json
import os
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.test_bad_input import snapshot
from tests.test_kill_resume import CFG, ENV, SMALL, _copy, base, cli  # noqa: F401  (base is a fixture)

GEN = os.path.join("generator-minilm-rqvae-co")
ONE_EPOCH = ["--set", "generator.epochs=1"]          # best.ckpt = the weights still in memory after train


CAUSAL = ["--set", "generator.arch=causal", "--set", "generator.window_stride=2"]
CAUSAL_GEN = os.path.join("generator-causal-minilm-rqvae-co")


def _train(base, tmp_path_factory, extra=()):
    """Tokenize and train through the real CLI; the probe decodes with the in-memory network."""
    run = _copy(base, tmp_path_factory.mktemp("saved") / "run")
    cli("tokenize", CFG, "--out", run, *SMALL)
    from cost_ms.data import load
    prep = load(os.path.join(run, "data"))
    history = list(prep.sequences.values())[0][:4]
    probe = os.path.join(run, "probe.json")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "_train_and_probe.py"), probe,
                           ",".join(map(str, history)), "train", CFG, "--out", run, *SMALL, *ONE_EPOCH, *extra],
                          cwd=ROOT, env=dict(ENV, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(probe) as f:
        topk = json.load(f)["topk"]
    return run, prep, history, topk


@pytest.fixture(scope="module")
def trained(base, tmp_path_factory):
    return _train(base, tmp_path_factory)


@pytest.fixture(scope="module")
def trained_causal(base, tmp_path_factory):
    return _train(base, tmp_path_factory, CAUSAL)


def test_evaluate_in_a_new_process_gives_the_metrics_train_wrote(trained):
    run, _, _, _ = trained
    path = os.path.join(run, GEN, "metrics.json")
    with open(path) as f:
        written = json.load(f)
    proc = cli("evaluate", CFG, "--out", run, *SMALL, *ONE_EPOCH)
    assert "not loaded" not in proc.stderr
    with open(path) as f:
        again = json.load(f)
    assert again["test"] == written["test"] and again["valid"] == written["valid"]
    assert written["test"] != {k: 0.0 for k in written["test"]}


def test_recommend_in_a_new_process_gives_the_in_memory_top_k(trained):
    run, prep, history, topk = trained
    ids = ",".join(prep.items["item_id"].iloc[history].astype(str))
    proc = subprocess.run([sys.executable, "-m", "cost_ms", "recommend", os.path.join(run, GEN), "--history", ids,
                           "-k", "5"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert [r["item_id"] for r in rows] == [str(prep.items["item_id"].iloc[i]) for i, _ in topk]
    np.testing.assert_allclose([r["score"] for r in rows], [s for _, s in topk], rtol=1e-6)
    # a trained model is far from uniform: log(1/V) per token would tie every item
    assert rows[0]["score"] > rows[-1]["score"]


def test_causal_run_gives_the_same_metrics_and_top_k_in_new_processes(trained_causal):
    """The causal architecture through the same engine: evaluate and recommend rebuild it from the saved config
    alone (generator.arch is in it) and reproduce what training computed in memory."""
    run, prep, history, topk = trained_causal
    gen = os.path.join(run, CAUSAL_GEN)
    with open(os.path.join(gen, "metrics.json")) as f:
        written = json.load(f)
    cli("evaluate", CFG, "--out", run, *SMALL, *ONE_EPOCH, *CAUSAL)
    with open(os.path.join(gen, "metrics.json")) as f:
        again = json.load(f)
    assert again["test"] == written["test"] and written["test"] != {k: 0.0 for k in written["test"]}
    ids = ",".join(prep.items["item_id"].iloc[history].astype(str))
    proc = subprocess.run([sys.executable, "-m", "cost_ms", "recommend", gen, "--history", ids, "-k", "5"],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    assert [r["item_id"] for r in rows] == [str(prep.items["item_id"].iloc[i]) for i, _ in topk]
    np.testing.assert_allclose([r["score"] for r in rows], [s for _, s in topk], rtol=1e-6)
    assert not set(rows[i]["item_id"] for i in range(5)) & set(ids.split(","))      # history excluded by default


def _rewrite_ckpt(path, drop=None, add=None):
    params = ms.load_checkpoint(path)
    entries = [{"name": k, "data": v} for k, v in params.items() if k != drop]
    if add:
        entries.append({"name": add, "data": ms.Tensor(np.zeros(3, np.float32))})
    ms.save_checkpoint(entries, path)


@pytest.mark.parametrize("change, message", [
    ("drop", "parameter(s) of the network are not in it (embed.embedding_table)"),
    ("add", "belong to no parameter (decoder.99.extra)"),
])
def test_checkpoint_with_missing_or_extra_parameter_is_refused(trained, tmp_path, change, message):
    run = _copy(trained[0], tmp_path / "run")
    best = os.path.join(run, GEN, "best.ckpt")
    _rewrite_ckpt(best, drop="embed.embedding_table" if change == "drop" else None,
                  add="decoder.99.extra" if change == "add" else None)
    before = snapshot(run)
    for args in (["evaluate", CFG, "--out", run, *SMALL, *ONE_EPOCH],
                 ["recommend", os.path.join(run, GEN), "--history", str(trained[1].items["item_id"].iloc[0])]):
        proc = subprocess.run([sys.executable, "-m", "cost_ms", *args], cwd=ROOT, env=ENV, capture_output=True,
                              text=True, timeout=600)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert lines[-1].startswith("error: checkpoint ") and message in lines[-1], lines[-1]
        assert not any("Traceback" in ln for ln in lines)
        assert snapshot(run) == before


def test_resume_checkpoint_with_a_missing_parameter_is_refused(trained, tmp_path):
    """The resumable path is strict too: a step checkpoint without one weight cannot be continued."""
    run = _copy(trained[0], tmp_path / "run")
    ckpt = os.path.join(run, GEN, "ckpt")
    newest = sorted(n for n in os.listdir(ckpt) if n.endswith(".ckpt"))[-1]
    _rewrite_ckpt(os.path.join(ckpt, newest), drop="net.head.weight")
    before = snapshot(run)
    args = ["train", CFG, "--out", run, *SMALL, *ONE_EPOCH]          # the same run, resumed
    proc = subprocess.run([sys.executable, "-m", "cost_ms", *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 2 and "net.head.weight" in proc.stderr.strip().splitlines()[-1], proc.stderr[-2000:]
    assert snapshot(run) == before


def _rig(best, item_tok, history, rng):
    """Rewrite ``best.ckpt`` so the decoder ignores its input and scores the codes of ``history`` highest.

    The final LayerNorm's gain is zeroed and its bias made the first unit vector, so every position's hidden
    state is ``e_0`` and the output head's first column is every token's logit, whatever the input. The codes of
    the history items get logits above 20, growing with the item's position (so the newest history item's tuple
    holds the largest logit of every level and is the raw top-1 for every user); every other token gets a small
    random one, so no two tuples tie."""
    params = ms.load_checkpoint(best)
    d = params["dec_ln.gamma"].shape[0]
    weight = np.zeros(params["head.weight"].shape, np.float32)
    weight[:, 0] = rng.uniform(0, 1, len(weight))
    for j, item in enumerate(history):
        weight[item_tok[item], 0] = 20.0 + j + rng.uniform(0, 0.5, item_tok.shape[1])
    params["dec_ln.gamma"] = ms.Tensor(np.zeros(d, np.float32))
    params["dec_ln.beta"] = ms.Tensor(np.eye(1, d, dtype=np.float32)[0])
    params["head.weight"] = ms.Tensor(weight)
    ms.save_checkpoint([{"name": k, "data": v} for k, v in params.items()], best)


def test_rigged_network_never_returns_history_with_the_switch_on(trained, tmp_path):
    """A network rigged to score the history's items highest: with history exclusion, `recommend` (new process),
    `Recommender` and the evaluator return k distinct items, none in the history; with the switch off they return the raw ranking, history items on top."""
    from cost_ms.generator.evaluation import Evaluator
    from cost_ms.generator.recommend import Recommender
    run = _copy(trained[0], tmp_path / "run")
    prep, folder = trained[1], os.path.join(run, GEN)
    history = next(s for s in prep.sequences.values() if len(s) >= 8)[:6]     # inside the user's test history
    ids = prep.items["item_id"].iloc[history].astype(str).tolist()
    item_tok = Recommender(folder).inputs.item_tok
    _rig(os.path.join(folder, "best.ckpt"), item_tok, history, np.random.default_rng(0))

    rec = Recommender(folder)                               # the run's eval.exclude_history: true by default
    k = 10
    new = [r["item_id"] for r in rec.recommend(ids, k)]
    raw = [r["item_id"] for r in rec.recommend(ids, k, exclude_history=False)]
    assert len(new) == len(set(new)) == k and not set(new) & set(ids)
    assert raw[0] == ids[-1] and len(set(raw) & set(ids)) >= 2, raw       # the rig works when history is allowed
    _, src, _ = rec.inputs.builder.evaluation({"u": history}, {"u": 0})
    today, _ = rec.searcher.search(src)                   # the search without the exclusion argument
    assert [rec.index_of[i] for i in raw] == today[0][:k].tolist()

    for flag, want in (([], new), (["--exclude-history", "false"], raw)):
        proc = subprocess.run([sys.executable, "-m", "cost_ms", "recommend", folder, "--history", ",".join(ids),
                               "-k", str(k), *flag], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert [json.loads(line)["item_id"] for line in proc.stdout.strip().splitlines()] == want

    hist, _ = rec.inputs.histories("test")
    users = sorted(u for u in hist if history[-1] in hist[u])           # the rig's top-1 is in their history
    top = Evaluator(rec.inputs, rec.net, exclude_history=True).top_items("test", users)
    top_raw = Evaluator(rec.inputs, rec.net, exclude_history=False).top_items("test", users)
    assert users and (top_raw[:, 0] == history[-1]).all()
    for u, row in zip(users, top):
        assert (row >= 0).all() and len(set(row)) == len(row) and not set(row) & set(hist[u])


def test_history_leaving_fewer_than_k_items_returns_them_with_a_warning(trained, caplog):
    import logging
    from cost_ms.generator.recommend import Recommender
    run, prep = trained[0], trained[1]
    rec = Recommender(os.path.join(run, GEN))
    ids = prep.items["item_id"].astype(str).tolist()
    with caplog.at_level(logging.WARNING, logger="cost_ms.recommend"):
        out = rec.recommend(ids[3:], k=5)                  # every item but three is in the history
    assert sorted(r["item_id"] for r in out) == sorted(ids[:3])
    assert [r.getMessage() for r in caplog.records] == [
        f"only 3 item(s) returned for k = 5: the history holds {len(ids) - 3} of the catalogue's {len(ids)} items, "
        "and history items are excluded"]
