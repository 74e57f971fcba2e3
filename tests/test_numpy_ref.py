"""The MindSpore tokenizer maths against the pure NumPy reference, and quantizer properties."""
import numpy as np
import pytest
from mindspore import Tensor

from cost_ms.tokenizer import functional as F
from cost_ms.tokenizer.cells import RQVAE, RQVAEWithLoss
from cost_ms.tokenizer.numpy_ref import (dedup_ref, info_nce_ref, mlp_ref, rq_decode_ref, rq_encode_ref,
                                         rq_levels_ref, rq_loss_ref)
from cost_ms.tokenizer.semantic_ids import dedup_codes


def _case(rng, b=64, d=16, m=3, k=8):
    z = rng.normal(size=(b, d)).astype(np.float32)
    books = rng.normal(size=(m, k, d)).astype(np.float32) / np.arange(1, m + 1)[:, None, None]
    return z, books.astype(np.float32)


def test_rq_encode_decode_loss_match_reference(ms_mode, rng):
    z, books = _case(rng)
    codes = F.rq_encode(Tensor(z), Tensor(books)).asnumpy()
    np.testing.assert_array_equal(codes, rq_encode_ref(z, books))
    zq = F.rq_decode(Tensor(codes), Tensor(books)).asnumpy()
    np.testing.assert_allclose(zq, rq_decode_ref(codes, books), rtol=1e-5, atol=1e-6)
    loss = float(F.rq_loss(Tensor(z), Tensor(books), 0.25).asnumpy())
    assert loss == pytest.approx(rq_loss_ref(z, books, 0.25), rel=1e-5)


def test_info_nce_matches_reference(ms_mode, rng):
    x = rng.normal(size=(32, 24)).astype(np.float32)
    x_hat = (x + 0.5 * rng.normal(size=x.shape)).astype(np.float32)
    got = float(F.info_nce(Tensor(x), Tensor(x_hat), 0.1).asnumpy())
    assert got == pytest.approx(info_nce_ref(x, x_hat, 0.1), rel=1e-5)
    # a perfect reconstruction of well-separated rows drives the loss towards zero
    eye = np.eye(8, dtype=np.float32)
    assert info_nce_ref(eye, eye, 0.05) < 1e-6


@pytest.mark.parametrize("loss", ["re", "co", "re+co"])
def test_model_forward_and_loss_match_reference(graph_mode, rng, loss):
    net = RQVAE(24, [16, 12], 8, 3, 8)
    wl = RQVAEWithLoss(net, loss, alpha=0.1, tau=0.1)
    x = rng.normal(size=(32, 24)).astype(np.float32)
    total, mse, l_rq, l_cl, codes = (o.asnumpy() for o in wl(Tensor(x)))
    z = mlp_ref(net.encoder.weights(), x)
    books = net.quantizer.codebooks().asnumpy()
    np.testing.assert_allclose(net.encoder(Tensor(x)).asnumpy(), z, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(codes, rq_encode_ref(z, books))
    x_hat = mlp_ref(net.decoder.weights(), rq_decode_ref(codes, books))
    assert float(mse) == pytest.approx(((x_hat - x) ** 2).mean(), rel=1e-5)
    assert float(l_rq) == pytest.approx(rq_loss_ref(z, books, 0.25), rel=1e-5)
    w = {"re": (1, 0, 1), "co": (0, 1, 1), "re+co": (1, 1, 2)}[loss]
    cl = info_nce_ref(x, x_hat, 0.1) if w[1] else 0.0
    assert float(l_cl) == pytest.approx(cl, rel=1e-5, abs=1e-7)
    assert float(total) == pytest.approx(w[0] * float(mse) + w[1] * 0.1 * cl + w[2] * float(l_rq), rel=1e-5)


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
    kmeans_init(net, x, {"shared_codebook": False, "levels": 4, "codebook_size": 16, "kmeans_iters": 50}, 0)
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
    z_st, c, _ = q(Tensor(z))
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
