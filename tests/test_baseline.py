"""The SASRec and most-popular baselines: the loss as written, and the real CLI on small real data."""
import json
import os

import numpy as np
import pytest
from mindspore import Tensor

from tests.conftest import ROOT, shared
from tests.test_bad_input import rejects
from tests.test_kill_resume import cli

CFG = os.path.join(ROOT, "configs", "ml-latest-small.yaml")
DATA = ["--set", "dataset.max_items=800", "--set", "dataset.max_seq_len=40", "-q"]
SASREC = ["--set", "baseline.max_len=30", "--set", "baseline.d_model=32", "--set", "baseline.epochs=30",
          "--set", "baseline.batch_size=64", "--set", "baseline.eval_every=5", "--set", "baseline.patience=2",
          "--set", "baseline.warmup_steps=20", "--set", "baseline.dropout=0.2", "--set", "eval.ks=[5,10,20]"]


def test_sasrec_loss_is_mean_cross_entropy_over_real_positions(graph_mode):
    """Padding targets (0) carry no loss; the rest is -log softmax over the whole catalogue, averaged."""
    from cost_ms.baseline.sasrec import SASRec, SASRecWithLoss
    net = SASRec(num_items=6, max_len=4, d_model=8, num_heads=2, blocks=1, dropout=0.0)
    net.set_train(False)
    seq = np.array([[0, 1, 2, 3], [0, 0, 4, 5]], np.int32)
    target = np.array([[1, 2, 3, 4], [0, 0, 5, 6]], np.int32)
    loss, _ = SASRecWithLoss(net)(Tensor(seq), Tensor(target))
    logits = net(Tensor(seq)).asnumpy().astype(np.float64)
    assert (logits[..., 0] < -1e8).all()                      # padding is never a candidate
    lse = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    nll = [lse[b, t] - logits[b, t, target[b, t]] for b in range(2) for t in range(4) if target[b, t] > 0]
    np.testing.assert_allclose(float(loss.asnumpy()), np.mean(nll), rtol=1e-5)


def test_sasrec_beats_most_popular_on_movielens(tmp_path):
    shared("ml-latest-small")
    run = str(tmp_path / "run")
    cli("prepare", CFG, "--out", run, *DATA)
    proc = cli("baseline", CFG, "--model", "sasrec", "--out", run, *DATA, *SASREC)
    assert "pop-test" in proc.stdout
    folder = os.path.join(run, "baseline-sasrec")
    for name in ("metrics.json", "meta.json", "best.ckpt", "history.json", "training_curve.png", "config.yaml"):
        assert os.path.isfile(os.path.join(folder, name)), name
    with open(os.path.join(folder, "metrics.json")) as f:
        m = json.load(f)
    assert m["test"]["recall@10"] > m["most_popular"]["test"]["recall@10"], m
    # scored under both protocols; metrics.json is the configured one (history excluded by default)
    assert m["exclude_history"] is True and m["best_checkpoint_exclude_history"] is True
    with open(os.path.join(folder, "metrics-history-excluded.json")) as f, \
            open(os.path.join(folder, "metrics-raw.json")) as g:
        excluded, raw = json.load(f), json.load(g)
    assert excluded == m and raw["exclude_history"] is False and raw["best_checkpoint_exclude_history"] is True
    assert raw["test"] != m["test"] and raw["most_popular"]["test"] != m["most_popular"]["test"]
    assert "protocol: history excluded" in proc.stdout
    assert m["test"]["ndcg@10"] > m["most_popular"]["test"]["ndcg@10"], m

    pop = cli("baseline", CFG, "--model", "popular", "--out", run, *DATA, *SASREC)
    assert "pop-test" in pop.stdout
    with open(os.path.join(run, "baseline-popular", "metrics.json")) as f:
        p = json.load(f)
    assert p["test"] == p["most_popular"]["test"] == m["most_popular"]["test"]


@pytest.mark.parametrize("args, message", [
    (["--model", "gru4rec"], "unknown baseline model 'gru4rec'; choose one of: popular, sasrec"),
    (["--model", "sasrec"], "prepare output missing or unfinished"),
])
def test_bad_baseline_command(tmp_path, args, message):
    run = tmp_path / "run"
    rejects(["baseline", CFG, "--out", run, *args], message, run)
