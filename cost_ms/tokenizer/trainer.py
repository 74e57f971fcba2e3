"""Training the RQ-VAE / CoST tokenizer and encoding every item.

One epoch = one pass over a fresh permutation of the items in full batches
(``drop_remainder``: static shapes for graph mode). The permutation depends only on
``(seed, epoch)``, so a resumed run sees the same batches as an uninterrupted one.
"""
import hashlib
import logging
import os
import time

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn
from sklearn.cluster import KMeans
from tqdm import tqdm

from ..checkpoint import CheckpointManager
from ..errors import CostError
from ..parallel import GatherWithGrad, world
from ..runtime import set_seed
from ..train_step import make_train_step
from .cells import RQVAE, RQVAEWithLoss
from .functional import rq_encode
from .numpy_ref import mlp_ref, rq_levels_ref

log = logging.getLogger("cost_ms.tokenizer")


def build_model(tc, in_dim):
    return RQVAE(in_dim, tc["hidden"], tc["latent_dim"], tc["levels"], tc["codebook_size"],
                 tc["shared_codebook"], tc["beta"])


def kmeans_init(net, x, tc, seed):
    """Codebooks from k-means on the first batch's residuals, level by level (shared: level 1 only)."""
    residual = net.encoder(Tensor(x)).asnumpy()
    books = []
    for _ in range(1 if tc["shared_codebook"] else tc["levels"]):
        km = KMeans(tc["codebook_size"], n_init=1, max_iter=tc["kmeans_iters"], random_state=seed).fit(residual)
        centers = km.cluster_centers_.astype(np.float32)
        books.append(centers)
        residual = residual - centers[km.labels_]
    net.quantizer.set_codebooks(np.stack(books))


def reseed_dead(net, x, used, seed):
    """Move codewords unused for a whole epoch onto residuals of the current batch."""
    books = net.quantizer.codebooks().asnumpy()
    z = mlp_ref(net.encoder.weights(), x)
    _, _, residuals = rq_levels_ref(z, books)
    rng = np.random.default_rng(seed)
    n = 0
    for level in range(books.shape[0]):
        dead = np.flatnonzero(~used[level])
        if len(dead):
            books[level, dead] = residuals[level, rng.choice(len(x), len(dead), replace=len(dead) > len(x))]
            n += len(dead)
    net.quantizer.set_codebooks(books[:1] if net.quantizer.shared else books)
    return n


