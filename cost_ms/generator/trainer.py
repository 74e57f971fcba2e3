"""Training the generative retriever on the engine's loop, with early stopping on validation.

Folder layout (``generator-<tokenizer tag>/``)::

    config.yaml     resolved config
    ckpt/           step-numbered resumable checkpoints (engine)
    best.ckpt       weights of the best validation epoch, best.json its score
    history.json    training curve (per logging interval and per validation), training_curve.png
    metrics.json    validation and test Recall/NDCG, most-popular floor (written by evaluate)
    meta.json       what this folder was trained on (checked by evaluate and recommend)
"""
import logging

import numpy as np
from mindspore import Tensor, nn

from ..engine import make_train_step
from ..engine.step import micro_batch_policy
from ..engine.loop import LoopSpec, run_loop
from ..engine.schedules import create_schedule, planned_steps
from ..engine.validation import EarlyStoppingHooks
from ..data.splits import protocol_key
from ..parallel import world
from .samples import decoder_io
from .transformer import Seq2SeqWithLoss

log = logging.getLogger("cost_ms.generator")


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


class GeneratorHooks(EarlyStoppingHooks):
    """Cropped bucket batches; validation, best.ckpt and early stopping from :class:`EarlyStoppingHooks`."""

    def __init__(self, cfg, net, evaluator, folder, tensors, length):
        super().__init__(cfg, cfg.generator, net, evaluator, folder, "generator")
        self.src, self.dec_in, self.target = tensors
        self.length = length

    def inputs(self, batch):
        size, idx = batch
        idx = self.w.shard(idx)
        return (Tensor(self.src[idx][:, -size * self.length:]), Tensor(self.dec_in[idx]), Tensor(self.target[idx]))


def train_generator(cfg, inputs, net, evaluator, folder, jit=True, progress=True):
    """Train (or resume) ``net`` in ``folder``; return the loop's final state plus the best score.

    Data parallel: every worker builds the same global batches of ``batch_size * world``
    samples from ``(seed, epoch)`` and trains on its slice; stop decisions (budgets, early
    stopping) use values all workers agree on, so they leave the loop together.
    """
    gc, seed, w = cfg.generator, cfg.run.seed, world()
    src, target_items = inputs.builder.training(inputs.train_seqs)
    dec_in, target = decoder_io(inputs.item_tok[target_items])
    n = len(src)
    bs = min(gc.batch_size, n // w.size)
    if bs < gc.batch_size:
        log.warning("only %d training samples; batch size per worker lowered from %d to %d", n, gc.batch_size, bs)
    gbs = bs * w.size
    length = inputs.vocab.length
    buckets = inputs.buckets
    hist_items = (src != 0).sum(1) // length

    def batches(epoch):
        return bucket_batches(hist_items, buckets, gbs, np.random.default_rng([seed, epoch]))

    total = planned_steps(len(batches(0)), gc.epochs, gc.max_train_steps)
    lr = create_schedule(gc.decay, gc.lr, total, gc.warmup_steps, gc.min_lr_ratio)
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=Tensor(lr), weight_decay=gc.weight_decay)
    micro = gc.micro_batches
    if gc.micro_batch_tokens:
        micro = micro_batch_policy(micro, gc.micro_batch_tokens)
        if w.is_main:
            log.info("generator: micro-batches per bucket (items: slices) %s",
                     {b: micro(bs, b * length) for b in buckets})
    elif bs % micro:
        log.warning("batch %d does not split into %d micro-batches; using whole batches", bs, micro)
        micro = 1
    step = make_train_step(Seq2SeqWithLoss(net), opt, jit=jit, grad_reducer=w.grad_reducer(opt.parameters),
                           mean_outputs=2, world_size=w.size, micro_batches=micro)
    resume_key = {"generator": {k: v for k, v in gc.to_dict().items() if k != "ckpt_every_steps"},
                  "early_stop": cfg.eval.early_stop, "tokenizer_hash": inputs.sid_hash, "workers": w.size,
                  **protocol_key(cfg)}
    if w.is_main:
        log.info("generator: %d training samples, %d workers x batch %d, vocab %d, %d parameters, %d planned steps",
                 n, w.size, bs, inputs.vocab.size, sum(p.size for p in net.trainable_params()), len(lr))
    hooks = GeneratorHooks(cfg, net, evaluator, folder, (src, dec_in, target), length)
    spec = LoopSpec(name="generator", epochs=gc.epochs, folder=folder, resume_key=resume_key,
                    keep=cfg.run.keep_checkpoints, resolved=cfg.to_dict(), logged=("loss", "token_acc"),
                    samples_per_step=gbs, log_every=cfg.run.log_every_steps, ckpt_every=gc.ckpt_every_steps,
                    max_steps=gc.max_train_steps, max_seconds=gc.max_train_minutes * 60, lr=lr,
                    progress=progress)
    net.set_train(True)
    state = run_loop(step, net, opt, batches, hooks, spec, w, log)
    return hooks.finish(state)
