"""Training the generative retriever with early stopping on validation NDCG@10.

Folder layout (``generator-<tokenizer>/``)::

    config.yaml     resolved config
    ckpt/           last.ckpt + state.json, every epoch (resume)
    best.ckpt       weights of the best validation epoch, best.json its score
    metrics.json    validation and test Recall/NDCG, most-popular floor (written by evaluate)
    meta.json       what this folder was trained on (checked by evaluate and recommend)
"""
import hashlib
import logging
import os
import time

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn
from tqdm import tqdm

from ..checkpoint import load_state, save_state
from ..io import atomic_path, config_hash, write_json
from ..metrics import recall_ndcg
from ..runtime import set_seed
from ..train_step import make_train_step
from .beam_search import BeamSearcher, PrefixIndex
from .samples import SampleBuilder, decoder_io
from .transformer import Seq2SeqWithLoss, create_model
from .vocab import Vocab

log = logging.getLogger("cost_ms.generator")


def lr_schedule(gc, total_steps):
    """Per-step learning rate: linear warm-up, then cosine / constant / inverse-sqrt decay."""
    steps = np.arange(1, total_steps + 1, dtype=np.float64)
    warm = max(1, min(gc["warmup_steps"], total_steps))
    base = gc["lr"]
    if gc["decay"] == "cosine":
        frac = np.clip((steps - warm) / max(1, total_steps - warm), 0, 1)
        floor = gc["min_lr_ratio"]
        after = base * (floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * frac)))
    elif gc["decay"] == "inverse_sqrt":
        after = base * np.sqrt(warm / np.maximum(steps, warm))
    elif gc["decay"] == "constant":
        after = np.full_like(steps, base)
    else:
        from ..errors import CostError
        raise CostError(f"unknown generator.decay '{gc['decay']}'; choose cosine, constant or inverse_sqrt")
    lr = np.where(steps <= warm, base * steps / warm, after)
    return Tensor(lr.astype(np.float32))


class GeneratorSetup:
    """Everything derived from (config, data, semantic IDs): vocab, tokens, trie, network."""

    def __init__(self, cfg, prep, sid):
        gc = cfg["generator"]
        self.cfg, self.gc, self.prep, self.sid = cfg, gc, prep, sid
        self.vocab = Vocab.from_semantic_ids(sid, cfg["tokenizer"]["codebook_size"], gc["user_buckets"])
        self.item_tok = self.vocab.item_tokens(sid)
        self.builder = SampleBuilder(self.item_tok, gc["max_history"], self.vocab)
        self.src_len = gc["max_history"] * self.vocab.length + (1 if gc["user_buckets"] else 0)
        set_seed(cfg["run"]["seed"])
        self.net = create_model(gc, self.vocab.size, self.src_len, self.vocab.length)
        self.index = PrefixIndex(sid, self.vocab.level_sizes)
        self.train_seqs, self.valid, self.test = prep.split()
        self.sid_hash = hashlib.sha1(np.ascontiguousarray(sid, np.int64).tobytes()).hexdigest()[:12]

    def searcher(self):
        return BeamSearcher(self.net, self.vocab, self.index, self.gc["beam_size"], self.gc["eval_batch_size"])

    def histories(self, split):
        if split == "valid":
            return self.train_seqs, self.valid
        return {u: s + [self.valid[u]] for u, s in self.train_seqs.items()}, self.test

    def evaluate(self, split, ks, max_users=0, seed=0):
        hist, targets = self.histories(split)
        if max_users and max_users < len(hist):
            keep = sorted(np.random.default_rng(seed).choice(sorted(hist), max_users, replace=False))
            hist = {u: hist[u] for u in keep}
        users, src, tgt = self.builder.evaluation(hist, targets)
        items, _ = self.searcher().search(src)
        return recall_ndcg(items, tgt, ks)


def save_weights(net, path):
    with atomic_path(path, suffix=".tmp.ckpt") as tmp:
        ms.save_checkpoint(net, tmp)


