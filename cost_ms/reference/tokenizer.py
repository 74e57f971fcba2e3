"""Pure NumPy reference of the tokenizer's maths, one function per MindSpore twin.

Slow and obvious on purpose: tests load the same weights into both paths and compare.
Twin of ``functional.<name>`` is ``<name>_ref``, same signature; the losses ``l_*_ref`` follow
CoST eq. 1-5 (see :mod:`cost_ms.tokenizer.functional`) and return Python floats.
Tests and benchmarks only: production code never imports :mod:`cost_ms.reference` (tests/test_structure.py).
Shapes: ``x, x_hat: [B, D]``, ``z: [B, d]``, ``codebooks: [M, K, d]``, ``codes: [B, M] int``,
``residuals, quants: [M, B, d]``.
"""
import numpy as np


def mlp_weights(mlp):
    """``[(W [out, in], b [out]), ...]`` of a :class:`~cost_ms.tokenizer.cells.MLP`'s dense layers, as NumPy."""
    from mindspore import nn
    return [(d.weight.asnumpy(), d.bias.asnumpy()) for d in mlp.net.cell_list if isinstance(d, nn.Dense)]


def sq_dist_ref(r, cb):
    return (r * r).sum(-1, keepdims=True) - 2.0 * r @ cb.T + (cb * cb).sum(-1)[None, :]


def rq_levels_ref(z, codebooks):
    residual = z.astype(np.float32)
    codes, quants, residuals = [], [], []
    for cb in codebooks.astype(np.float32):
        idx = sq_dist_ref(residual, cb).argmin(-1).astype(np.int32)
        q = cb[idx]
        codes.append(idx)
        quants.append(q)
        residuals.append(residual)
        residual = residual - q
    return np.stack(codes, 1), np.stack(quants, 0), np.stack(residuals, 0)


def rq_encode_ref(z, codebooks):
    return rq_levels_ref(z, codebooks)[0]


def rq_decode_ref(codes, codebooks):
    return sum(codebooks[level][codes[:, level]] for level in range(codebooks.shape[0]))


def _sq_norm_ref(v):
    return (v.astype(np.float64) ** 2).sum(-1).mean(-1)


def l_mse_ref(x, x_hat):
    """eq. 2: squared error summed over features, averaged over the batch."""
    return float(_sq_norm_ref(x - x_hat))


def l_rq_ref(residuals, quants, beta):
    """eq. 3, forward value only: the stop-gradients change gradients, not the value."""
    per_level = _sq_norm_ref(residuals - quants)          # [M]
    return float((1.0 + beta) * per_level.sum())


def l_re_ref(x, x_hat, residuals, quants, beta):
    """eq. 1: L_mse + L_rq."""
    return l_mse_ref(x, x_hat) + l_rq_ref(residuals, quants, beta)


def l_cl_ref(x, x_hat, tau, negatives=None):
    """eq. 4: InfoNCE over cosine similarity, one row at a time."""
    negatives = x_hat if negatives is None else negatives
    loss = 0.0
    xn = x / np.sqrt((x * x).sum(-1, keepdims=True) + 1e-12)
    hn = x_hat / np.sqrt((x_hat * x_hat).sum(-1, keepdims=True) + 1e-12)
    gn = negatives / np.sqrt((negatives * negatives).sum(-1, keepdims=True) + 1e-12)
    for i in range(len(x)):
        sims = np.array([xn[i] @ gn[j] for j in range(len(gn))], dtype=np.float64) / tau
        pos = float(xn[i] @ hn[i]) / tau
        loss += -(pos - np.log(np.exp(sims - sims.max()).sum()) - sims.max())
    return float(loss / len(x))


def l_co_ref(x, x_hat, residuals, quants, beta, alpha, tau, negatives=None):
    """eq. 5: alpha * L_cl + L_rq."""
    return alpha * l_cl_ref(x, x_hat, tau, negatives) + l_rq_ref(residuals, quants, beta)


def mlp_ref(weights, x, act="relu"):
    """``weights``: list of (W [out, in], b [out]) as MindSpore's nn.Dense stores them; ReLU (or SiLU) between."""
    for n, (w, b) in enumerate(weights):
        x = x @ w.T + b
        if n < len(weights) - 1:
            x = np.maximum(x, 0.0) if act == "relu" else x / (1.0 + np.exp(-x))
    return x


