"""SimCIT as MindSpore cells: view encoders, attention fusion, a soft residual quantizer, projection heads.

SimCIT (Zhai et al., arXiv 2506.16683) drops RQ-VAE's decoder and reconstruction loss::

    view_v [B, D_v] -(MLP_v, SiLU)-> h_v [B, d]  -(attention fusion)-> z [B, d]
    z -(soft residual quantizer, Gumbel, t_g)-> z_q = sum_l q_l [B, d]
    loss = mean_v NT-Xent(P_q(z_q), P_v(h_v)) + lambda * codeword diversity
           + mu * code-usage entropy  (our addition; tokenizer.entropy_weight, 0.5 in base.yaml; 0 = SimCIT)

At inference the quantizer is the hard argmin of RQ-VAE (:func:`.functional.rq_encode` on ``z``),
so semantic IDs, dedup and the generator are the same as for the other tokenizers. The maths is
in :mod:`.simcit_functional`; :class:`SimCITWithLoss` owns the loss.
"""
import numpy as np
from mindspore import Tensor, nn, ops

from .cells import MLP, ResidualQuantizer
from .functional import rq_encode
from .simcit_functional import align_loss_gathered, code_usage_entropy, codeword_diversity, fuse, soft_rq_levels


class Fusion(nn.Cell):
    """Attention over views: ``score_v = w2 tanh(W1 h_v + b1) + b2``, softmax over ``v``.

    ``h [V, B, d]`` -> ``z [B, d]``, ``alpha [B, V]``.
    """

    def __init__(self, dim, hidden):
        super().__init__()
        self.score = nn.SequentialCell([nn.Dense(dim, hidden), nn.Tanh(), nn.Dense(hidden, 1)])

    def construct(self, h):
        return fuse(h, self.score(h).squeeze(-1))


class SimCIT(nn.Cell):
    """``V`` view encoders, fusion, the residual quantizer (codebooks as RQ-VAE's) and projection heads."""

    def __init__(self, view_dims, hidden, latent_dim, levels, codebook_size, shared, fusion_hidden, proj_dim,
                 gumbel_tau, gumbel_hard=False, unit_latent=True):
        super().__init__()
        self.unit_latent = unit_latent
        self.n_views = len(view_dims)
        self.gumbel_tau, self.gumbel_hard = gumbel_tau, gumbel_hard
        # zero biases: with the default uniform ones, a 4-layer encoder maps every item to nearly the same
        # latent, so the soft assignment is uniform and training collapses (docs/TOKENIZERS.md)
        self.encoders = nn.CellList([MLP([d, *hidden, latent_dim], "silu", zero_bias=True) for d in view_dims])
        self.fusion = Fusion(latent_dim, fusion_hidden)
        self.quantizer = ResidualQuantizer(levels, codebook_size, latent_dim, shared, beta=0.0)
        self.q_proj = MLP([latent_dim, proj_dim, proj_dim], "silu", zero_bias=True)
        self.v_proj = nn.CellList([MLP([latent_dim, proj_dim, proj_dim], "silu", zero_bias=True) for _ in view_dims])

    def encode(self, views):
        """``views``: tuple of ``[B, D_v]`` -> ``h [V, B, d]``, ``z [B, d]``, ``alpha [B, V]``."""
        h = []
        for i in range(self.n_views):
            h.append(self.encoders[i](views[i]))
        h = ops.stack(h, 0)
        z, alpha = self.fusion(h)
        if self.unit_latent:   # distances on the unit sphere are O(1): comparable with the Gumbel noise at t_g
            z = z / ops.sqrt((z * z).sum(-1, keepdims=True) + 1e-12)
        return h, z, alpha

    def construct(self, noise, *views):
        """Training forward: ``noise [M, B, K]`` Gumbel, views -> ``h [V, B, d]``, ``z_q [B, d]``,
        ``codes [B, M] int32``, ``alpha [B, V]``, ``residuals [M, B, d]`` (each level's input)."""
        h, z, alpha = self.encode(views)
        codes, quants, residuals = soft_rq_levels(z, self.quantizer.codebooks(), noise, self.gumbel_tau,
                                                  self.gumbel_hard)
        return h, quants.sum(0), codes, alpha, residuals


