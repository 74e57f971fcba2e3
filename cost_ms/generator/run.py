"""The train and evaluate stages of the generator: build the network, train it, evaluate ``best.ckpt``."""
import os
import time

from ..config import dump
from ..engine import load_weights
from ..errors import CostError
from ..io import config_hash, write_json, write_meta, write_text
from ..parallel import world
from ..runtime import set_seed
from ..stages import tokenizer_tag
from ..tokenizer.run import tokenizer_name
from ..data.splits import metrics_files, most_popular_metrics, protocol_fields, ranks_file, warn_unreachable
from .evaluation import Evaluator, format_table
from .inputs import GeneratorInputs
from .trainer import train_generator

STAGE = "train"


def build_network(cfg, inputs):
    set_seed(cfg.run.seed)       # weights depend on the seed only, not on what ran before
    return inputs.arch.network(cfg.generator, inputs.vocab, len(inputs.sid))


def run_config_hash(cfg):
    return config_hash({k: v for k, v in cfg.to_dict().items() if k in ("dataset", "embed", "tokenizer", "generator")})


def run_train(cfg, stages, prep, sid, jit=True, progress=True):
    """Train in ``stages.generator``; return ``(inputs, net, evaluator, state)``."""
    folder = stages.generator
    os.makedirs(folder, exist_ok=True)
    inputs = GeneratorInputs(cfg, prep, sid)
    net = build_network(cfg, inputs)
    evaluator = Evaluator(inputs, net)
    if world().is_main:       # once per command: train's evaluation afterwards does not repeat it
        warn_unreachable(prep, cfg.eval.exclude_history)
    t0 = time.time()
    state = train_generator(cfg, inputs, net, evaluator, folder, jit=jit, progress=progress)
    w = world()
    if w.is_main:
        # written only now: a command refused on the way (e.g. a checkpoint of another config) changes nothing
        write_text(os.path.join(folder, "config.yaml"), dump(cfg))
        write_meta(folder, STAGE, dataset=prep.name, tokenizer=tokenizer_name(cfg.tokenizer),
                   tokenizer_tag=tokenizer_tag(cfg),
                   data_dir=stages.relative("prepare", folder), semantic_ids_dir=stages.relative("tokenize", folder),
                   semantic_ids_hash=inputs.sid_hash, config_hash=run_config_hash(cfg), epochs=state["epoch"],
                   global_steps=state["global_step"], stopped=state["stopped"], best_epoch=state["best_epoch"],
                   early_stop=cfg.eval.early_stop, best_valid=state["best"],
                   valid_exclude_history=cfg.eval.exclude_history,
                   train_seconds=round(state["train_seconds"], 1), wall_seconds=round(time.time() - t0, 1))
    w.barrier()              # data parallel: every worker evaluates next, reading what rank 0 wrote
    return inputs, net, evaluator, state


def check_trained(folder, inputs):
    """``meta.json`` of a finished train stage trained on ``inputs``' semantic IDs."""
    from ..io import read_meta
    meta = read_meta(folder, STAGE)
    if meta["semantic_ids_hash"] != inputs.sid_hash:
        raise CostError(f"{folder} was trained on other semantic IDs than the current tokenize output; re-run train")
    return meta


def run_evaluate(cfg, inputs, net, folder, warn=True):
    """Load ``best.ckpt`` (strictly) into ``net``, evaluate on validation and test, write ``metrics.json``.

    The protocol is ``eval.exclude_history``; the figures also go to a copy named after it
    (:func:`~cost_ms.data.splits.metrics_files`), and every user's target rank to ``ranks-<protocol>.json``
    (``tools/paired_bootstrap.py`` compares two runs from them without decoding again). Data parallel: every worker decodes its share of the users;
    rank 0 writes. Nothing is written unless every parameter was loaded. ``warn``: log the unreachable-target
    line (``train`` has logged it already).
    """
    meta = check_trained(folder, inputs)
    load_weights(net, os.path.join(folder, "best.ckpt"))
    exclude = cfg.eval.exclude_history
    if warn and world().is_main:
        warn_unreachable(inputs.prep, exclude)
    # a searcher of its own, built after the load: the final figures are what a fresh `evaluate` process computes,
    # whatever graphs training and validation compiled before (one compile, once per run)
    evaluator = Evaluator(inputs, net, exclude)
    ks = cfg.eval.ks
    out = {"dataset": inputs.prep.name, "tokenizer": meta["tokenizer"],
           # runs trained before the switch existed validated with the raw protocol
           **protocol_fields(exclude, meta.get("valid_exclude_history", False)),
           "tokenizer_tag": meta.get("tokenizer_tag"), "config_hash": meta["config_hash"],
           "embedding": cfg.embed.model, "beam_size": cfg.generator.beam_size,
           "num_users": len(inputs.test), "num_items": inputs.prep.num_items, "epochs": meta["epochs"],
           "global_steps": meta.get("global_steps"), "best_epoch": meta["best_epoch"],
           "early_stop": meta.get("early_stop"), "train_seconds": meta["train_seconds"]}
    ranks = {"dataset": inputs.prep.name, **protocol_fields(exclude)}
    for split in ("valid", "test"):
        t0 = time.time()
        users = cfg.eval.valid_users if split == "valid" else 0
        out[split], names, rank = evaluator.evaluate(split, ks, users, cfg.run.seed, with_ranks=True)
        ranks[split] = {"users": [str(u) for u in names], "rank": rank.tolist()}
        out[f"{split}_users"] = min(users, len(inputs.test)) if users else len(inputs.test)
        out[f"{split}_seconds"] = round(time.time() - t0, 1)
    out["most_popular"] = most_popular_metrics(inputs, ks, exclude)
    if world().is_main:
        write_json(ranks_file(folder, exclude), ranks)
        for path in metrics_files(folder, exclude):
            write_json(path, out)
    return out


__all__ = ["GeneratorInputs", "Evaluator", "build_network", "format_table", "run_evaluate", "run_train",
           "run_config_hash"]
