"""The tokenizer's maths as MindSpore functions (graph-mode safe), one function per CoST equation.

CoST (Zhu et al., RecSys'24) trains an RQ-VAE with

* eq. 1  ``L_re  = L_mse + L_rq``                    -> :func:`l_re`
* eq. 2  ``L_mse = ||x - x_hat||^2``                 -> :func:`l_mse`
* eq. 3  ``L_rq  = sum_l ||sg[r_l] - e_l||^2 + beta ||r_l - sg[e_l]||^2``  -> :func:`l_rq`
* eq. 4  ``L_cl``, InfoNCE over cosine similarity    -> :func:`l_cl`
* eq. 5  ``L_co  = alpha L_cl + L_rq``               -> :func:`l_co`

Every squared norm is summed over features and averaged over the batch. Each function has a
NumPy twin ``<name>_ref`` with the same signature in :mod:`cost_ms.reference.tokenizer`;
tests require identical codes and losses within rtol 1e-5.

Shapes: ``x, x_hat: [B, D] float32``, ``z: [B, d] float32``, ``codebooks: [M, K, d] float32``,
``codes: [B, M] int32``, ``residuals, quants: [M, B, d] float32`` (``r_l`` and ``e_l``).
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
    Returns ``codes [B, M] int32``, ``quants [M, B, d]`` (the chosen codewords ``e_l``) and
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


def _sq_norm(v):
    """``||v||^2`` summed over the last axis, averaged over the others (``[..., B, F] -> [...]``)."""
    return (v * v).sum(-1).mean(-1)


def l_mse(x, x_hat):
    """CoST eq. 2, reconstruction loss: ``L_mse = 1/B sum_b ||x_b - x_hat_b||^2``.

    ``x, x_hat: [B, D] float32`` -> scalar; the squared error is summed over the ``D``
    features and averaged over the batch.
    """
    return _sq_norm(x - x_hat)


def l_rq(residuals, quants, beta):
    """CoST eq. 3, quantization loss: ``L_rq = sum_l ||sg[r_l] - e_l||^2 + beta ||r_l - sg[e_l]||^2``.

    ``residuals: [M, B, d] float32`` (``r_l``, the input of level ``l``), ``quants: [M, B, d]
    float32`` (``e_l``, its chosen codeword), both from :func:`rq_levels`; ``beta`` the
    commitment weight -> scalar. Each squared norm is summed over the ``d`` latent features
    and averaged over the batch, then summed over the ``M`` levels. ``sg`` = stop-gradient: the
    first term moves only the codebook, the second (commitment) only the encoder.
    """
    sg = ops.stop_gradient
    codebook = _sq_norm(sg(residuals) - quants).sum()
    commit = _sq_norm(residuals - sg(quants)).sum()
    return codebook + beta * commit


def l_re(x, x_hat, residuals, quants, beta):
    """CoST eq. 1, the RQ-VAE reconstructive loss: ``L_re = L_mse + L_rq``.

    ``x, x_hat: [B, D] float32``; ``residuals, quants: [M, B, d] float32``; ``beta`` scalar
    -> scalar (:func:`l_mse` + :func:`l_rq`).
    """
    return l_mse(x, x_hat) + l_rq(residuals, quants, beta)


def l_cl(x, x_hat, tau, negatives=None):
    """CoST eq. 4, contrastive loss: InfoNCE over cosine similarity, averaged over the batch.

    ``x, x_hat: [B, D] float32`` -> scalar. Row ``i`` of ``x`` must pick its own reconstruction
    ``x_hat[i]`` among all in-batch reconstructions ``negatives: [B', D] float32`` (default
    ``x_hat`` itself; under data parallelism, the reconstructions gathered from every worker,
    which contain ``x_hat``):
    ``L_cl = -1/B sum_i log( exp(cos(x_i, x_hat_i)/tau) / sum_j exp(cos(x_i, neg_j)/tau) )``.
    """
    xn = _unit(x)
    hn = _unit(x_hat)
    neg = hn if negatives is None else _unit(negatives)
    logz = ops.logsumexp(ops.matmul(xn, neg.T) / tau, -1)
    pos = (xn * hn).sum(-1) / tau
    return (logz - pos).mean()


def l_co(x, x_hat, residuals, quants, beta, alpha, tau, negatives=None):
    """CoST eq. 5, the CoST objective: ``L_co = alpha * L_cl + L_rq``.

    ``x, x_hat: [B, D] float32``; ``residuals, quants: [M, B, d] float32``; ``beta, alpha, tau``
    scalars; ``negatives: [B', D] float32`` or None as in :func:`l_cl` -> scalar.
    """
    return alpha * l_cl(x, x_hat, tau, negatives) + l_rq(residuals, quants, beta)


def _unit(v):
    return v / ops.sqrt((v * v).sum(-1, keepdims=True) + 1e-12)
