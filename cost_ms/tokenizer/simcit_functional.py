"""SimCIT's maths as MindSpore functions (graph-mode safe).

SimCIT (Zhai et al., "A Simple Contrastive Framework Of Item Tokenization For Generative
Recommendation", arXiv 2506.16683) trains a residual quantizer with no decoder: the quantized
item is aligned, contrastively, with each of its views (text, collaborative, attributes, ...).

* soft residual quantization (training):
  ``p_l = softmax((-||r_l - c_k||^2 + g_lk) / t_g)``, ``q_l = p_l C_l``, ``r_{l+1} = r_l - q_l``
  with Gumbel noise ``g`` -> :func:`soft_rq_levels`; at inference the hard argmin of
  :func:`.functional.rq_levels`, so semantic IDs are read exactly as RQ-VAE's;
* attention fusion of the view encodings ``h_v``: ``a_v = w2 tanh(W1 h_v + b1) + b2``,
  ``alpha = softmax_v(a)``, ``z = sum_v alpha_v h_v`` -> :func:`fuse`;
* per view, InfoNCE between the projected quantized item and the projected view encoding,
  with the other in-batch items' view encodings *and* quantized vectors as negatives (the
  NT-Xent form over the ``2B`` vectors) -> :func:`align_loss`;
* codeword diversity: mean pairwise cosine of each level's codewords -> :func:`codeword_diversity`;
* code-usage entropy (our addition, not in SimCIT; the entropy penalty of LFQ, Yu et al. 2023,
  "Language Model Beats Diffusion"): ``mean_b H(p_b) - H(mean_b p_b)`` of each level's noise-free
  assignment ``p = softmax(-||r - c_k||^2 / t_g)`` -> :func:`code_usage_entropy`. Its first part makes
  each item's soft assignment confident, so the soft path trained on is the hard path read at
  inference; its second spreads the batch over the codebook.

Each function has a NumPy twin ``<name>_ref`` in :mod:`cost_ms.reference.tokenizer`.
Shapes: ``z, r: [B, d]``, ``codebooks: [M, K, d]``, ``noise: [M, B, K]``, ``h: [V, B, d]``.
"""
import mindspore as ms
from mindspore import ops

from .functional import _unit, sq_dist

_argmin = ops.Argmin(axis=-1, output_type=ms.int32)


def soft_rq_levels(z, codebooks, noise, t_g, hard=False):
    """SimCIT soft residual quantization of ``z [B, d]`` with Gumbel ``noise [M, B, K]``.

    Level ``l`` weighs every codeword by ``softmax((-||r_l - c_k||^2 + g_lk) / t_g)`` and passes
    on ``r_{l+1} = r_l - q_l``. Returns ``codes [B, M] int32`` (the hard argmin of each level's
    distances, along this soft path), ``quants [M, B, d]`` (``q_l``), ``residuals [M, B, d]``.
    As ``t_g -> 0`` with zero noise this is :func:`.functional.rq_levels`.
    ``hard`` (straight-through Gumbel-softmax, Jang et al. 2017): the forward value of ``q_l`` is
    the codeword of the noisy argmax, the gradient that of the soft weights.
    """
    residual = z
    codes, quants, residuals = [], [], []
    for level in range(codebooks.shape[0]):
        cb = codebooks[level]
        dist = sq_dist(residual, cb)
        logits = (noise[level] - dist) / t_g
        weights = ops.softmax(logits, -1)
        if hard:
            one_hot = ops.one_hot(logits.argmax(-1), cb.shape[0], ops.ones((), weights.dtype),
                                  ops.zeros((), weights.dtype))
            weights = weights + ops.stop_gradient(one_hot - weights)
        q = ops.matmul(weights, cb)
        codes.append(_argmin(dist))
        quants.append(q)
        residuals.append(residual)
        residual = residual - q
    return ops.stack(codes, 1), ops.stack(quants, 0), ops.stack(residuals, 0)


def fuse(h, scores):
    """Attention fusion: ``h [V, B, d]`` view encodings, ``scores [V, B]`` -> ``z [B, d]``, ``alpha [B, V]``."""
    alpha = ops.softmax(scores.T, -1)
    return (alpha.T.expand_dims(-1) * h).sum(0), alpha


def align_loss(q, v, tau, self_mask, pos_index):
    """SimCIT alignment of one view: NT-Xent between ``q [B, p]`` (projected quantized items) and
    ``v [B, p]`` (projected view encodings), averaged over the ``2B`` anchors.

    Anchor ``q_i``'s positive is ``v_i``, anchor ``v_i``'s is ``q_i``; every other vector in
    ``concat(q, v)`` is a negative. ``self_mask [2B, 2N]`` (0, or -1e9 on each anchor's own
    column) and ``pos_index [2B] int32`` place the local batch inside the negatives
    ``concat(q_all, v_all) [2N, p]``; without data parallelism ``N = B``. Cosine similarity,
    temperature ``tau``:
    ``L = -1/2B sum_a log( exp(cos(a, a+)/tau) / sum_{n != a} exp(cos(a, n)/tau) )``.
    """
    return align_loss_gathered(q, v, q, v, tau, self_mask, pos_index)


def align_loss_gathered(q, v, q_all, v_all, tau, self_mask, pos_index):
    """:func:`align_loss` with the negatives gathered from every worker (``q_all, v_all [N, p]``)."""
    anchors = ops.concat((_unit(q), _unit(v)), 0)
    negatives = ops.concat((_unit(q_all), _unit(v_all)), 0)
    logits = ops.matmul(anchors, negatives.T) / tau + self_mask
    pos = ops.gather_elements(logits, 1, pos_index.reshape(-1, 1)).reshape(-1)
    return (ops.logsumexp(logits, -1) - pos).mean()


def code_usage_entropy(residuals, codebooks, t_g):
    """Per level ``mean_b H(p_b) - H(mean_b p_b)`` in nats, averaged over levels; in ``[-log K, log K]``.

    ``residuals [M, B, d]`` (the inputs of each level, as :func:`soft_rq_levels` returns them),
    ``codebooks [M, K, d]``; ``p_b = softmax(-||r_b - c_k||^2 / t_g)`` over ``k``.
    """
    out = []
    for level in range(codebooks.shape[0]):
        p = ops.softmax(-sq_dist(residuals[level], codebooks[level]) / t_g, -1)
        per_item = -(p * ops.log(p + 1e-12)).sum(-1).mean()
        mean_p = p.mean(0)
        out.append(per_item + (mean_p * ops.log(mean_p + 1e-12)).sum())
    return ops.stack(out).mean()


def codeword_diversity(codebooks):
    """Mean pairwise cosine of each book's L2-normalised codewords, averaged over books.

    ``codebooks [M, K, d]`` -> scalar in [-1, 1]; minimising it spreads the codewords apart.
    """
    k = codebooks.shape[1]
    unit = _unit(codebooks)
    sim = ops.bmm(unit, unit.transpose(0, 2, 1))
    return ((sim.sum((1, 2)) - k) / (k * (k - 1))).mean()
