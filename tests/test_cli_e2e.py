"""The real CLI in subprocesses on a small real data set: prepare, embed (MiniLM), tokenize, train, recommend."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, shared

SMALL = ["--set", "dataset.max_items=150", "--set", "tokenizer.epochs=3", "--set", "tokenizer.batch_size=64",
         "--set", "tokenizer.codebook_size=8",
         "--set", "generator.epochs=2", "--set", "generator.enc_layers=1", "--set", "generator.dec_layers=1",
         "--set", "generator.d_model=32", "--set", "generator.num_heads=2", "--set", "generator.head_dim=16",
         "--set", "generator.ffn_dim=64", "--set", "generator.batch_size=128", "--set", "generator.eval_every=1",
         "--set", "generator.max_history=5", "--set", "generator.length_buckets=[]",
         "--set", "generator.warmup_steps=10"]


def cli(*args, check=True):
    env = dict(os.environ, HF_HUB_OFFLINE="1", GLOG_v="3", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-m", "cost_ms", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    if check and proc.returncode:
        raise AssertionError(f"cost_ms {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def test_end_to_end_on_movielens(tmp_path):
    shared("ml-latest-small")
    cfg = os.path.join(ROOT, "configs", "ml-latest-small.yaml")
    out = ["--out", str(tmp_path), "-q"] + SMALL
    cli("prepare", cfg, *out)
    cli("embed", cfg, *out)
    tok = cli("tokenize", cfg, *out)
    assert "collision_rate" in tok.stdout
    folder = tmp_path / "tokenize-minilm-rqvae-co"
    for name in ("semantic_ids.csv", "semantic_ids.npy", "tokenizer_report.json", "meta.json", "config.yaml"):
        assert (folder / name).is_file(), name
    report = json.loads((folder / "tokenizer_report.json").read_text())
    assert report["num_items"] == 150 and 0 <= report["neighbourhood"]["share_same_c1"] <= 1
    assert not list(tmp_path.rglob("*.tmp"))                       # nothing half-written left behind

    # micro-batches by tokens, end to end: the 2-item bucket (128 x 8 tokens) runs whole, the 5-item one
    # (128 x 20) in 2 slices of 1,280 tokens
    train = cli("train", cfg, *out, "--set", "generator.length_buckets=[2]", "--set", "generator.micro_batch_tokens=1280")
    assert "test" in train.stdout and "pop-test" in train.stdout
    metrics = json.loads((tmp_path / "generator-minilm-rqvae-co" / "metrics.json").read_text())
    for split in ("valid", "test"):
        assert set(metrics[split]) == {f"{m}@{k}" for m in ("recall", "ndcg") for k in (5, 10, 20, 40)}
    assert metrics["tokenizer"] == "co" and metrics["config_hash"]
    # the protocol: history excluded by default, in metrics.json, its named copy and the printed table
    assert metrics["exclude_history"] is True and metrics["best_checkpoint_exclude_history"] is True
    assert "protocol: history excluded; best checkpoint chosen on validation with history excluded" in train.stdout
    gen = tmp_path / "generator-minilm-rqvae-co"
    assert json.loads((gen / "metrics-history-excluded.json").read_text()) == metrics
    raw = cli("evaluate", cfg, *out, "--set", "generator.length_buckets=[2]", "--set",
              "generator.micro_batch_tokens=1280", "--set", "eval.exclude_history=false")
    assert "protocol: raw (history items may be recommended); best checkpoint chosen on validation with history " \
           "excluded" in raw.stdout
    raw_metrics = json.loads((gen / "metrics-raw.json").read_text())
    assert raw_metrics == json.loads((gen / "metrics.json").read_text()) and raw_metrics["exclude_history"] is False
    assert json.loads((gen / "metrics-history-excluded.json").read_text()) == metrics      # kept beside it
    # per-user ranks beside the metrics, one file per protocol: the metrics follow from them
    from cost_ms.metrics import metrics_from_ranks
    for name, m in (("ranks-history-excluded.json", metrics), ("ranks-raw.json", raw_metrics)):
        ranks = json.loads((gen / name).read_text())
        for split in ("valid", "test"):
            assert metrics_from_ranks(ranks[split]["rank"], (5, 10, 20, 40)) == pytest.approx(m[split])
        assert len(ranks["test"]["users"]) == m["num_users"]

    items = json.loads((tmp_path / "data" / "sequences.json").read_text())
    from cost_ms.data import load
    prep = load(str(tmp_path / "data"))
    history = ",".join(prep.items["item_id"].iloc[list(items.values())[0][:3]])
    rec = cli("recommend", str(tmp_path / "generator-minilm-rqvae-co"), "--history", history, "-k", "5")
    rows = [json.loads(line) for line in rec.stdout.strip().splitlines()]
    assert len(rows) == 5 and all({"item_id", "title", "score"} <= set(r) for r in rows)
    bad = cli("recommend", str(tmp_path / "generator-minilm-rqvae-co"), "--history", "no-such-item", check=False)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: unknown item id")


def test_unknown_config_key_is_one_line_error(tmp_path):
    proc = cli("prepare", os.path.join(ROOT, "configs", "ml-100k.yaml"), "--set", "dataset.nme=x",
               "--out", str(tmp_path), check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        proc.stderr.strip().splitlines()[-1]] and "unknown config key 'dataset.nme'" in proc.stderr
    assert not any(tmp_path.iterdir())


def test_gpu_without_gpu_is_a_clear_error(tmp_path):
    shared("ml-latest-small")
    cfg = os.path.join(ROOT, "configs", "ml-latest-small.yaml")
    cli("prepare", cfg, "--out", str(tmp_path), "-q", "--set", "dataset.max_items=100")
    from cost_ms.embeddings import save_embeddings
    import numpy as np
    save_embeddings(str(tmp_path / "embed-minilm"), np.random.default_rng(0).normal(size=(100, 8)).astype("f4"),
                    "ml-latest-small", "test", False, 100)
    proc = cli("tokenize", cfg, "--out", str(tmp_path), "-q", "--device", "GPU", check=False)
    assert proc.returncode == 2 and "cannot use device GPU" in proc.stderr
