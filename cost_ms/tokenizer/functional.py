"""Residual quantization and InfoNCE as MindSpore functions (graph-mode safe).

Each function has a NumPy twin in :mod:`cost_ms.tokenizer.numpy_ref` with the same
signature; tests require identical codes and losses within rtol 1e-5.

Shapes: ``z: [B, d] float32``, ``codebooks: [M, K, d] float32``, ``codes: [B, M] int32``.
"""
import mindspore as ms
from mindspore import ops

_argmin = ops.Argmin(axis=-1, output_type=ms.int32)


def sq_dist(r, cb):
    """Squared Euclidean distance ``[B, K]`` between rows of ``r [B, d]`` and ``cb [K, d]``."""
    return (r * r).sum(-1, keepdims=True) - 2.0 * ops.matmul(r, cb.T) + (cb * cb).sum(-1).reshape(1, -1)


def rq_levels(z, codebooks):
    """Greedy residual quantization (RQ-VAE, eq. 1-2 of TIGER; CoST sec. 3.1).

    Level ``l`` picks the codeword nearest to the residual ``r_l = z - sum_{j<l} e_j``.
    Returns ``codes [B, M] int32``, ``quants [M, B, d]`` (the chosen codewords) and
    ``residuals [M, B, d]`` (``r_l``, the input of each level).
    """
    residual = z
    codes, quants, residuals = [], [], []
    for level in range(codebooks.shape[0]):
        cb = codebooks[level]
        idx = _argmin(sq_dist(residual, cb))
        q = ops.gather(cb, idx, 0)
        codes.append(idx)
        quants.append(q)
        residuals.append(residual)
        residual = residual - q
    return ops.stack(codes, 1), ops.stack(quants, 0), ops.stack(residuals, 0)


def rq_encode(z, codebooks):
    """Codes ``[B, M] int32`` of ``z [B, d]``."""
    return rq_levels(z, codebooks)[0]


def rq_decode(codes, codebooks):
    """Quantized vector ``[B, d]``: the sum over levels of ``codebooks[l, codes[:, l]]``."""
    out = ops.gather(codebooks[0], codes[:, 0], 0)
    for level in range(1, codebooks.shape[0]):
        out = out + ops.gather(codebooks[level], codes[:, level], 0)
    return out


def rq_loss_terms(quants, residuals, beta):
    """L_rq (eq. 3): ``sum_l ||sg[r_l] - e_l||^2 + beta * ||r_l - sg[e_l]||^2``, each a mean over elements."""
    sg = ops.stop_gradient
    codebook = ((sg(residuals) - quants) ** 2).mean(axis=(1, 2)).sum()
    commit = ((residuals - sg(quants)) ** 2).mean(axis=(1, 2)).sum()
    return codebook + beta * commit


def rq_loss(z, codebooks, beta):
    _, quants, residuals = rq_levels(z, codebooks)
    return rq_loss_terms(quants, residuals, beta)


def info_nce(x, x_hat, tau, negatives=None):
    """CoST contrastive loss (eq. 4-5): InfoNCE over cosine similarity.

    ``x, x_hat: [B, D]``. Row ``i`` of ``x`` must pick its own reconstruction ``x_hat[i]``
    among all in-batch reconstructions ``negatives: [B', D]`` (default ``x_hat`` itself;
    under data parallelism, the reconstructions gathered from every worker, which contain
    ``x_hat``):
    ``L_cl = -1/B sum_i log( exp(cos(x_i, x_hat_i)/tau) / sum_j exp(cos(x_i, neg_j)/tau) )``.
    """
    xn = _unit(x)
    hn = _unit(x_hat)
    neg = hn if negatives is None else _unit(negatives)
    logz = ops.logsumexp(ops.matmul(xn, neg.T) / tau, -1)
    pos = (xn * hn).sum(-1) / tau
    return (logz - pos).mean()


def _unit(v):
    return v / ops.sqrt((v * v).sum(-1, keepdims=True) + 1e-12)
