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


@pytest.fixture(scope="module")
def trained(base, tmp_path_factory):
    """Tokenize and train through the real CLI; the probe decodes with the in-memory network."""
    run = _copy(base, tmp_path_factory.mktemp("saved") / "run")
    cli("tokenize", CFG, "--out", run, *SMALL)
    from cost_ms.data import load
    prep = load(os.path.join(run, "data"))
    history = list(prep.sequences.values())[0][:4]
    probe = os.path.join(run, "probe.json")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "_train_and_probe.py"), probe,
                           ",".join(map(str, history)), "train", CFG, "--out", run, *SMALL, *ONE_EPOCH],
                          cwd=ROOT, env=dict(ENV, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(probe) as f:
        topk = json.load(f)["topk"]
    return run, prep, history, topk


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
