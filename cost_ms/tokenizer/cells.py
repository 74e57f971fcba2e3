"""The RQ-VAE / CoST tokenizer as MindSpore cells.

``x [B, D]`` -(MLP encoder)-> ``z [B, d]`` -(residual quantizer)-> ``z_q [B, d]``
-(MLP decoder)-> ``x_hat [B, D]``. The quantizer passes gradients straight through:
``z + stop_gradient(z_q - z)``.
"""
import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops

from ..registry import Registry
from .functional import info_nce, rq_levels, rq_loss_terms

LOSSES = Registry("tokenizer loss")


class MLP(nn.Cell):
    """Dense layers with ReLU between them (none after the last). ``dims = [in, h1, ..., out]``."""

    def __init__(self, dims):
        super().__init__()
        layers = []
        for n, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Dense(a, b))
            if n < len(dims) - 2:
                layers.append(nn.ReLU())
        self.net = nn.SequentialCell(layers)

    def construct(self, x):
        return self.net(x)

    def weights(self):
        """``[(W [out, in], b [out]), ...]`` as NumPy, for :func:`numpy_ref.mlp_ref`."""
        dense = [c for c in self.net.cell_list if isinstance(c, nn.Dense)]
        return [(d.weight.asnumpy(), d.bias.asnumpy()) for d in dense]


class ResidualQuantizer(nn.Cell):
    """M levels of K codewords each; one codebook per level, or one shared by all levels."""

    def __init__(self, levels, codebook_size, dim, shared=False, beta=0.25):
        super().__init__()
        self.levels, self.shared, self.beta = levels, shared, beta
        n_books = 1 if shared else levels
        init = np.random.default_rng(0).normal(0, 1.0 / np.sqrt(dim), (n_books, codebook_size, dim))
        self.codebook = Parameter(Tensor(init.astype(np.float32)), name="codebook")

    def codebooks(self):
        """``[M, K, d]``, the shared codebook repeated when ``shared``."""
        if self.shared:
            return ops.tile(self.codebook, (self.levels, 1, 1))
        return self.codebook

    def construct(self, z):
        codes, quants, residuals = rq_levels(z, self.codebooks())
        z_q = quants.sum(0)
        z_st = z + ops.stop_gradient(z_q - z)  # straight-through estimator
        return z_st, codes, rq_loss_terms(quants, residuals, self.beta)

    def set_codebooks(self, books):
        """Load ``[M, K, d]`` (or ``[1, K, d]`` when shared) codewords, e.g. from k-means."""
        self.codebook.set_data(Tensor(np.asarray(books, np.float32).reshape(self.codebook.shape)))


class RQVAE(nn.Cell):
    def __init__(self, in_dim, hidden, latent_dim, levels, codebook_size, shared=False, beta=0.25):
        super().__init__()
        self.encoder = MLP([in_dim, *hidden, latent_dim])
        self.quantizer = ResidualQuantizer(levels, codebook_size, latent_dim, shared, beta)
        self.decoder = MLP([latent_dim, *reversed(hidden), in_dim])

    def construct(self, x):
        """``x [B, D]`` -> ``x_hat [B, D]``, ``codes [B, M] int32``, ``l_rq`` scalar."""
        z = self.encoder(x)
        z_st, codes, l_rq = self.quantizer(z)
        return self.decoder(z_st), codes, l_rq


# Loss weights (w_mse, w_cl, w_rq); alpha multiplies w_cl. "re+co" is L_re + L_co as written
# in the paper, so L_rq is counted once per objective.
LOSSES.register("re")(lambda: (1.0, 0.0, 1.0))
LOSSES.register("co")(lambda: (0.0, 1.0, 1.0))
LOSSES.register("re+co")(lambda: (1.0, 1.0, 2.0))


class RQVAEWithLoss(nn.Cell):
    """Owns the loss: ``w_mse * MSE + w_cl * alpha * L_cl + w_rq * L_rq``.

    Returns ``(loss, mse, l_rq, l_cl, codes)``; everything after ``loss`` is auxiliary.
    The InfoNCE term is only built into the graph when its weight is non-zero. ``gather``
    (data parallel, ``tokenizer.global_negatives``) is a cell that collects every worker's
    reconstructions, so each input is contrasted with the whole global batch.
    """

    def __init__(self, net, loss="co", alpha=0.1, tau=0.1, gather=None):
        super().__init__()
        self.net = net
        self.w_mse, self.w_cl, self.w_rq = LOSSES.create(loss)
        self.alpha, self.tau = alpha, tau
        self.use_cl = self.w_cl > 0
        self.gather = gather
        self.use_gather = gather is not None

    def construct(self, x):
        x_hat, codes, l_rq = self.net(x)
        mse = ((x_hat - x) ** 2).mean()
        if self.use_cl and self.use_gather:
            l_cl = info_nce(x, x_hat, self.tau, self.gather(x_hat))
        elif self.use_cl:
            l_cl = info_nce(x, x_hat, self.tau)
        else:
            l_cl = ops.zeros((), ms.float32)
        loss = self.w_mse * mse + self.w_cl * self.alpha * l_cl + self.w_rq * l_rq
        return loss, mse, l_rq, l_cl, codes