class CodeEncoder(nn.Cell):
    """``x [B, D]`` -> ``codes [B, M] int32`` with the trained encoder and codebooks."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, x):
        return rq_encode(self.net.encoder(x), self.net.quantizer.codebooks())


def encode_items(net, emb, chunk=4096):
    """Codes for every row of ``emb``, in fixed-size chunks (the last one padded) for static shapes."""
    enc = CodeEncoder(net)
    enc.set_train(False)
    chunk = min(chunk, len(emb))
    out = []
    for start in range(0, len(emb), chunk):
        x = emb[start:start + chunk]
        n = len(x)
        if n < chunk:
            x = np.concatenate([x, np.zeros((chunk - n, x.shape[1]), np.float32)])
        out.append(enc(Tensor(x)).asnumpy()[:n])
    return np.concatenate(out).astype(np.int64)


def embedding_fingerprint(emb, rows=1024):
    """Shape plus a hash of evenly spaced rows: a checkpoint is only resumed on the embeddings it saw."""
    sample = np.ascontiguousarray(emb[::max(1, len(emb) // rows)], dtype=np.float32)
    return f"{emb.shape[0]}x{emb.shape[1]}:{hashlib.sha1(sample.tobytes()).hexdigest()[:12]}"


def train_rqvae(tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None):
    """Train (or resume) a tokenizer in ``folder``; return the network and per-epoch history.

    Each step takes one global batch of ``batch_size * world`` rows of a permutation that
    depends only on ``(seed, epoch)``; this worker trains on its slice. A checkpoint is
    written every ``ckpt_every_steps`` steps and at every epoch end, so a run killed at any
    point resumes at the last step saved and ends exactly as an uninterrupted run.
    """
    w = world()
    n, dim = emb.shape
    bs = tc["batch_size"]
    gbs = bs * w.size
    if n < gbs:
        workers = f" x {w.size} workers" if w.distributed else ""
        raise CostError(f"tokenizer.batch_size ({bs}){workers} is larger than the item count ({n}); "
                        f"set --set tokenizer.batch_size=<= {n // w.size}")
    set_seed(seed)  # weights depend on the seed only, not on what ran before in this process
    net = build_model(tc, dim)
    gather = GatherWithGrad(w.rank) if w.distributed and tc["global_negatives"] else None
    with_loss = RQVAEWithLoss(net, tc["loss"], tc["alpha"], tc["tau"], gather)
    opt = nn.Adam(net.trainable_params(), learning_rate=tc["lr"], weight_decay=tc["weight_decay"])
    step = make_train_step(with_loss, opt, jit=jit, grad_reducer=w.grad_reducer(opt.parameters),
                           mean_outputs=4, world_size=w.size)
    # the epoch target may grow between runs (train longer); everything else must match
    resume_key = {**{k: v for k, v in tc.items() if k not in ("epochs", "ckpt_every_steps")}, "workers": w.size,
                  "embeddings": embedding_fingerprint(emb)}
    ckpt = CheckpointManager(os.path.join(folder, "ckpt"), [opt], resume_key, keep, w.is_main, resolved)
    steps = n // gbs
    state = ckpt.load()
    if state and w.is_main:
        log.info("resuming tokenizer at epoch %d, step %d/%d (%s)", state["epoch"], state["step"], steps, ckpt.folder)
    if not state:
        state = {"epoch": 0, "step": 0, "history": [], "sums": [0.0] * 4, "used": None, "seconds": 0.0}
        if tc["kmeans_init"]:
            first_batch = emb[np.random.default_rng([seed, 0]).permutation(n)[:gbs]]
            kmeans_init(net, first_batch, tc, seed)
    history = state["history"]
    bar = tqdm(range(state["epoch"], tc["epochs"]), initial=state["epoch"], total=tc["epochs"],
               desc=f"tokenizer[{tc['loss']}]", unit="ep", disable=not (progress and w.is_main), mininterval=1.0)
    for epoch in bar:
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        first = state["step"] if epoch == state["epoch"] else 0   # > 0 only when resuming mid-epoch
        sums = np.array(state["sums"] if first else [0.0] * 4)
        used = np.zeros((tc["levels"], tc["codebook_size"]), bool)
        if first and state["used"] is not None:
            used |= np.asarray(state["used"], bool)
        t0 = time.time() - (state["seconds"] if first else 0.0)
        for b in range(first, steps):
            x = emb[w.shard(perm[b * gbs:(b + 1) * gbs])]
            loss, mse, l_rq, l_cl, codes = step(Tensor(x))
            sums += [float(loss.asnumpy()), float(mse.asnumpy()), float(l_rq.asnumpy()), float(l_cl.asnumpy())]
            c = codes.asnumpy()
            for level in range(c.shape[1]):
                used[level, c[:, level]] = True
            if tc["ckpt_every_steps"] and (b + 1) % tc["ckpt_every_steps"] == 0 and b + 1 < steps:
                used = w.all_max(used).astype(bool)          # codes seen by any worker so far
                ckpt.save(epoch * steps + b + 1, {"epoch": epoch, "step": b + 1, "history": history,
                                                  "sums": sums.tolist(), "used": used.astype(int).tolist(),
                                                  "seconds": time.time() - t0})
        used = w.all_max(used).astype(bool)
        rec = dict(zip(("loss", "mse", "l_rq", "l_cl"), (sums / steps).round(6).tolist()))
        rec.update(epoch=epoch + 1, dead_codes=int((~used).sum()), seconds=round(time.time() - t0, 3))
        if tc["reseed_dead_codes"] and rec["dead_codes"]:
            rec["reseeded"] = reseed_dead(net, emb[perm[:bs]], used, seed + epoch)
        history.append(rec)
        bar.set_postfix(loss=f"{rec['loss']:.4f}", dead=rec["dead_codes"])
        ckpt.save((epoch + 1) * steps, {"epoch": epoch + 1, "step": 0, "history": history,
                                        "sums": [0.0] * 4, "used": None, "seconds": 0.0})
    return net, history
