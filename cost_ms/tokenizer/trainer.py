"""Training the RQ-VAE / CoST tokenizer and encoding every item.

One epoch = one pass over a fresh permutation of the items in full batches
(``drop_remainder``: static shapes for graph mode). The permutation depends only on
``(seed, epoch)``, so a resumed run sees the same batches as an uninterrupted one.
"""
import logging

import numpy as np
from mindspore import Tensor, nn
from sklearn.cluster import KMeans

from ..engine import fingerprint, make_train_step
from ..engine.curves import write_curves
from ..engine.loop import Hooks, LoopSpec, run_loop
from ..errors import CostError
from ..parallel import GatherWithGrad, world
from ..runtime import set_seed
from .cells import RQVAE, RQVAEWithLoss
from .functional import rq_encode, rq_levels

log = logging.getLogger("cost_ms.tokenizer")


def build_model(tc, in_dim):
    return RQVAE(in_dim, tc.hidden, tc.latent_dim, tc.levels, tc.codebook_size,
                 tc.shared_codebook, tc.beta)


def kmeans_init(net, x, tc, seed):
    """Codebooks from k-means on the residuals of the first batch ``x [B, D]``.

    One book per level: level ``l`` is k-means on the residuals left by levels ``< l``.
    Shared book (``tc.shared_codebook``): one book must serve every level, whose residuals
    shrink level after level, so it is fit on the residuals of all ``M`` levels pooled:
    k-means on ``z`` gives provisional centres; then, 3 times, quantize ``z`` greedily with the
    current book (:func:`rq_levels`, as in training) and refit k-means on the ``M * B``
    residuals of all levels together. Fitting on level 1 only would leave every codeword at
    the scale of ``z``, and the much smaller residuals of levels 2+ would snap to one or two.
    """
    kmeans_fit(net.quantizer, net.encoder(Tensor(x)).asnumpy(), tc, seed)


def kmeans_fit(quantizer, residual, tc, seed):
    """The codebooks of :func:`kmeans_init`, fit on latents ``residual [B, d]`` (NumPy)."""
    if tc.shared_codebook:
        def fit(points):
            km = KMeans(tc.codebook_size, n_init=1, max_iter=tc.kmeans_iters, random_state=seed)
            return km.fit(points).cluster_centers_.astype(np.float32)
        book = fit(residual)
        for _ in range(3):
            _, _, residuals = rq_levels(Tensor(residual), Tensor(np.repeat(book[None], tc.levels, 0)))
            book = fit(residuals.asnumpy().reshape(-1, residual.shape[1]))
        quantizer.set_codebooks(book[None])
        return
    books = []
    for _ in range(tc.levels):
        km = KMeans(tc.codebook_size, n_init=1, max_iter=tc.kmeans_iters, random_state=seed).fit(residual)
        centers = km.cluster_centers_.astype(np.float32)
        books.append(centers)
        residual = residual - centers[km.labels_]
    quantizer.set_codebooks(np.stack(books))


def init_rows(tc, n, workers, seed):
    """Rows k-means init fits, seen whole by every worker: the first global batch of epoch 0
    (``tokenizer.kmeans_init_rows: 0``, the papers'), every item (-1), or that many seeded rows."""
    rows = {0: tc.batch_size * workers, -1: n}.get(tc.kmeans_init_rows, tc.kmeans_init_rows)
    return np.random.default_rng([seed, 0]).permutation(n)[:min(rows, n)]


def reseed_dead(net, x, used, seed):
    """Move codewords unused for a whole epoch onto residuals of the batch ``x [B, D]``; return how many.

    ``used [M, K] bool``: which codes each level picked. Residuals come from the network
    itself (encoder forward + :func:`rq_levels`). One book per level: level ``l``'s dead codes
    move onto random level-``l`` residuals. Shared book: a code is dead only when no level
    used it, and it moves onto a random residual of any level.
    """
    codebooks = net.quantizer.codebooks()
    books = codebooks.asnumpy()
    _, _, residuals = rq_levels(net.encoder(Tensor(np.asarray(x, np.float32))), codebooks)
    residuals = residuals.asnumpy()
    rng = np.random.default_rng(seed)
    if net.quantizer.shared:
        pooled = residuals.reshape(-1, residuals.shape[-1])
        dead = np.flatnonzero(~np.asarray(used, bool).any(0))
        if len(dead):
            books[0, dead] = pooled[rng.choice(len(pooled), len(dead), replace=len(dead) > len(pooled))]
        net.quantizer.set_codebooks(books[:1])
        return len(dead)
    n = 0
    for level in range(books.shape[0]):
        dead = np.flatnonzero(~used[level])
        if len(dead):
            books[level, dead] = residuals[level, rng.choice(len(x), len(dead), replace=len(dead) > len(x))]
            n += len(dead)
    net.quantizer.set_codebooks(books)
    return n


