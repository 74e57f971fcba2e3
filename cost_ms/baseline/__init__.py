"""Baselines beside the generative retriever, on the same split and metrics.

``python -m cost_ms baseline CONFIG --model sasrec|popular`` writes ``baseline-<model>/metrics.json``
(validation and test Recall/NDCG@ks, the most-popular floor beside them, under ``eval.exclude_history``) and
``meta.json``; both protocols' figures also go to ``metrics-history-excluded.json`` and ``metrics-raw.json``
(scoring is cheap here; SASRec's best checkpoint is chosen under ``eval.exclude_history`` either way):

* ``sasrec``: SASRec with full-catalogue softmax cross-entropy (``sasrec.py``), trained on the
  engine's loop with early stopping on ``eval.early_stop``; ``best.ckpt``, ``history.json``, curve.
* ``popular``: items ranked by training-part popularity (no training).
"""
import hashlib
import json
import os
import time

from ..config import dump
from ..data.splits import Splits, metrics_files, most_popular_metrics, protocol_fields, warn_unreachable
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


PROTOCOLS = (True, False)       # eval.exclude_history values every baseline is scored under


@BASELINES.register("popular")
def _popular(cfg, splits, folder):
    out = {}
    for exclude in PROTOCOLS:
        pop = most_popular_metrics(splits, cfg.eval.ks, exclude)
        out[exclude] = {"valid": pop["valid"], "test": pop["test"]}
    return out, {}


@BASELINES.register("sasrec")
def _sasrec(cfg, splits, folder):
    from .sasrec import SASRec
    from .trainer import SASRecEvaluator, train_sasrec
    bc, ks = cfg.baseline, cfg.eval.ks
    set_seed(cfg.run.seed)
    net = SASRec(splits.prep.num_items, bc.max_len, bc.d_model, bc.num_heads, bc.blocks, bc.dropout)
    evaluator = SASRecEvaluator(net, splits, bc, max(ks), cfg.eval.exclude_history)
    state = train_sasrec(cfg, splits, net, evaluator, folder, _data_hash(splits))
    load_weights(net, os.path.join(folder, "best.ckpt"))
    out = {exclude: {split: evaluator.evaluate(split, ks, cfg.eval.valid_users if split == "valid" else 0,
                                               cfg.run.seed, exclude) for split in ("valid", "test")}
           for exclude in PROTOCOLS}
    info = {"epochs": state["epoch"], "global_steps": state["global_step"], "best_epoch": state["best_epoch"],
            "stopped": state["stopped"], "train_seconds": round(state["train_seconds"], 1),
            "parameters": int(sum(p.size for p in net.trainable_params())),
            "best_checkpoint_exclude_history": cfg.eval.exclude_history}
    return out, info


def run_baseline(cfg, prep, model, folder):
    """Train/evaluate baseline ``model`` in ``folder``; rank 0 writes metrics.json (and one file per protocol),
    config.yaml, meta.json."""
    fn = BASELINES.get(model)
    os.makedirs(folder, exist_ok=True)
    splits, t0 = Splits(prep), time.time()
    exclude = cfg.eval.exclude_history
    if world().is_main:
        warn_unreachable(prep, exclude)
    metrics, info = fn(cfg, splits, folder)
    common = {"dataset": prep.name, "model": model, "num_users": len(splits.test), "num_items": prep.num_items}
    # a trained baseline's info names the protocol that chose its checkpoint (best_checkpoint_exclude_history)
    outs = {p: {**common, **protocol_fields(p), **metrics[p], **info,
                "most_popular": most_popular_metrics(splits, cfg.eval.ks, p),
                "wall_seconds": round(time.time() - t0, 1)} for p in PROTOCOLS}
    if world().is_main:
        for p in PROTOCOLS:
            write_json(metrics_files(folder, p)[1], outs[p])
        write_json(os.path.join(folder, "metrics.json"), outs[exclude])
        write_text(os.path.join(folder, "config.yaml"), dump(cfg))
        write_meta(folder, STAGE, dataset=prep.name, model=model, data_hash=_data_hash(splits))
    return outs[exclude]