def train_generator(cfg, setup, folder, jit=True, progress=True):
    gc, seed = cfg["generator"], cfg["run"]["seed"]
    src, target_items = setup.builder.training(setup.train_seqs)
    dec_in, target = decoder_io(setup.item_tok[target_items])
    n = len(src)
    bs = min(gc["batch_size"], n)
    if bs < gc["batch_size"]:
        log.warning("only %d training samples; batch size lowered from %d", n, gc["batch_size"])
    steps = n // bs
    net = setup.net
    with_loss = Seq2SeqWithLoss(net)
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=lr_schedule(gc, steps * gc["epochs"]),
                             weight_decay=gc["weight_decay"])
    step = make_train_step(with_loss, opt, jit=jit)
    ckpt_dir = os.path.join(folder, "ckpt")
    resume_key = {"generator": gc, "tokenizer_hash": setup.sid_hash}
    state = load_state(ckpt_dir, [opt], resume_key) or {
        "epoch": 0, "best": -1.0, "best_epoch": 0, "bad": 0, "history": [], "train_seconds": 0.0}
    if state["epoch"]:
        log.info("resuming generator from epoch %d (best valid ndcg@10 %.4f)", state["epoch"], state["best"])
    ks = cfg["eval"]["ks"]
    log.info("generator: %d training samples, %d steps/epoch, vocab %d, %d parameters",
             n, steps, setup.vocab.size, sum(p.size for p in net.trainable_params()))
    budget = gc["max_train_minutes"] * 60
    for epoch in range(state["epoch"], gc["epochs"]):
        if state["bad"] >= gc["patience"] or (budget and state["train_seconds"] >= budget):
            break
        net.set_train(True)
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        t0 = time.time()
        loss_sum = acc_sum = 0.0
        bar = tqdm(range(steps), desc=f"generator epoch {epoch + 1}/{gc['epochs']}", unit="step",
                   disable=not progress, mininterval=2.0, leave=False)
        for b in bar:
            idx = perm[b * bs:(b + 1) * bs]
            loss, acc = step(Tensor(src[idx]), Tensor(dec_in[idx]), Tensor(target[idx]))
            if b % 20 == 0 or b == steps - 1:
                bar.set_postfix(loss=f"{float(loss.asnumpy()):.3f}")
            loss_sum += float(loss.asnumpy())
            acc_sum += float(acc.asnumpy())
        rec = {"epoch": epoch + 1, "loss": round(loss_sum / steps, 4), "token_acc": round(acc_sum / steps, 4),
               "seconds": round(time.time() - t0, 1), "samples_per_s": round(steps * bs / (time.time() - t0), 1)}
        state["train_seconds"] += time.time() - t0
        if (epoch + 1) % gc["eval_every"] == 0 or epoch + 1 == gc["epochs"]:
            m = setup.evaluate("valid", ks, gc["valid_users"], seed)
            rec["valid_ndcg@10"] = round(m["ndcg@10"], 5)
            rec["valid_recall@10"] = round(m["recall@10"], 5)
            if m["ndcg@10"] > state["best"]:
                state.update(best=m["ndcg@10"], best_epoch=epoch + 1, bad=0)
                save_weights(net, os.path.join(folder, "best.ckpt"))
                write_json(os.path.join(folder, "best.json"), {"epoch": epoch + 1, "valid": m})
            else:
                state["bad"] += 1
        state["history"].append(rec)
        state["epoch"] = epoch + 1
        log.info("epoch %s", rec)
        save_state(ckpt_dir, [opt], state, resume_key)
    if not os.path.isfile(os.path.join(folder, "best.ckpt")):   # never evaluated: keep the last weights
        save_weights(net, os.path.join(folder, "best.ckpt"))
    return state


def load_best(setup, folder):
    params = ms.load_checkpoint(os.path.join(folder, "best.ckpt"))
    ms.load_param_into_net(setup.net, params, strict_load=True)


def run_config_hash(cfg):
    return config_hash({k: cfg[k] for k in ("dataset", "embed", "tokenizer", "generator")})
