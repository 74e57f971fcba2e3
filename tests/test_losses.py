"""Each CoST loss equation pinned on a tiny example whose value is written out by hand.

The expected values are literal arithmetic, not calls to the NumPy twins, so a reduction
that silently changes (a mean over features instead of a sum, a missing level) fails here
even if the MindSpore function and its twin change together. Both paths are checked: the
MindSpore function (compiled with ``ms.jit`` under ``graph``, op by op under ``pynative``)
and its twin in ``cost_ms.reference.tokenizer``.
"""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor

from cost_ms.tokenizer import functional as F
from cost_ms.reference import tokenizer as R

# ---- eq. 2: x, x_hat [B=2, D=3]
X = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 2.0]], np.float32)
X_HAT = np.array([[0.5, 2.0, 1.0], [1.0, -1.0, 0.0]], np.float32)
MSE = ((1 - 0.5) ** 2 + (2 - 2) ** 2 + (3 - 1) ** 2 + (0 - 1) ** 2 + (-1 + 1) ** 2 + (2 - 0) ** 2) / 2   # 4.625

# ---- eq. 3: z [B=2, d=2], M=2 levels of K=2 codewords
Z = np.array([[1.0, 2.0], [-1.0, 0.5]], np.float32)
BOOKS = np.array([[[1.0, 1.0], [-1.0, 0.0]],      # level 1: z0 -> (1, 1) (dist 1 vs 8), z1 -> (-1, 0) (0.25 vs 4.25)
                  [[0.0, 0.8], [0.5, 0.0]]],      # level 2: r0 = (0, 1) -> (0, .8), r1 = (0, .5) -> (0, .8)
                 np.float32)
CODES = [[0, 0], [1, 0]]
BETA = 0.25
# per level: ||r_l - e_l||^2 summed over the 2 features, averaged over the 2 rows
LEVEL1 = ((1 - 1) ** 2 + (2 - 1) ** 2 + (-1 + 1) ** 2 + (0.5 - 0) ** 2) / 2          # 0.625
LEVEL2 = ((0 - 0) ** 2 + (1 - 0.8) ** 2 + (0 - 0) ** 2 + (0.5 - 0.8) ** 2) / 2        # 0.065
RQ = (LEVEL1 + BETA * LEVEL1) + (LEVEL2 + BETA * LEVEL2)                            # 0.8625

# ---- eq. 4: B=2, D=2, tau=0.5; unit rows: x0=(1,0), x1=(0,1), x_hat0 ~ (1,1)/sqrt2, x_hat1 ~ (0,1)
XC = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
XC_HAT = np.array([[1.0, 1.0], [0.0, 3.0]], np.float32)
EXTRA_NEG = np.array([[-2.0, 0.0]], np.float32)   # cos with x0 = -1, with x1 = 0
TAU = 0.5
c = 1 / np.sqrt(2)                                 # cos(x0, x_hat0) = cos(x1, x_hat0)
# row 0: positive c, negatives {c, 0}; row 1: positive 1, negatives {c, 1}
CL = ((np.logaddexp(c / TAU, 0 / TAU) - c / TAU) + (np.logaddexp(c / TAU, 1 / TAU) - 1 / TAU)) / 2
CL_NEG = ((np.log(np.exp(c / TAU) + np.exp(0 / TAU) + np.exp(-1 / TAU)) - c / TAU)
          + (np.log(np.exp(c / TAU) + np.exp(1 / TAU) + np.exp(0 / TAU)) - 1 / TAU)) / 2
ALPHA = 0.1


# graph mode parses named functions only (no inline lambdas): the equations with constants bound
def _rq(r, q):
    return F.l_rq(r, q, BETA)


def _cl(x, h, n=None):
    return F.l_cl(x, h, TAU, n)


def _re(x, h, r, q):
    return F.l_re(x, h, r, q, BETA)


def _co(x, h, r, q, n=None):
    return F.l_co(x, h, r, q, BETA, ALPHA, TAU, n)


def _rq_from_z(z, books):
    codes, quants, residuals = F.rq_levels(z, books)
    return codes, F.l_rq(residuals, quants, BETA)


def _call(mode, fn, *args):
    """``fn`` compiled as a graph (``ms.jit``) or run op by op; Tensor outputs back as NumPy."""
    out = (ms.jit(fn) if mode == "graph" else fn)(*args)
    return tuple(o.asnumpy() for o in out) if isinstance(out, tuple) else float(out.asnumpy())


