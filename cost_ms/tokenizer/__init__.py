"""Semantic tokenizers behind one registry: ``create_tokenizer(name)(tc, emb, folder, seed)``.

``re``, ``co`` and ``re+co`` train the RQ-VAE with the named loss; ``random`` hashes
each item to uniform random codes (the floor every learned tokenizer must beat).
"""
import logging
import os

import numpy as np

from ..config import dump
from ..io import config_hash, write_text
from ..parallel import world
from ..registry import Registry
from .semantic_ids import load_semantic_ids, write_outputs  # noqa: F401
from .trainer import encode_items, train_rqvae

TOKENIZERS = Registry("tokenizer")
log = logging.getLogger("cost_ms.tokenizer")


def _learned(tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None):
    net, history = train_rqvae(tc, emb, folder, seed, jit=jit, progress=progress, keep=keep, resolved=resolved)
    return encode_items(net, emb), history


for _name in ("re", "co", "re+co"):
    TOKENIZERS.register(_name)(_learned)


@TOKENIZERS.register("random")
def _random(tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None):
    rng = np.random.default_rng(seed)
    return rng.integers(0, tc["codebook_size"], (len(emb), tc["levels"])), []


def create_tokenizer(name):
    return TOKENIZERS.get(name)


def run_tokenize(cfg, prep, emb, emb_meta, folder, jit=True, progress=True):
    """Train/resume the configured tokenizer in ``folder`` and write semantic IDs and the report."""
    tc = cfg["tokenizer"]
    os.makedirs(folder, exist_ok=True)
    if tc["codebook_size"] ** tc["levels"] < prep.num_items:
        log.warning("K^M = %d^%d is smaller than the item count (%d): many items will share tuples "
                    "and need the dedup token", tc["codebook_size"], tc["levels"], prep.num_items)
    codes, history = create_tokenizer(tc["loss"])(tc, emb, folder, cfg["run"]["seed"], jit=jit, progress=progress,
                                                  keep=cfg["run"]["keep_checkpoints"], resolved=cfg)
    if not world().is_main:  # data parallel: rank 0 writes the outputs
        return None, None
    # written only now: a command refused on the way (e.g. a checkpoint of another config) changes nothing
    write_text(os.path.join(folder, "config.yaml"), dump(cfg))
    sid, report = write_outputs(folder, prep.items, codes, emb, tc["codebook_size"], tc["neighbours"],
                                dataset=prep.name, tokenizer=tc["loss"], embedding=emb_meta.get("model"),
                                embedding_dim=int(emb.shape[1]), config_hash=config_hash(tc),
                                epochs=len(history), final=history[-1] if history else None)
    return sid, report
