"""The MindSpore tokenizer maths against the pure NumPy reference, and quantizer properties."""
import numpy as np
import pytest
from mindspore import Tensor

from cost_ms.tokenizer import functional as F
from cost_ms.tokenizer.cells import RQVAE, RQVAEWithLoss
from cost_ms.reference.tokenizer import (mlp_weights, dedup_ref, l_cl_ref, l_co_ref, l_mse_ref, l_re_ref, l_rq_ref, mlp_ref,
                                         rq_decode_ref, rq_encode_ref, rq_levels_ref)
from cost_ms.tokenizer.semantic_ids import dedup_codes
from tests.conftest import base_config


def _case(rng, b=64, d=16, m=3, k=8):
    z = rng.normal(size=(b, d)).astype(np.float32)
    books = rng.normal(size=(m, k, d)).astype(np.float32) / np.arange(1, m + 1)[:, None, None]
    return z, books.astype(np.float32)


def test_rq_encode_decode_levels_match_reference(ms_mode, rng):
    z, books = _case(rng)
    codes = F.rq_encode(Tensor(z), Tensor(books)).asnumpy()
    np.testing.assert_array_equal(codes, rq_encode_ref(z, books))
    zq = F.rq_decode(Tensor(codes), Tensor(books)).asnumpy()
    np.testing.assert_allclose(zq, rq_decode_ref(codes, books), rtol=1e-5, atol=1e-6)
    got = [t.asnumpy() for t in F.rq_levels(Tensor(z), Tensor(books))]
    for a, b in zip(got, rq_levels_ref(z, books)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[0], codes)


def _loss_case(rng, b=32, dim=24):
    x = rng.normal(size=(b, dim)).astype(np.float32)
    x_hat = (x + 0.5 * rng.normal(size=x.shape)).astype(np.float32)
    z, books = _case(rng, b=b)
    _, quants, residuals = rq_levels_ref(z, books)
    return x, x_hat, residuals, quants


def test_equation_losses_match_reference(ms_mode, rng):
    x, x_hat, res, qu = _loss_case(rng)
    negatives = np.concatenate([x_hat, rng.normal(size=(16, 24)).astype(np.float32)])
    X, XH, R, Q, NEG = map(Tensor, (x, x_hat, res, qu, negatives))
    cases = [(F.l_mse(X, XH), l_mse_ref(x, x_hat)),
             (F.l_rq(R, Q, 0.25), l_rq_ref(res, qu, 0.25)),
             (F.l_re(X, XH, R, Q, 0.25), l_re_ref(x, x_hat, res, qu, 0.25)),
             (F.l_cl(X, XH, 0.1), l_cl_ref(x, x_hat, 0.1)),
             (F.l_cl(X, XH, 0.1, NEG), l_cl_ref(x, x_hat, 0.1, negatives)),
             (F.l_co(X, XH, R, Q, 0.25, 0.1, 0.1), l_co_ref(x, x_hat, res, qu, 0.25, 0.1, 0.1)),
             (F.l_co(X, XH, R, Q, 0.25, 0.1, 0.1, NEG), l_co_ref(x, x_hat, res, qu, 0.25, 0.1, 0.1, negatives))]
    for n, (got, want) in enumerate(cases):
        assert float(got.asnumpy()) == pytest.approx(want, rel=1e-5), n
    # L_rq's squared norms are sums over the latent features, not means
    per_level = ((res - qu) ** 2).sum(-1).mean(-1)
    assert l_rq_ref(res, qu, 0.25) == pytest.approx(1.25 * per_level.sum(), rel=1e-6)
    # a perfect reconstruction of well-separated rows drives the contrastive loss towards zero
    eye = np.eye(8, dtype=np.float32)
    assert l_cl_ref(eye, eye, 0.05) < 1e-6


@pytest.mark.parametrize("loss", ["re", "co", "re+co"])
def test_model_forward_and_loss_match_reference(graph_mode, rng, loss):
    net = RQVAE(24, [16, 12], 8, 3, 8)
    wl = RQVAEWithLoss(net, loss, alpha=0.1, tau=0.1)
    x = rng.normal(size=(32, 24)).astype(np.float32)
    total, mse, l_rq, l_cl, codes = (o.asnumpy() for o in wl(Tensor(x)))
    z = mlp_ref(mlp_weights(net.encoder), x)
    books = net.quantizer.codebooks().asnumpy()
    np.testing.assert_allclose(net.encoder(Tensor(x)).asnumpy(), z, rtol=1e-5, atol=1e-6)
    ref_codes, quants, residuals = rq_levels_ref(z, books)
    np.testing.assert_array_equal(codes, ref_codes)
    x_hat = mlp_ref(mlp_weights(net.decoder), rq_decode_ref(codes, books))
    assert float(mse) == pytest.approx(l_mse_ref(x, x_hat), rel=1e-5)
    assert float(l_rq) == pytest.approx(l_rq_ref(residuals, quants, 0.25), rel=1e-5)
    re = l_re_ref(x, x_hat, residuals, quants, 0.25)
    co = l_co_ref(x, x_hat, residuals, quants, 0.25, 0.1, 0.1)
    want = {"re": re, "co": co, "re+co": re + co}[loss]
    assert float(total) == pytest.approx(want, rel=1e-5)
    cl = l_cl_ref(x, x_hat, 0.1) if "co" in loss else 0.0
    assert float(l_cl) == pytest.approx(cl, rel=1e-5, abs=1e-7)


