"""Training SimCIT on the engine's loop and encoding every item.

As for RQ-VAE (:mod:`.trainer`): one epoch is a fresh permutation of the items in full global
batches, a function of ``(seed, epoch)`` only; the Gumbel noise of a batch is drawn on the host
from ``(seed, the batch's rows, worker)``, so a resumed run sees the same noise as an
uninterrupted one. The codebooks start from k-means on the fused latents of the first rows
(``tokenizer.kmeans_init_rows``). AdamW with linear warm-up then cosine decay, as SimCIT's code.
"""
import logging

import numpy as np
from mindspore import Tensor, nn

from ..engine import make_train_step
from ..engine.curves import write_curves
from ..engine.loop import Hooks, LoopSpec, run_loop
from ..engine.schedules import create_schedule, planned_steps
from ..errors import CostError
from ..parallel import GatherWithGrad, world
from ..runtime import set_seed
from .simcit import SimCIT, SimCITEncoder, SimCITWithLoss
from .trainer import CodeUsage, embedding_fingerprint, init_rows, kmeans_fit, padded_chunks

log = logging.getLogger("cost_ms.tokenizer")


def build_simcit(tc, view_dims):
    return SimCIT(view_dims, tc.hidden, tc.latent_dim, tc.levels, tc.codebook_size, tc.shared_codebook,
                  tc.fusion_hidden, tc.proj_dim, tc.gumbel_tau, tc.gumbel_hard,
                  tc.unit_latent)


def gumbel(rng, shape):
    """Standard Gumbel noise ``-log(-log U)``, float32."""
    u = rng.uniform(1e-10, 1.0 - 1e-7, shape)
    return (-np.log(-np.log(u))).astype(np.float32)


class SimCITHooks(Hooks):
    """Batches of every view's rows plus Gumbel noise; code usage, per-view losses and fusion weights."""

    def __init__(self, net, views, tc, seed, w):
        self.net, self.views, self.tc, self.seed, self.w = net, views, tc, seed, w
        self.usage = CodeUsage(tc, w)
        self.last = None                    # mean per-view align loss of the last interval read

    def inputs(self, rows):
        local = self.w.shard(rows)
        rng = np.random.default_rng([self.seed, int(rows[0]), int(rows[-1]), self.w.rank])
        noise = self.tc.gumbel_scale * gumbel(rng, (self.tc.levels, len(local), self.tc.codebook_size))
        return (Tensor(noise),) + tuple(Tensor(v[local]) for v in self.views)

    def on_fresh_start(self):
        if self.tc.kmeans_init:
            pick = init_rows(self.tc, len(self.views[0]), self.w.size, self.seed)
            _, z, _ = self.net.encode(tuple(Tensor(v[pick]) for v in self.views))
            kmeans_fit(self.net.quantizer, z.asnumpy(), self.tc, self.seed)

    def on_outputs(self, outputs):
        self.last = np.mean([o[0] for o in outputs], 0)
        for _, codes, _ in outputs:
            self.usage.count(codes)

    def on_epoch_end(self, epoch, record, stopped_by):
        self.usage.end_epoch(record)
        if self.last is not None:
            record["align_per_view"] = [round(float(v), 6) for v in self.last]
        return False

    def state(self):
        return {"used": self.usage.state(),
                "last": None if self.last is None else [float(v) for v in self.last]}

    def restore(self, state):
        self.usage.restore(state.get("used"))
        if state.get("last") is not None:
            self.last = np.asarray(state["last"])


def train_simcit(tc, views, folder, seed, jit=True, progress=True, keep=3, resolved=None, log_every=50):
    """Train (or resume) SimCIT on ``views`` (list of ``[N, D_v]`` float32, in ``tc.views`` order).

    Returns the network, the per-epoch history and the last interval's per-view align losses.
    """
    w = world()
    n = len(views[0])
    bs = tc.batch_size
    gbs = bs * w.size
    if n < gbs:
        raise CostError(f"tokenizer.batch_size ({bs}) x {w.size} worker(s) is larger than the item count ({n}); "
                        f"set tokenizer.batch_size to at most {n // w.size}")
    set_seed(seed)
    net = build_simcit(tc, [v.shape[1] for v in views])
    gather = GatherWithGrad(w.rank) if w.distributed and tc.global_negatives else None
    with_loss = SimCITWithLoss(net, tc.tau, tc.diversity_weight, bs, gather, w.rank, w.size,
                               tc.same_view_negatives, tc.entropy_weight)
    steps = n // gbs
    total = planned_steps(steps, tc.epochs)
    lr = create_schedule("cosine", tc.lr, total, tc.warmup_steps, 0.05)
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=Tensor(lr), weight_decay=tc.weight_decay)
    step = make_train_step(with_loss, opt, jit=jit, grad_reducer=w.grad_reducer(opt.parameters), mean_outputs=4,
                           world_size=w.size)
    # the schedule is sized from the epochs, so unlike RQ-VAE a run cannot be extended by raising them
    resume_key = {**{k: v for k, v in tc.to_dict().items() if k != "ckpt_every_steps"}, "workers": w.size,
                  "views": [embedding_fingerprint(v) for v in views]}

    def batches(epoch):
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        return [perm[b * gbs:(b + 1) * gbs] for b in range(steps)]

    spec = LoopSpec(name="simcit", epochs=tc.epochs, folder=folder, resume_key=resume_key,
                    logged=("loss", "align", "diversity", "entropy"), samples_per_step=gbs, log_every=log_every,
                    ckpt_every=tc.ckpt_every_steps, lr=lr, progress=progress, keep=keep, resolved=resolved)
    hooks = SimCITHooks(net, views, tc, seed, w)
    state = run_loop(step, net, opt, batches, hooks, spec, w, log)
    if w.is_main and state["curve"]:
        write_curves(folder, f"SimCIT ({'+'.join(tc.views)})", state)
    return net, state["history"], hooks.last


def encode_simcit(net, views, chunk=4096):
    """Hard codes ``[N, M]`` and fusion weights ``[N, V]`` of every item, in padded fixed-size chunks."""
    enc = SimCITEncoder(net)
    enc.set_train(False)
    codes, alphas = [], []
    for m, part in padded_chunks(views, chunk):
        c, a = enc(*[Tensor(p) for p in part])
        codes.append(c.asnumpy()[:m])
        alphas.append(a.asnumpy()[:m])
    return np.concatenate(codes).astype(np.int64), np.concatenate(alphas)
