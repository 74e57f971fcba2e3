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

from ..checkpoint import CheckpointManager
from ..io import atomic_path, config_hash, write_json
from ..metrics import recall_ndcg
from ..parallel import world
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
        """Recall/NDCG@ks on ``split``; data parallel: each worker decodes its share of the users."""
        hist, targets = self.histories(split)
        users = sorted(hist)
        if max_users and max_users < len(users):
            users = sorted(np.random.default_rng(seed).choice(users, max_users, replace=False))
        w = world()
        mine = users[w.rank::w.size]
        sums = np.zeros(2 * len(ks) + 1)
        if mine:
            _, src, tgt = self.builder.evaluation({u: hist[u] for u in mine}, targets)
            items, _ = self.searcher().search(src)
            m = recall_ndcg(items, tgt, ks)
            sums[:-1] = [m[f"{name}@{k}"] * len(mine) for k in ks for name in ("recall", "ndcg")]
            sums[-1] = len(mine)
        sums = w.all_sum(sums)
        keys = [f"{name}@{k}" for k in ks for name in ("recall", "ndcg")]
        return {key: float(v / sums[-1]) for key, v in zip(keys, sums[:-1])}


def bucket_batches(lengths, buckets, batch_size, rng):
    """Batches of sample indices, each tagged with the bucket (in items) it is cropped to.

    Samples go to the smallest bucket that holds their history; a bucket's remainder that
    does not fill a batch moves up to the next bucket, and only the last bucket drops its
    remainder, so every sample is used unless it falls in that final remainder.
    """
    order = rng.permutation(len(lengths))
    bucket_of = np.searchsorted(buckets, lengths[order])
    batches, carry = [], np.zeros(0, np.int64)
    for b, size in enumerate(buckets):
        pool = np.concatenate([carry, order[bucket_of == b]])
        full = len(pool) // batch_size * batch_size
        batches += [(size, pool[i:i + batch_size]) for i in range(0, full, batch_size)]
        carry = pool[full:]
    return [batches[i] for i in rng.permutation(len(batches))]


def save_weights(net, path):
    with atomic_path(path, suffix=".tmp.ckpt") as tmp:
        ms.save_checkpoint(net, tmp)


