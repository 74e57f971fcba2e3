"""Semantic tokenizers behind one registry of methods: ``create_tokenizer(tokenizer.method)``.

``rqvae`` trains the RQ-VAE (MLP encoder, residual quantizer, MLP decoder) with the loss named by
``tokenizer.loss`` (``re`` = CoST eq. 1, ``co`` = CoST eq. 5, ``re+co``), read by this method only;
``simcit`` trains SimCIT (views -> fusion -> soft residual quantizer, contrastive, no decoder) on the
views ``tokenizer.views``; ``random`` hashes each item to uniform random codes (the floor every learned
tokenizer must beat). A method is ``fn(tc, emb, folder, seed, jit, progress, keep, resolved, log_every,
views) -> (codes [N, M], history, extra report fields)``; ``views`` is the list of view matrices
(SimCIT only).
"""
import logging
import os

import numpy as np

from ..config import dump
from ..io import config_hash, write_text
from ..parallel import world
from ..registry import Registry
from .semantic_ids import load_semantic_ids, write_outputs  # noqa: F401
from .simcit_trainer import encode_simcit, train_simcit
from .trainer import encode_items, train_rqvae

TOKENIZERS = Registry("tokenizer method")
log = logging.getLogger("cost_ms.tokenizer")


def _centred(tc, m):
    # a zero-mean input spreads level-1 codes; the targets of eq. 2/4 are centred too
    return m - m.mean(0, keepdims=True) if tc["center_inputs"] else m


def _scaled(m):
    # unit mean square per feature: views of any width and norm reach the encoders at one scale, large enough
    # that squared distances in the latent are not swamped by the Gumbel noise of the soft assignment
    rms = float(np.sqrt((m.astype(np.float64) ** 2).sum(1).mean() / m.shape[1]))
    return (m / rms).astype(np.float32) if rms > 0 else m


@TOKENIZERS.register("rqvae")
def _rqvae(tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None, log_every=50, views=None):
    emb = _centred(tc, emb)
    net, history = train_rqvae(tc, emb, folder, seed, jit=jit, progress=progress, keep=keep, resolved=resolved,
                               log_every=log_every)
    return encode_items(net, emb), history, {}


@TOKENIZERS.register("simcit")
def _simcit(tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None, log_every=50, views=None):
    views = [_scaled(_centred(tc, v)) for v in views]
    net, history, align = train_simcit(tc, views, folder, seed, jit=jit, progress=progress, keep=keep,
                                       resolved=resolved, log_every=log_every)
    codes, alpha = encode_simcit(net, views)
    report = {name: {"fusion_weight": float(alpha[:, i].mean()),
                     "align_loss": None if align is None else float(align[i])} for i, name in enumerate(tc["views"])}
    return codes, history, {"views": report}


@TOKENIZERS.register("random")
def _random(tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None, log_every=50, views=None):
    rng = np.random.default_rng(seed)
    return rng.integers(0, tc["codebook_size"], (len(emb), tc["levels"])), [], {}


def create_tokenizer(method):
    return TOKENIZERS.get(method)


def tokenizer_name(tc):
    """What reports call this tokenizer: the loss for rqvae (``co``), SimCIT with its views
    (``simcit-text+cf``), else the method (``random``)."""
    return {"rqvae": tc["loss"], "simcit": "simcit-" + "+".join(tc["views"])}.get(tc["method"], tc["method"])


def run_tokenize(cfg, prep, emb, emb_meta, folder, jit=True, progress=True, views=None):
    """Train/resume the configured tokenizer in ``folder`` and write semantic IDs and the report.

    ``views``: the view matrices of ``tokenizer.views`` (SimCIT), already checked.
    """
    tc = cfg["tokenizer"]
    os.makedirs(folder, exist_ok=True)
    if tc["codebook_size"] ** tc["levels"] < prep.num_items:
        log.warning("K^M = %d^%d is smaller than the item count (%d): many items will share tuples "
                    "and need the dedup token", tc["codebook_size"], tc["levels"], prep.num_items)
    codes, history, extra = create_tokenizer(tc["method"])(tc, emb, folder, cfg["run"]["seed"], jit=jit,
                                                           progress=progress, keep=cfg["run"]["keep_checkpoints"],
                                                           resolved=cfg, log_every=cfg["run"]["log_every_steps"],
                                                           views=views)
    if not world().is_main:  # data parallel: rank 0 writes the outputs
        return None, None
    # written only now: a command refused on the way (e.g. a checkpoint of another config) changes nothing
    write_text(os.path.join(folder, "config.yaml"), dump(cfg))
    sid, report = write_outputs(folder, prep.items, codes, emb, tc["codebook_size"], tc["neighbours"],
                                dataset=prep.name, tokenizer=tokenizer_name(tc), method=tc["method"],
                                embedding=emb_meta.get("model"), embedding_dim=int(emb.shape[1]),
                                config_hash=config_hash(tc), epochs=len(history),
                                final=history[-1] if history else None, extra=extra)
    return sid, report
