"""Pure NumPy reference of the tokenizer's maths, one function per MindSpore twin.

Slow and obvious on purpose: tests load the same weights into both paths and compare.
Shapes: ``z: [B, d]``, ``codebooks: [M, K, d]``, ``codes: [B, M] int``.
"""
import numpy as np


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


def rq_loss_ref(z, codebooks, beta):
    # forward value only: the stop-gradients of eq. 3 change gradients, not the value
    _, quants, residuals = rq_levels_ref(z, codebooks)
    per_level = ((residuals - quants) ** 2).mean(axis=(1, 2))
    return float((1.0 + beta) * per_level.sum())


def info_nce_ref(x, x_hat, tau, negatives=None):
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


def mlp_ref(weights, x):
    """``weights``: list of (W [out, in], b [out]) as MindSpore's nn.Dense stores them; ReLU between."""
    for n, (w, b) in enumerate(weights):
        x = x @ w.T + b
        if n < len(weights) - 1:
            x = np.maximum(x, 0.0)
    return x


def dedup_ref(codes):
    """Disambiguation token: 0, 1, 2, ... among items sharing a full tuple, in item order."""
    seen = {}
    out = np.zeros(len(codes), dtype=np.int64)
    for i, row in enumerate(map(tuple, codes)):
        out[i] = seen.get(row, 0)
        seen[row] = out[i] + 1
    return out