def test_unknown_loss_name_is_refused():
    from cost_ms.errors import CostError
    net = RQVAE(24, [16], 8, 3, 8)
    with pytest.raises(CostError, match="unknown tokenizer loss 'mse'; choose one of: co, re, re\\+co"):
        RQVAEWithLoss(net, "mse")


def test_more_levels_never_increase_reconstruction_error(rng):
    # exact per item once every level may pick "nothing" (a zero codeword): greedy RQ then
    # only ever moves a residual closer to zero
    z, books = _case(rng, b=200, d=8, m=5, k=16)
    books[:, 0] = 0.0
    errors = [((z - rq_decode_ref(rq_encode_ref(z, books[:m]), books[:m])) ** 2).sum(1) for m in range(1, 6)]
    for a, b in zip(errors, errors[1:]):
        assert (b <= a + 1e-5).all()


def test_kmeans_initialised_levels_reduce_mean_error(graph_mode, rng):
    from cost_ms.tokenizer.trainer import kmeans_init
    net = RQVAE(24, [16], 8, 4, 16)
    x = rng.normal(size=(256, 24)).astype(np.float32)
    tc = base_config().tokenizer.replace(shared_codebook=False, levels=4, codebook_size=16, kmeans_iters=50)
    kmeans_init(net, x, tc, 0)
    z = net.encoder(Tensor(x)).asnumpy()
    books = net.quantizer.codebooks().asnumpy()
    errors = [((z - rq_decode_ref(rq_encode_ref(z, books[:m]), books[:m])) ** 2).sum(1).mean() for m in range(1, 5)]
    assert all(b <= a + 1e-6 for a, b in zip(errors, errors[1:])), errors


def test_truncated_quantizer_codes_are_a_prefix(graph_mode, rng):
    z, books = _case(rng, m=4)
    full = F.rq_encode(Tensor(z), Tensor(books)).asnumpy()
    for m in range(1, 4):
        np.testing.assert_array_equal(F.rq_encode(Tensor(z), Tensor(books[:m])).asnumpy(), full[:, :m])


def test_decode_of_encode_is_the_quantized_vector(graph_mode, rng):
    z, books = _case(rng)
    codes, quants, residuals = rq_levels_ref(z, books)
    np.testing.assert_allclose(rq_decode_ref(codes, books), quants.sum(0), rtol=1e-6)
    # the straight-through output of the cell equals the quantized vector in the forward pass
    from cost_ms.tokenizer.cells import ResidualQuantizer
    q = ResidualQuantizer(3, 8, 16)
    q.set_codebooks(books)
    z_st, c, quants_ms, residuals_ms = q(Tensor(z))
    np.testing.assert_allclose(quants_ms.asnumpy(), quants, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(residuals_ms.asnumpy(), residuals, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(c.asnumpy(), codes)
    np.testing.assert_allclose(z_st.asnumpy(), rq_decode_ref(codes, books), rtol=1e-5, atol=1e-5)


def test_shared_codebook_repeats_one_book(graph_mode, rng):
    from cost_ms.tokenizer.cells import ResidualQuantizer
    q = ResidualQuantizer(3, 8, 16, shared=True)
    one = rng.normal(size=(1, 8, 16)).astype(np.float32)
    q.set_codebooks(one)
    books = q.codebooks().asnumpy()
    assert books.shape == (3, 8, 16)
    np.testing.assert_array_equal(books[2], one[0])


def test_dedup_fast_matches_reference(rng):
    codes = rng.integers(0, 3, size=(500, 2))
    np.testing.assert_array_equal(dedup_codes(codes), dedup_ref(codes))
    full = np.concatenate([codes, dedup_codes(codes)[:, None]], 1)
    assert len(np.unique(full, axis=0)) == len(full)
    assert dedup_ref(np.array([[1, 2], [1, 2], [0, 0], [1, 2]])).tolist() == [0, 1, 0, 2]