def dedup_ref(codes):
    """Disambiguation token: 0, 1, 2, ... among items sharing a full tuple, in item order."""
    seen = {}
    out = np.zeros(len(codes), dtype=np.int64)
    for i, row in enumerate(map(tuple, codes)):
        out[i] = seen.get(row, 0)
        seen[row] = out[i] + 1
    return out


# ---------------------------------------------------------------- SimCIT (cost_ms.tokenizer.simcit_functional)
def soft_rq_levels_ref(z, codebooks, noise, t_g, hard=False):
    """Soft residual quantization, one item and one level at a time (float64); ``hard``: the forward
    value of straight-through Gumbel-softmax, the codeword of the noisy argmax."""
    z = np.asarray(z, np.float64)
    m = codebooks.shape[0]
    codes = np.zeros((len(z), m), np.int32)
    quants = np.zeros((m,) + z.shape)
    residuals = np.zeros((m,) + z.shape)
    for b in range(len(z)):
        r = z[b].copy()
        for level in range(m):
            cb = np.asarray(codebooks[level], np.float64)
            dist = ((r[None, :] - cb) ** 2).sum(-1)
            logits = (noise[level, b] - dist) / t_g
            w = np.exp(logits - logits.max())
            w /= w.sum()
            if hard:
                w = np.eye(len(cb))[logits.argmax()]
            codes[b, level] = int(dist.argmin())
            quants[level, b] = w @ cb
            residuals[level, b] = r
            r = r - quants[level, b]
    return codes, quants, residuals


def fuse_ref(h, scores):
    """``h [V, B, d]``, ``scores [V, B]`` -> fused ``[B, d]``, weights ``[B, V]``."""
    e = np.exp(scores - scores.max(0, keepdims=True))
    alpha = (e / e.sum(0, keepdims=True)).T
    return np.einsum("bv,vbd->bd", alpha, h), alpha


def align_loss_ref(q, v, tau, same_view=True):
    """NT-Xent between ``q [B, p]`` and ``v [B, p]``: each of the 2B vectors against all others
    (``same_view=False``: only against the other side's B vectors, CLIP's InfoNCE)."""
    unit = lambda a: a / np.sqrt((a * a).sum(-1, keepdims=True) + 1e-12)  # noqa: E731
    vecs = np.concatenate([unit(np.asarray(q, np.float64)), unit(np.asarray(v, np.float64))])
    n = len(q)
    loss = 0.0
    for a in range(2 * n):
        pos = (a + n) % (2 * n)
        side = a // n
        sims = np.array([vecs[a] @ vecs[j] / tau for j in range(2 * n)
                         if j != a and (same_view or j // n != side)])
        top = sims.max()
        loss += np.log(np.exp(sims - top).sum()) + top - vecs[a] @ vecs[pos] / tau
    return float(loss / (2 * n))


def code_usage_entropy_ref(residuals, codebooks, t_g):
    """Per level: the mean entropy of each item's assignment minus the entropy of their mean (nats),
    averaged over levels; each item's ``p = softmax(-||r - c_k||^2 / t_g)`` (float64)."""
    out = []
    for r, cb in zip(np.asarray(residuals, np.float64), np.asarray(codebooks, np.float64)):
        logits = -((r[:, None, :] - cb[None]) ** 2).sum(-1) / t_g
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        h = lambda a: -(a * np.log(a + 1e-12)).sum(-1)  # noqa: E731
        out.append(h(p).mean() - h(p.mean(0)))
    return float(np.mean(out))


def codeword_diversity_ref(codebooks):
    """Mean cosine over the ordered pairs (i != j) of each book's codewords, averaged over books."""
    out = []
    for cb in np.asarray(codebooks, np.float64):
        u = cb / np.sqrt((cb * cb).sum(-1, keepdims=True) + 1e-12)
        k = len(u)
        out.append(np.mean([u[i] @ u[j] for i in range(k) for j in range(k) if i != j]))
    return float(np.mean(out))
