"""Generative retrieval (TIGER): train, evaluate and recommend from a run folder."""
import os
import time

import numpy as np

from ..config import dump
from ..errors import CostError
from ..io import read_meta, write_json, write_meta, write_text
from ..metrics import popularity_metrics
from ..parallel import world
from .trainer import GeneratorSetup, load_best, run_config_hash, saved_config, train_generator

STAGE = "train"


def run_train(cfg, prep, sid, sid_folder, folder, jit=True, progress=True):
    os.makedirs(folder, exist_ok=True)
    setup = GeneratorSetup(cfg, prep, sid)
    t0 = time.time()
    state = train_generator(cfg, setup, folder, jit=jit, progress=progress)
    w = world()
    if w.is_main:
        # written only now: a command refused on the way (e.g. a checkpoint of another config) changes nothing
        write_text(os.path.join(folder, "config.yaml"), dump(saved_config(cfg)))
        write_meta(folder, STAGE, dataset=prep.name, tokenizer=cfg["tokenizer"]["loss"],
                   data_dir=os.path.relpath(os.path.abspath(cfg["_paths"]["data"]), os.path.abspath(folder)),
                   semantic_ids_dir=os.path.relpath(os.path.abspath(sid_folder), os.path.abspath(folder)),
                   semantic_ids_hash=setup.sid_hash, config_hash=run_config_hash(cfg), epochs=state["epoch"],
                   best_epoch=state["best_epoch"], best_valid_ndcg10=state["best"],
                   train_seconds=round(state["train_seconds"], 1), wall_seconds=round(time.time() - t0, 1))
    w.barrier()              # data parallel: every worker evaluates next, reading what rank 0 wrote
    return setup, state


def run_evaluate(cfg, setup, folder):
    """Evaluate ``best.ckpt`` on validation and test; write ``metrics.json`` beside it.

    Data parallel: every worker decodes its share of the users; rank 0 writes.
    """
    meta = read_meta(folder, STAGE, "python -m cost_ms train CONFIG")
    if meta["semantic_ids_hash"] != setup.sid_hash:
        raise CostError(f"{folder} was trained on other semantic IDs than the current tokenize output; re-run train")
    load_best(setup, folder)
    ks = cfg["eval"]["ks"]
    out = {"dataset": setup.prep.name, "tokenizer": cfg["tokenizer"]["loss"], "config_hash": meta["config_hash"],
           "embedding": cfg["embed"]["model"], "beam_size": cfg["generator"]["beam_size"],
           "num_users": len(setup.test), "num_items": setup.prep.num_items,
           "epochs": meta["epochs"], "best_epoch": meta["best_epoch"], "train_seconds": meta["train_seconds"]}
    for split in ("valid", "test"):
        t0 = time.time()
        users = cfg["eval"]["valid_users"] if split == "valid" else 0
        out[split] = setup.evaluate(split, ks, users, cfg["run"]["seed"])
        out[f"{split}_users"] = min(users, len(setup.test)) if users else len(setup.test)
        out[f"{split}_seconds"] = round(time.time() - t0, 1)
    train = setup.train_seqs
    out["most_popular"] = {
        "valid": popularity_metrics(train, np.array([setup.valid[u] for u in setup.valid]), ks),
        "test": popularity_metrics({u: s + [setup.valid[u]] for u, s in train.items()},
                                   np.array([setup.test[u] for u in setup.test]), ks)}
    if world().is_main:
        write_json(os.path.join(folder, "metrics.json"), out)
    return out


def format_table(metrics, ks):
    head = "split        " + " ".join(f"{m}@{k:<3}" for k in ks for m in ("R", "N"))
    rows = [head]
    for name, m in (("valid", metrics["valid"]), ("test", metrics["test"]),
                    ("pop-valid", metrics["most_popular"]["valid"]), ("pop-test", metrics["most_popular"]["test"])):
        rows.append(f"{name:<12} " + " ".join(f"{m[f'recall@{k}']:.4f} {m[f'ndcg@{k}']:.4f}" for k in ks))
    return "\n".join(rows)