class CodeEncoder(nn.Cell):
    """``x [B, D]`` -> ``codes [B, M] int32`` with the trained encoder and codebooks."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, x):
        return rq_encode(self.net.encoder(x), self.net.quantizer.codebooks())


def padded_chunks(matrices, chunk):
    """Yield ``(n, [chunk rows of each matrix])``: fixed-size row chunks of equally long matrices, the last one
    zero-padded (static shapes for graph mode); ``n`` real rows in each."""
    total = len(matrices[0])
    chunk = min(chunk, total)
    for start in range(0, total, chunk):
        part = [m[start:start + chunk] for m in matrices]
        n = len(part[0])
        if n < chunk:
            part = [np.concatenate([p, np.zeros((chunk - n, p.shape[1]), np.float32)]) for p in part]
        yield n, part


def encode_items(net, emb, chunk=4096):
    """Codes for every row of ``emb``, in fixed-size chunks (the last one padded) for static shapes."""
    enc = CodeEncoder(net)
    enc.set_train(False)
    out = [enc(Tensor(x)).asnumpy()[:n] for n, (x,) in padded_chunks([emb], chunk)]
    return np.concatenate(out).astype(np.int64)


def embedding_fingerprint(emb, rows=1024):
    """Shape plus a hash of evenly spaced rows: a checkpoint is only resumed on the embeddings it saw."""
    return fingerprint(np.asarray(emb, np.float32), rows)


class CodeUsage:
    """Which codes of each level the codes read back since the last epoch end used, merged over workers.

    Shared by the RQ-VAE and SimCIT hooks; ``state()`` / ``restore()`` carry it through a resume.
    """

    def __init__(self, tc, w):
        self.w = w
        self.used = np.zeros((tc.levels, tc.codebook_size), bool)

    def count(self, codes):
        """``codes [B, L]`` of one read-back interval."""
        for level in range(codes.shape[1]):
            self.used[level, codes[:, level]] = True

    def merged(self):
        self.used = self.w.all_max(self.used).astype(bool)      # codes seen by any worker so far
        return self.used

    def end_epoch(self, record):
        """``record["dead_codes"]`` for the epoch; returns the merged usage and starts counting afresh."""
        used = self.merged().copy()
        record["dead_codes"] = int((~used).sum())
        self.used[:] = False
        return used

    def state(self):
        return self.merged().astype(int).tolist()

    def restore(self, used):
        if used is not None:
            self.used = np.asarray(used, bool)


class TokenizerHooks(Hooks):
    """Batches of embedding rows; code usage per level, counted from the codes each interval reads back."""

    def __init__(self, net, emb, tc, seed, w):
        self.net, self.emb, self.tc, self.seed, self.w = net, emb, tc, seed, w
        self.usage = CodeUsage(tc, w)

    def inputs(self, rows):
        return (Tensor(self.emb[self.w.shard(rows)]),)

    def on_fresh_start(self):
        if self.tc.kmeans_init:
            kmeans_init(self.net, self.emb[init_rows(self.tc, len(self.emb), self.w.size, self.seed)], self.tc,
                        self.seed)

    def on_outputs(self, outputs):
        for (codes,) in outputs:
            self.usage.count(codes)

    def on_epoch_end(self, epoch, record, stopped_by):
        used = self.usage.end_epoch(record)
        if self.tc.reseed_dead_codes and record["dead_codes"]:
            perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.emb))
            record["reseeded"] = reseed_dead(self.net, self.emb[perm[:self.tc.batch_size]], used,
                                             self.seed + epoch)
        return False

    def state(self):
        return {"used": self.usage.state()}

    def restore(self, state):
        self.usage.restore(state.get("used"))


def train_rqvae(tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None, log_every=50):
    """Train (or resume) a tokenizer in ``folder`` on the engine's loop; return the network and per-epoch history.

    Each step takes one global batch of ``batch_size * world`` rows of a permutation that
    depends only on ``(seed, epoch)``; this worker trains on its slice. A checkpoint is
    written every ``ckpt_every_steps`` steps and at every epoch end, so a run killed at any
    point resumes at the last step saved and ends exactly as an uninterrupted run.
    """
    w = world()
    n, dim = emb.shape
    bs = tc.batch_size
    gbs = bs * w.size
    if n < gbs:
        workers = f" x {w.size} workers" if w.distributed else ""
        raise CostError(f"tokenizer.batch_size ({bs}){workers} is larger than the item count ({n}); "
                        f"set tokenizer.batch_size to at most {n // w.size}")
    set_seed(seed)  # weights depend on the seed only, not on what ran before in this process
    net = build_model(tc, dim)
    gather = GatherWithGrad(w.rank) if w.distributed and tc.global_negatives else None
    with_loss = RQVAEWithLoss(net, tc.loss, tc.alpha, tc.tau, gather)
    opt = nn.Adam(net.trainable_params(), learning_rate=tc.lr, weight_decay=tc.weight_decay)
    step = make_train_step(with_loss, opt, jit=jit, grad_reducer=w.grad_reducer(opt.parameters),
                           mean_outputs=4, world_size=w.size)
    # the epoch target may grow between runs (train longer); everything else must match
    resume_key = {**{k: v for k, v in tc.to_dict().items() if k not in ("epochs", "ckpt_every_steps")},
                  "workers": w.size, "embeddings": embedding_fingerprint(emb)}
    steps = n // gbs

    def batches(epoch):
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        return [perm[b * gbs:(b + 1) * gbs] for b in range(steps)]

    spec = LoopSpec(name="tokenizer", epochs=tc.epochs, folder=folder, resume_key=resume_key,
                    logged=("loss", "mse", "l_rq", "l_cl"), samples_per_step=gbs, log_every=log_every,
                    ckpt_every=tc.ckpt_every_steps, progress=progress, keep=keep, resolved=resolved)
    hooks = TokenizerHooks(net, emb, tc, seed, w)
    state = run_loop(step, net, opt, batches, hooks, spec, w, log)
    if w.is_main and state["curve"]:
        write_curves(folder, f"tokenizer (loss {tc.loss})", state)
    return net, state["history"]
