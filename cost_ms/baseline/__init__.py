"""Baselines beside the generative retriever, on the same split and metrics.

``python -m cost_ms baseline CONFIG --model sasrec|popular`` writes ``baseline-<model>/metrics.json``
(validation and test Recall/NDCG@ks, the most-popular floor beside them) and ``meta.json``:

* ``sasrec``: SASRec with full-catalogue softmax cross-entropy (``sasrec.py``), trained on the
  engine's loop with early stopping on ``eval.early_stop``; ``best.ckpt``, ``history.json``, curve.
* ``popular``: items ranked by training-part popularity (no training).
"""
import hashlib
import json
import os
import time

from ..config import dump
from ..data.splits import Splits, most_popular_metrics
from ..engine import load_weights
from ..io import write_json, write_meta, write_text
from ..parallel import world
from ..registry import Registry
from ..runtime import set_seed

STAGE = "baseline"
BASELINES = Registry("baseline model")


def _data_hash(splits):
    blob = json.dumps(splits.prep.sequences, sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:12]


@BASELINES.register("popular")
def _popular(cfg, splits, folder):
    pop = most_popular_metrics(splits, cfg["eval"]["ks"])
    return {"valid": pop["valid"], "test": pop["test"]}, {}


@BASELINES.register("sasrec")
def _sasrec(cfg, splits, folder):
    from .sasrec import SASRec
    from .trainer import SASRecEvaluator, train_sasrec
    bc, ks = cfg["baseline"], cfg["eval"]["ks"]
    set_seed(cfg["run"]["seed"])
    net = SASRec(splits.prep.num_items, bc["max_len"], bc["d_model"], bc["num_heads"], bc["blocks"], bc["dropout"])
    evaluator = SASRecEvaluator(net, splits, bc, max(ks))
    state = train_sasrec(cfg, splits, net, evaluator, folder, _data_hash(splits))
    load_weights(net, os.path.join(folder, "best.ckpt"))
    out = {split: evaluator.evaluate(split, ks, cfg["eval"]["valid_users"] if split == "valid" else 0,
                                     cfg["run"]["seed"]) for split in ("valid", "test")}
    info = {"epochs": state["epoch"], "global_steps": state["global_step"], "best_epoch": state["best_epoch"],
            "stopped": state["stopped"], "train_seconds": round(state["train_seconds"], 1),
            "parameters": int(sum(p.size for p in net.trainable_params()))}
    return out, info


def run_baseline(cfg, prep, model, folder):
    """Train/evaluate baseline ``model`` in ``folder``; rank 0 writes metrics.json, config.yaml, meta.json."""
    fn = BASELINES.get(model)
    os.makedirs(folder, exist_ok=True)
    splits, t0 = Splits(prep), time.time()
    metrics, info = fn(cfg, splits, folder)
    out = {"dataset": prep.name, "model": model, "num_users": len(splits.test), "num_items": prep.num_items,
           **metrics, **info, "most_popular": most_popular_metrics(splits, cfg["eval"]["ks"]),
           "wall_seconds": round(time.time() - t0, 1)}
    if world().is_main:
        write_json(os.path.join(folder, "metrics.json"), out)
        write_text(os.path.join(folder, "config.yaml"), dump(cfg))
        write_meta(folder, STAGE, dataset=prep.name, model=model, data_hash=_data_hash(splits))
    return out
