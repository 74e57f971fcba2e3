"""Training SASRec on the engine's loop: all positions of each user's training sequence at once.

A user's training part ``s`` (all but the last two items) gives ``input = s[:-1]`` and
``target = s[1:]``, cropped to the last ``max_len`` positions and left-padded. Validation scores
each user's training part against the validation item; test adds the validation item to the history.
"""
import logging

import numpy as np
from mindspore import Tensor, nn

from ..engine import make_train_step
from ..engine.loop import LoopSpec, run_loop
from ..engine.schedules import create_schedule, planned_steps
from ..engine.validation import sharded_metrics, EarlyStoppingHooks
from ..data.splits import protocol_key
from ..errors import CostError
from ..parallel import world
from ..layers import NEG
from .sasrec import LastTopK, SASRecWithLoss

log = logging.getLogger("cost_ms.baseline")


def left_pad(seqs, length):
    """``[[item index, ...], ...]`` -> ``[U, length] int32`` of index + 1, newest last, 0 = padding."""
    out = np.zeros((len(seqs), length), np.int32)
    for r, s in enumerate(seqs):
        s = np.asarray(s[-length:], np.int64) + 1
        if len(s):
            out[r, length - len(s):] = s
    return out


def training_arrays(train_seqs, max_len):
    users = sorted(u for u, s in train_seqs.items() if len(s) >= 2)
    if not users:
        raise CostError("no training sequences of 2 or more items: SASRec has nothing to learn from")
    seqs = [train_seqs[u][-(max_len + 1):] for u in users]
    return left_pad([s[:-1] for s in seqs], max_len), left_pad([s[1:] for s in seqs], max_len)


class SASRecEvaluator:
    """Top-k over the whole catalogue after each user's history, in padded fixed-size batches.

    ``exclude_history``: mask every item of the user's whole history (not only the last ``max_len``) before
    the top-k (``eval.exclude_history``)."""

    def __init__(self, net, inputs, bc, k, exclude_history=True):
        self.scorer, self.inputs, self.bc, self.net = LastTopK(net, k), inputs, bc, net
        self.exclude_history = exclude_history

    def evaluate(self, split, ks, max_users=0, seed=0, exclude_history=None):
        exclude = self.exclude_history if exclude_history is None else exclude_history
        hist, targets = self.inputs.histories(split)
        return sharded_metrics(hist, targets, ks, lambda users: self.top_items([hist[u] for u in users], exclude),
                               max_users, seed)

    def top_items(self, histories, exclude_history=None):
        """``[U, k]`` best items (0-based) after each history, in padded fixed-size batches; -1 where fewer
        than k items lie outside an excluded history."""
        exclude = self.exclude_history if exclude_history is None else exclude_history
        self.net.set_train(False)
        src = left_pad(histories, self.bc.max_len)
        b, n_items = self.bc.eval_batch_size, self.inputs.prep.num_items
        tops = []
        for start in range(0, len(src), b):
            part = src[start:start + b]
            n = len(part)
            if n < b:              # static shapes: pad the last batch, drop its extra rows
                part = np.concatenate([part, np.repeat(part[:1], b - n, 0)])
            mask = np.zeros((b, n_items + 1), np.float32)
            if exclude:
                for r, h in enumerate(histories[start:start + n]):
                    mask[r, np.asarray(h, np.int64) + 1] = NEG
            values, idx = self.scorer(Tensor(part), Tensor(mask))
            idx = idx.asnumpy()[:n]
            tops.append(np.where(values.asnumpy()[:n] > NEG / 2, idx, -1))
        return np.concatenate(tops)


class SASRecHooks(EarlyStoppingHooks):
    def __init__(self, cfg, net, evaluator, folder, arrays):
        super().__init__(cfg, cfg.baseline, net, evaluator, folder, "sasrec")
        self.seq, self.target = arrays

    def inputs(self, rows):
        rows = self.w.shard(rows)
        return Tensor(self.seq[rows]), Tensor(self.target[rows])


def train_sasrec(cfg, inputs, net, evaluator, folder, data_hash, jit=True, progress=True):
    bc, seed, w = cfg.baseline, cfg.run.seed, world()
    seq, target = training_arrays(inputs.train_seqs, bc.max_len)
    bs = min(bc.batch_size, len(seq) // w.size)
    gbs = bs * w.size
    steps = len(seq) // gbs

    def batches(epoch):
        perm = np.random.default_rng([seed, epoch]).permutation(len(seq))
        return [perm[b * gbs:(b + 1) * gbs] for b in range(steps)]

    total = planned_steps(steps, bc.epochs, bc.max_train_steps)
    lr = create_schedule(bc.decay, bc.lr, total, bc.warmup_steps, bc.min_lr_ratio)
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=Tensor(lr), weight_decay=bc.weight_decay)
    step = make_train_step(SASRecWithLoss(net), opt, jit=jit, grad_reducer=w.grad_reducer(opt.parameters),
                           mean_outputs=2, world_size=w.size)
    resume_key = {"baseline": {k: v for k, v in bc.to_dict().items() if k != "ckpt_every_steps"}, "data": data_hash,
                  "early_stop": cfg.eval.early_stop, "workers": w.size, **protocol_key(cfg)}
    hooks = SASRecHooks(cfg, net, evaluator, folder, (seq, target))
    spec = LoopSpec(name="sasrec", epochs=bc.epochs, folder=folder, resume_key=resume_key, logged=("loss", "acc"),
                    samples_per_step=gbs, log_every=cfg.run.log_every_steps, ckpt_every=bc.ckpt_every_steps,
                    max_steps=bc.max_train_steps, lr=lr, progress=progress, keep=cfg.run.keep_checkpoints,
                    resolved=cfg.to_dict())
    if w.is_main:
        log.info("sasrec: %d users, %d workers x batch %d, %d items, %d parameters, %d planned steps", len(seq),
                 w.size, bs, inputs.prep.num_items, sum(p.size for p in net.trainable_params()), total)
    net.set_train(True)
    state = run_loop(step, net, opt, batches, hooks, spec, w, log)
    return hooks.finish(state)