def _levels_ref():
    codes, quants, residuals = R.rq_levels_ref(Z, BOOKS)
    assert codes.tolist() == CODES
    return residuals, quants


def test_l_mse_sums_features_and_averages_rows(ms_mode):
    assert MSE == pytest.approx(4.625)
    assert _call(ms_mode, F.l_mse, Tensor(X), Tensor(X_HAT)) == pytest.approx(MSE, rel=1e-5)
    assert R.l_mse_ref(X, X_HAT) == pytest.approx(MSE, rel=1e-5)


def test_l_rq_sums_features_and_levels_averages_rows(ms_mode):
    assert RQ == pytest.approx(0.8625)
    codes, loss = _call(ms_mode, _rq_from_z, Tensor(Z), Tensor(BOOKS))
    assert codes.tolist() == CODES
    assert float(loss) == pytest.approx(RQ, rel=1e-5)
    assert R.l_rq_ref(*_levels_ref(), BETA) == pytest.approx(RQ, rel=1e-5)
    # one level only: the first term of the sum
    res, qu = _levels_ref()
    assert R.l_rq_ref(res[:1], qu[:1], BETA) == pytest.approx((1 + BETA) * LEVEL1, rel=1e-5)
    assert _call(ms_mode, _rq, Tensor(res[:1]), Tensor(qu[:1])) == \
        pytest.approx((1 + BETA) * LEVEL1, rel=1e-5)


def test_l_cl_is_infonce_over_cosines(ms_mode):
    assert _call(ms_mode, _cl, Tensor(XC), Tensor(XC_HAT)) == pytest.approx(CL, rel=1e-5)
    assert R.l_cl_ref(XC, XC_HAT, TAU) == pytest.approx(CL, rel=1e-5)
    # negatives gathered from other workers: x_hat plus one more row
    neg = np.concatenate([XC_HAT, EXTRA_NEG])
    got = _call(ms_mode, _cl, Tensor(XC), Tensor(XC_HAT), Tensor(neg))
    assert got == pytest.approx(CL_NEG, rel=1e-5)
    assert R.l_cl_ref(XC, XC_HAT, TAU, neg) == pytest.approx(CL_NEG, rel=1e-5)


def test_l_re_is_mse_plus_rq(ms_mode):
    res, qu = _levels_ref()
    want = MSE + RQ
    got = _call(ms_mode, _re, *map(Tensor, (X, X_HAT, res, qu)))
    assert got == pytest.approx(want, rel=1e-5)
    assert R.l_re_ref(X, X_HAT, res, qu, BETA) == pytest.approx(want, rel=1e-5)


def test_l_co_is_alpha_cl_plus_rq(ms_mode):
    res, qu = _levels_ref()
    want, want_neg = ALPHA * CL + RQ, ALPHA * CL_NEG + RQ
    args = tuple(map(Tensor, (XC, XC_HAT, res, qu)))
    assert _call(ms_mode, _co, *args) == \
        pytest.approx(want, rel=1e-5)
    assert R.l_co_ref(XC, XC_HAT, res, qu, BETA, ALPHA, TAU) == pytest.approx(want, rel=1e-5)
    neg = np.concatenate([XC_HAT, EXTRA_NEG])
    got = _call(ms_mode, _co, *args, Tensor(neg))
    assert got == pytest.approx(want_neg, rel=1e-5)
    assert R.l_co_ref(XC, XC_HAT, res, qu, BETA, ALPHA, TAU, neg) == pytest.approx(want_neg, rel=1e-5)


def test_l_rq_stop_gradients(ms_mode):
    # d/de_l of ||sg[r_l] - e_l||^2 (mean over B=2 rows) = -(r_l - e_l); the commitment term adds nothing.
    # d/dr_l of beta ||r_l - sg[e_l]||^2 = beta (r_l - e_l); the codebook term adds nothing.
    res, qu = _levels_ref()
    diff = np.array([[[0.0, 1.0], [0.0, 0.5]],      # level 1: r - e, row by row
                     [[0.0, 0.2], [0.0, -0.3]]])    # level 2
    np.testing.assert_allclose(res - qu, diff, atol=1e-6)
    grad = ms.grad(_rq, grad_position=(0, 1))
    d_res, d_qu = _call(ms_mode, grad, Tensor(res), Tensor(qu))
    np.testing.assert_allclose(d_qu, -diff, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(d_res, BETA * diff, rtol=1e-5, atol=1e-7)