def train_generator(cfg, setup, folder, jit=True, progress=True):
    """Train (or resume) in ``folder``, validating every ``eval_every`` epochs; return the final state.

    Data parallel: every worker builds the same global batches of ``batch_size * world``
    samples from ``(seed, epoch)`` and trains on its slice; stop decisions (time budget,
    early stopping) use values all workers agree on, so they leave the loop together.
    """
    gc, seed, w = cfg["generator"], cfg["run"]["seed"], world()
    src, target_items = setup.builder.training(setup.train_seqs)
    dec_in, target = decoder_io(setup.item_tok[target_items])
    n = len(src)
    bs = min(gc["batch_size"], n // w.size)
    if bs < gc["batch_size"]:
        log.warning("only %d training samples; batch size per worker lowered from %d to %d", n, gc["batch_size"], bs)
    gbs = bs * w.size
    steps = n // gbs
    length = setup.vocab.length
    buckets = sorted({b for b in gc["length_buckets"] if b < gc["max_history"]} | {gc["max_history"]})
    if gc["user_buckets"]:
        buckets = [gc["max_history"]]    # the user token sits in column 0; cropping would cut it
    hist_items = (src != 0).sum(1) // length
    net = setup.net
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=lr_schedule(gc, steps * gc["epochs"]),
                             weight_decay=gc["weight_decay"])
    step = make_train_step(Seq2SeqWithLoss(net), opt, jit=jit, grad_reducer=w.grad_reducer(opt.parameters),
                           mean_outputs=2, world_size=w.size)
    resume_key = {"generator": {k: v for k, v in gc.items() if k != "ckpt_every_steps"},
                  "tokenizer_hash": setup.sid_hash, "workers": w.size}
    ckpt = CheckpointManager(os.path.join(folder, "ckpt"), [opt], resume_key, cfg["run"]["keep_checkpoints"],
                             w.is_main, saved_config(cfg))
    state = ckpt.load() or {"epoch": 0, "step": 0, "sums": [0.0, 0.0], "best": -1.0, "best_epoch": 0, "bad": 0,
                            "history": [], "train_seconds": 0.0, "global_step": 0}
    if w.is_main and (state["epoch"] or state["step"]):
        log.info("resuming generator at epoch %d, step %d (best valid ndcg@10 %.4f)",
                 state["epoch"], state["step"], state["best"])
    ks = cfg["eval"]["ks"]
    if w.is_main:
        log.info("generator: %d training samples, %d workers x batch %d, vocab %d, %d parameters",
                 n, w.size, bs, setup.vocab.size, sum(p.size for p in net.trainable_params()))
    budget, max_steps = gc["max_train_minutes"] * 60, gc["max_train_steps"]
    for epoch in range(state["epoch"], gc["epochs"]):
        if (state["bad"] >= gc["patience"] or (budget and state["train_seconds"] >= budget)
                or (max_steps and state["global_step"] >= max_steps)):
            break
        net.set_train(True)
        batches = bucket_batches(hist_items, buckets, gbs, np.random.default_rng([seed, epoch]))
        first = state["step"]                # > 0 only when resuming mid-epoch
        loss_sum, acc_sum = state["sums"] if first else (0.0, 0.0)
        t0, spent0 = time.time(), state["train_seconds"]
        bar = tqdm(batches[first:], desc=f"generator epoch {epoch + 1}/{gc['epochs']}", unit="step", initial=first,
                   total=len(batches), disable=not (progress and w.is_main), mininterval=2.0, leave=False)
        nb, stopped_by = first, None
        for size, idx in bar:
            idx = w.shard(idx)
            loss, acc = step(Tensor(src[idx][:, -size * length:]), Tensor(dec_in[idx]), Tensor(target[idx]))
            loss_sum += float(loss.asnumpy())
            acc_sum += float(acc.asnumpy())
            nb += 1
            state["global_step"] += 1
            if nb % 20 == 1:
                bar.set_postfix(loss=f"{loss_sum / nb:.3f}")
            # every worker must stop on the same step: agree on the slowest clock
            if budget and w.all_max(spent0 + time.time() - t0) >= budget:
                stopped_by = "max_train_minutes"   # stop mid-epoch; still validate below so best.ckpt exists
                break
            if max_steps and state["global_step"] >= max_steps:
                stopped_by = "max_train_steps"
                break
            if gc["ckpt_every_steps"] and nb % gc["ckpt_every_steps"] == 0 and nb < len(batches):
                ckpt.save(state["global_step"], {**state, "epoch": epoch, "step": nb, "sums": [loss_sum, acc_sum],
                                                 "train_seconds": spent0 + time.time() - t0})
        elapsed = time.time() - t0
        done = max(1, nb - first)
        rec = {"epoch": epoch + 1, "loss": round(loss_sum / max(nb, 1), 4), "token_acc": round(acc_sum / max(nb, 1), 4),
               "seconds": round(elapsed, 1), "samples_per_s": round(done * gbs / max(elapsed, 1e-9), 1)}
        if stopped_by:
            rec["stopped_at_step"] = f"{nb}/{len(batches)} ({stopped_by})"
        state["train_seconds"] = spent0 + elapsed
        if (epoch + 1) % gc["eval_every"] == 0 or epoch + 1 == gc["epochs"] or stopped_by:
            m = setup.evaluate("valid", ks, gc["valid_users"], seed)
            rec["valid_ndcg@10"] = round(m["ndcg@10"], 5)
            rec["valid_recall@10"] = round(m["recall@10"], 5)
            if m["ndcg@10"] > state["best"]:
                state.update(best=m["ndcg@10"], best_epoch=epoch + 1, bad=0)
                if w.is_main:
                    save_weights(net, os.path.join(folder, "best.ckpt"))
                    write_json(os.path.join(folder, "best.json"), {"epoch": epoch + 1, "valid": m})
            else:
                state["bad"] += 1
        state["history"].append(rec)
        state.update(epoch=epoch + 1, step=0, sums=[0.0, 0.0])
        if w.is_main:
            log.info("epoch %s", rec)
        ckpt.save(state["global_step"], state)
    if w.is_main and not os.path.isfile(os.path.join(folder, "best.ckpt")):   # never evaluated: keep the last weights
        save_weights(net, os.path.join(folder, "best.ckpt"))
    return state


def load_best(setup, folder):
    params = ms.load_checkpoint(os.path.join(folder, "best.ckpt"))
    ms.load_param_into_net(setup.net, params, strict_load=True)


def saved_config(cfg):
    """The resolved config as saved beside outputs: without the run-time ``_paths`` the CLI adds."""
    return {k: v for k, v in cfg.items() if k != "_paths"}


def run_config_hash(cfg):
    return config_hash({k: cfg[k] for k in ("dataset", "embed", "tokenizer", "generator")})
