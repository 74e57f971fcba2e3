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
from ..errors import CostError
from ..parallel import world

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

    def __init__(self, cfg, net, evaluator, folder, tensors, arch, length):
        super().__init__(cfg, cfg.generator, net, evaluator, folder, "generator")
        self.tensors, self.arch, self.length = tensors, arch, length

    def inputs(self, batch):
        size, idx = batch
        return tuple(Tensor(t) for t in self.arch.crop(self.tensors, self.w.shard(idx), size, self.length))


def train_generator(cfg, inputs, net, evaluator, folder, jit=True, progress=True):
    """Train (or resume) ``net`` in ``folder``; return the loop's final state plus the best score.

    The architecture (``inputs.arch``) makes the rows: TIGER one per (user, prefix), the causal generator one per
    window of a sequence. Data parallel: every worker builds the same global batches of ``batch_size * world``
    rows from ``(seed, epoch)`` and trains on its slice; stop decisions (budgets, early stopping) use values all
    workers agree on, so they leave the loop together.
    """
    gc, seed, w = cfg.generator, cfg.run.seed, world()
    arch, length = inputs.arch, inputs.vocab.length
    data = arch.training(inputs.builder, inputs.train_seqs, inputs.vocab)
    n = len(data.history)
    bs = min(gc.batch_size, n // w.size)
    if bs < 1:
        raise CostError(f"{n} training rows cannot feed {w.size} workers")
    if bs < gc.batch_size:
        log.warning("only %d training rows; batch size per worker lowered from %d to %d", n, gc.batch_size, bs)
    gbs = bs * w.size
    buckets = inputs.buckets

    def batches(epoch):
        return bucket_batches(data.history, buckets, gbs, np.random.default_rng([seed, epoch]))

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
    step = make_train_step(arch.with_loss(net), opt, jit=jit, grad_reducer=w.grad_reducer(opt.parameters),
                           mean_outputs=2, world_size=w.size, micro_batches=micro)
    resume_key = {"generator": arch.settings(gc),
                  "early_stop": cfg.eval.early_stop, "tokenizer_hash": inputs.sid_hash, "workers": w.size,
                  **protocol_key(cfg)}
    if w.is_main:
        log.info("generator (%s): %d training rows holding %d targets, %d workers x batch %d, vocab %d, "
                 "%d parameters, %d planned steps", arch.name, n, data.targets, w.size, bs, inputs.vocab.size,
                 sum(p.size for p in net.trainable_params()), len(lr))
    hooks = GeneratorHooks(cfg, net, evaluator, folder, data.tensors, arch, length)
    spec = LoopSpec(name="generator", epochs=gc.epochs, folder=folder, resume_key=resume_key,
                    keep=cfg.run.keep_checkpoints, resolved=cfg.to_dict(), logged=("loss", "token_acc"),
                    samples_per_step=gbs, log_every=cfg.run.log_every_steps, ckpt_every=gc.ckpt_every_steps,
                    max_steps=gc.max_train_steps, max_seconds=gc.max_train_minutes * 60, lr=lr,
                    progress=progress)
    net.set_train(True)
    state = run_loop(step, net, opt, batches, hooks, spec, w, log)
    return hooks.finish(state)
