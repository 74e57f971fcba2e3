"""Semantic tokenizers behind one registry of methods: ``create_tokenizer(tokenizer.method)``.

``rqvae`` trains the RQ-VAE (MLP encoder, residual quantizer, MLP decoder) with the loss named by
``tokenizer.loss`` (``re`` = CoST eq. 1, ``co`` = CoST eq. 5, ``re+co``), read by this method only;
``random`` hashes each item to uniform random codes (the floor every learned tokenizer must beat).
A method is ``fn(tc, emb, folder, seed, jit, progress, keep, resolved, log_every) -> (codes [N, M], history)``.
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

TOKENIZERS = Registry("tokenizer method")
log = logging.getLogger("cost_ms.tokenizer")


@TOKENIZERS.register("rqvae")
def _rqvae(tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None, log_every=50):
    net, history = train_rqvae(tc, emb, folder, seed, jit=jit, progress=progress, keep=keep, resolved=resolved,
                               log_every=log_every)
    return encode_items(net, emb), history


@TOKENIZERS.register("random")
def _random(tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None, log_every=50):
    rng = np.random.default_rng(seed)
    return rng.integers(0, tc["codebook_size"], (len(emb), tc["levels"])), []


def create_tokenizer(method):
    return TOKENIZERS.get(method)


def tokenizer_name(tc):
    """What reports call this tokenizer: the loss for rqvae (``co``), else the method (``random``)."""
    return tc["loss"] if tc["method"] == "rqvae" else tc["method"]


def run_tokenize(cfg, prep, emb, emb_meta, folder, jit=True, progress=True):
    """Train/resume the configured tokenizer in ``folder`` and write semantic IDs and the report."""
    tc = cfg["tokenizer"]
    os.makedirs(folder, exist_ok=True)
    if tc["codebook_size"] ** tc["levels"] < prep.num_items:
        log.warning("K^M = %d^%d is smaller than the item count (%d): many items will share tuples "
                    "and need the dedup token", tc["codebook_size"], tc["levels"], prep.num_items)
    codes, history = create_tokenizer(tc["method"])(tc, emb, folder, cfg["run"]["seed"], jit=jit, progress=progress,
                                                    keep=cfg["run"]["keep_checkpoints"], resolved=cfg,
                                                    log_every=cfg["run"]["log_every_steps"])
    if not world().is_main:  # data parallel: rank 0 writes the outputs
        return None, None
    # written only now: a command refused on the way (e.g. a checkpoint of another config) changes nothing
    write_text(os.path.join(folder, "config.yaml"), dump(cfg))
    sid, report = write_outputs(folder, prep.items, codes, emb, tc["codebook_size"], tc["neighbours"],
                                dataset=prep.name, tokenizer=tokenizer_name(tc), method=tc["method"],
                                embedding=emb_meta.get("model"), embedding_dim=int(emb.shape[1]),
                                config_hash=config_hash(tc), epochs=len(history),
                                final=history[-1] if history else None)
    return sid, report