def nt_xent_masks(batch, rank=0, world_size=1, same_view=True):
    """Constants of :func:`.simcit_functional.align_loss`: ``self_mask [2B, 2N]`` and ``pos_index [2B]``.

    The negatives are ``concat(q_all, v_all)`` with ``N = B * world_size`` rows each; this
    worker's rows sit at ``rank * B``. Anchor ``q_i`` (row ``i``) excludes column ``rank*B + i``
    and has its positive at ``N + rank*B + i``; anchor ``v_i`` (row ``B + i``) the other way round.
    ``same_view=False`` also masks every column of the anchor's own kind (``q`` against ``q``,
    ``v`` against ``v``): the cross-view InfoNCE of CLIP, whose only negatives are the other side's.
    """
    n = batch * world_size
    local = rank * batch + np.arange(batch)
    own = np.concatenate([local, n + local])
    pos = np.concatenate([n + local, local])
    mask = np.zeros((2 * batch, 2 * n), np.float32)
    mask[np.arange(2 * batch), own] = -1e9
    if not same_view:
        mask[:batch, :n] = -1e9
        mask[batch:, n:] = -1e9
    return mask, pos.astype(np.int32)


class SimCITWithLoss(nn.Cell):
    """Owns SimCIT's loss: the mean over views of the NT-Xent alignment plus ``lambda`` x codeword diversity
    plus ``mu`` x code-usage entropy (:func:`.simcit_functional.code_usage_entropy`; ``mu = 0`` is SimCIT).

    Returns ``(loss, align, diversity, entropy, align_per_view [V], codes [B, M], fusion_weight [V])``;
    the first four are scalars. ``gather`` (data parallel, ``tokenizer.global_negatives``)
    collects every worker's projections so the negatives are the whole global batch.
    """

    def __init__(self, net, tau, diversity_weight, batch, gather=None, rank=0, world_size=1, same_view=True,
                 entropy_weight=0.0):
        super().__init__()
        self.net = net
        self.tau, self.diversity_weight, self.entropy_weight = tau, diversity_weight, entropy_weight
        self.gather = gather
        self.use_gather = gather is not None
        mask, pos = nt_xent_masks(batch, rank, world_size if self.use_gather else 1, same_view)
        self.self_mask, self.pos_index = Tensor(mask), Tensor(pos)

    def construct(self, noise, *views):
        h, z_q, codes, alpha, residuals = self.net(noise, *views)
        q = self.net.q_proj(z_q)
        q_all = q
        if self.use_gather:
            q_all = self.gather(q)
        aligns = []
        for i in range(self.net.n_views):
            v = self.net.v_proj[i](h[i])
            v_all = v
            if self.use_gather:
                v_all = self.gather(v)
            aligns.append(align_loss_gathered(q, v, q_all, v_all, self.tau, self.self_mask, self.pos_index))
        per_view = ops.stack(aligns)
        align = per_view.mean()
        diversity = codeword_diversity(self.net.quantizer.codebook)
        entropy = code_usage_entropy(residuals, self.net.quantizer.codebooks(), self.net.gumbel_tau)
        loss = align + self.diversity_weight * diversity + self.entropy_weight * entropy
        return loss, align, diversity, entropy, per_view, codes, alpha.mean(0)


class SimCITEncoder(nn.Cell):
    """Inference: views -> ``codes [B, M] int32`` (hard RQ of the fused ``z``) and ``alpha [B, V]``."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, *views):
        _, z, alpha = self.net.encode(views)
        return rq_encode(z, self.net.quantizer.codebooks()), alpha
