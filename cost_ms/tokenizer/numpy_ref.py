"""Pure NumPy reference of the tokenizer's maths, one function per MindSpore twin.

Slow and obvious on purpose: tests load the same weights into both paths and compare.
Twin of ``functional.<name>`` is ``<name>_ref``, same signature; the losses ``l_*_ref`` follow
CoST eq. 1-5 (see :mod:`cost_ms.tokenizer.functional`) and return Python floats.
Test-only: production code (``cost_ms/``) must not import this module.
Shapes: ``x, x_hat: [B, D]``, ``z: [B, d]``, ``codebooks: [M, K, d]``, ``codes: [B, M] int``,
``residuals, quants: [M, B, d]``.
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
