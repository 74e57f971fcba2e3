"""The RQ-VAE / CoST tokenizer as MindSpore cells.

``x [B, D]`` -(MLP encoder)-> ``z [B, d]`` -(residual quantizer)-> ``z_q [B, d]``
-(MLP decoder)-> ``x_hat [B, D]``. The quantizer passes gradients straight through:
``z + stop_gradient(z_q - z)``. :class:`RQVAEWithLoss` turns the forward pass into the loss
named in :data:`LOSSES`, built from the CoST equations in :mod:`.functional`.
"""
import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops

from ..registry import Registry
from .functional import l_cl, l_co, l_mse, l_re, l_rq, rq_levels

LOSSES = Registry("tokenizer loss")


ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU}


class MLP(nn.Cell):
    """Dense layers with ReLU (or ``act="silu"``) between them, none after the last. ``dims = [in, h1, ..., out]``."""

    def __init__(self, dims, act="relu", zero_bias=False):
        super().__init__()
        layers = []
        for n, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Dense(a, b, bias_init="zeros") if zero_bias else nn.Dense(a, b))
            if n < len(dims) - 2:
                layers.append(ACTIVATIONS[act]())
        self.net = nn.SequentialCell(layers)

    def construct(self, x):
        return self.net(x)


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
        """``z [B, d]`` -> ``z_st [B, d]``, ``codes [B, M] int32``, ``quants, residuals [M, B, d]``."""
        codes, quants, residuals = rq_levels(z, self.codebooks())
        z_q = quants.sum(0)
        z_st = z + ops.stop_gradient(z_q - z)  # straight-through estimator
        return z_st, codes, quants, residuals

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
        """``x [B, D]`` -> ``x_hat [B, D]``, ``codes [B, M] int32``, ``quants, residuals [M, B, d]``.

        ``quants``/``residuals`` are ``e_l``/``r_l`` of CoST eq. 3 (see :func:`.functional.l_rq`).
        """
        z = self.encoder(x)
        z_st, codes, quants, residuals = self.quantizer(z)
        return self.decoder(z_st), codes, quants, residuals


# Each loss name -> the CoST equations (functions of .functional) whose sum is the objective.
# "re+co" is L_re + L_co as written in the paper, so L_rq is counted twice.
LOSSES.register("re")(lambda: (l_re,))
LOSSES.register("co")(lambda: (l_co,))
LOSSES.register("re+co")(lambda: (l_re, l_co))


class RQVAEWithLoss(nn.Cell):
    """Owns the loss: the sum of the equations :data:`LOSSES` names (``re`` -> eq. 1
    :func:`l_re`, ``co`` -> eq. 5 :func:`l_co`, ``re+co`` -> ``l_re + l_co``).

    Returns ``(loss, mse, l_rq, l_cl, codes)``; everything after ``loss`` is auxiliary
    (``mse`` = eq. 2, ``l_rq`` = eq. 3, ``l_cl`` = eq. 4, or 0 when the loss has no
    contrastive term, which is then not built into the graph). ``gather`` (data parallel,
    ``tokenizer.global_negatives``) is a cell that collects every worker's reconstructions,
    so each input is contrasted with the whole global batch. Graph mode: ``construct`` only
    branches on the constants fixed here. The equations share terms (L_rq in every one, and
    L_mse/L_cl with the auxiliary outputs): identical ops on identical inputs, which graph
    compilation can merge (common-subexpression elimination).
    """

    def __init__(self, net, loss="co", alpha=0.1, tau=0.1, gather=None):
        super().__init__()
        self.net = net
        terms = LOSSES.create(loss)
        self.use_re = l_re in terms
        self.use_co = l_co in terms
        self.alpha, self.tau = alpha, tau
        self.beta = net.quantizer.beta
        self.gather = gather
        self.use_gather = gather is not None

    def construct(self, x):
        x_hat, codes, quants, residuals = self.net(x)
        mse = l_mse(x, x_hat)
        rq = l_rq(residuals, quants, self.beta)
        loss = ops.zeros((), ms.float32)
        if self.use_re:
            loss = loss + l_re(x, x_hat, residuals, quants, self.beta)
        if self.use_co:
            negatives = x_hat
            if self.use_gather:
                negatives = self.gather(x_hat)
            loss = loss + l_co(x, x_hat, residuals, quants, self.beta, self.alpha, self.tau, negatives)
            cl = l_cl(x, x_hat, self.tau, negatives)
        else:
            cl = ops.zeros((), ms.float32)
        return loss, mse, rq, cl, codes
