"""Training mechanics of the tokenizer: k-means init, losses, resume, reports."""

import numpy as np
import pytest

from cost_ms.errors import CostError
from cost_ms.tokenizer import TOKENIZERS
from cost_ms.tokenizer.semantic_ids import codebook_stats, neighbourhood_score, tokenizer_report, with_dedup
from cost_ms.tokenizer.trainer import encode_items, train_rqvae
from tests.conftest import base_config

TC = base_config().tokenizer.replace(
    loss="co", hidden=[32, 16], latent_dim=8, levels=3, codebook_size=8, shared_codebook=False, beta=0.25, alpha=0.1,
    tau=0.1, lr=1e-3, weight_decay=0.0, batch_size=64, epochs=4, kmeans_init=True, kmeans_iters=20,
    reseed_dead_codes=False, ckpt_every_steps=2, global_negatives=False, neighbours=5, kmeans_init_rows=0,
    center_inputs=False)


def clusters(n=300, d=24, k=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    return (centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize("loss", ["re", "co", "re+co"])
def test_training_lowers_the_loss(graph_mode, tmp_path, loss):
    emb = clusters()
    net, hist = train_rqvae(TC.replace(loss=loss, epochs=6), emb, str(tmp_path), seed=0, progress=False)
    assert len(hist) == 6 and hist[-1]["loss"] < hist[0]["loss"]
    assert all(0 <= h["dead_codes"] <= 24 for h in hist)
    codes = encode_items(net, emb, chunk=128)           # 300 rows: last chunk padded
    assert codes.shape == (300, 3) and codes.min() >= 0 and codes.max() < 8


def test_resume_equals_uninterrupted(graph_mode, tmp_path):
    emb = clusters()
    net_a, hist_a = train_rqvae(TC, emb, str(tmp_path / "a"), seed=1, progress=False)
    train_rqvae(TC.replace(epochs=2), emb, str(tmp_path / "b"), seed=1, progress=False)
    net_b, hist_b = train_rqvae(TC, emb, str(tmp_path / "b"), seed=1, progress=False)   # resumes at epoch 2
    assert [h["loss"] for h in hist_b] == [h["loss"] for h in hist_a]
    np.testing.assert_array_equal(encode_items(net_b, emb), encode_items(net_a, emb))
    with pytest.raises(CostError, match="was made with a different config"):
        train_rqvae(TC.replace(lr=5e-4), emb, str(tmp_path / "b"), seed=1, progress=False)


def test_reseed_dead_codes_switch(graph_mode, tmp_path):
    emb = clusters(k=2)
    _, hist = train_rqvae(TC.replace(reseed_dead_codes=True, codebook_size=16), emb, str(tmp_path), 0, progress=False)
    assert any("reseeded" in h for h in hist)


def test_batch_larger_than_catalogue_is_refused(graph_mode, tmp_path):
    with pytest.raises(CostError, match="batch_size \\(64\\) is larger than the item count \\(10\\)"):
        train_rqvae(TC, clusters(n=10), str(tmp_path), 0, progress=False)


def test_random_tokenizer_is_uniform_and_seeded(tmp_path):
    emb = clusters(n=2000)
    a, _, _ = TOKENIZERS.get("random").train(TC.replace(codebook_size=4), emb, str(tmp_path), 3)
    b, _, _ = TOKENIZERS.get("random").train(TC.replace(codebook_size=4), emb, str(tmp_path), 3)
    np.testing.assert_array_equal(a, b)
    assert abs(np.bincount(a[:, 0], minlength=4) / 2000 - 0.25).max() < 0.05


def test_report_on_known_codes():
    codes = np.array([[0, 0], [0, 0], [0, 1], [1, 1]])
    emb = np.array([[1, 0], [0.9, 0.1], [0.8, 0.2], [0, 1]], np.float32)
    rep = tokenizer_report(codes, emb, 4, k=1)
    assert rep["collision_rate"] == 0.5 and rep["largest_collision_group"] == 2 and rep["unique_tuples"] == 3
    assert rep["codebooks"][0]["usage"] == 0.5
    assert rep["codebooks"][0]["perplexity"] == pytest.approx(np.exp(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25))))
    nb = neighbourhood_score(emb, codes, k=1)
    # nearest neighbours: 0<->1, 1->0, 2->1, 3->2 ; same c1: 1,1,1,0 ; same (c1,c2): 1,1,0,0
    assert nb["share_same_c1"] == 0.75 and nb["share_same_c1c2"] == 0.5
    assert nb["chance_same_c1"] == pytest.approx(0.75 ** 2 + 0.25 ** 2)
    assert nb["chance_same_c1c2"] == pytest.approx(0.5 ** 2 + 2 * 0.25 ** 2)
    assert codebook_stats(codes, 4)[1]["dead_codes"] == 2
    sid = with_dedup(codes)
    assert sid[:, -1].tolist() == [0, 1, 0, 0]


@pytest.mark.parametrize("data", ["clusters", "normal"])
@pytest.mark.parametrize("shared", [True, False])
def test_kmeans_init_serves_every_level(graph_mode, data, shared):
    # a shared book fit on level-1 residuals only leaves the ~10x smaller residuals of levels 2-3
    # with 2-3 codes each, and those levels then *add* error (on clusters: 0.6 -> 3.3 -> 10)
    from mindspore import Tensor
    from cost_ms.tokenizer.functional import rq_encode
    from cost_ms.tokenizer.trainer import build_model, kmeans_init
    x = clusters(512, 16, k=4) if data == "clusters" else np.random.default_rng(0).normal(size=(512, 16))
    x = x.astype(np.float32)
    tc = TC.replace(hidden=[32], latent_dim=16, levels=3, codebook_size=16, shared_codebook=shared)
    net = build_model(tc, 16)
    kmeans_init(net, x, tc, 0)
    assert net.quantizer.codebook.shape == ((1 if shared else 3), 16, 16)
    z = net.encoder(Tensor(x)).asnumpy()
    books = net.quantizer.codebooks().asnumpy()
    codes = rq_encode(Tensor(z), Tensor(books)).asnumpy()
    used = [len(np.unique(codes[:, level])) for level in range(3)]
    assert min(used) > 16 // 4, used
    errors = []
    for m in (1, 2, 3):
        c = rq_encode(Tensor(z), Tensor(books[:m])).asnumpy()
        errors.append(float(((z - books[np.arange(m)[None], c].sum(1)) ** 2).sum(1).mean()))
    assert errors[0] > errors[1] > errors[2], errors


def test_reseed_dead_shared_book_moves_only_codes_no_level_used(graph_mode):
    from cost_ms.tokenizer.trainer import build_model, reseed_dead
    tc = TC.replace(levels=3, codebook_size=8, shared_codebook=True)
    net = build_model(tc, 24)
    before = net.quantizer.codebook.asnumpy().copy()
    used = np.ones((3, 8), bool)
    used[0, 3] = used[1, 3] = False          # code 3: used at level 3 only -> alive
    used[:, 5] = False                       # code 5: no level used it -> dead
    assert reseed_dead(net, clusters(n=64), used, 0) == 1
    after = net.quantizer.codebook.asnumpy()
    assert after.shape == (1, 8, 8)
    np.testing.assert_array_equal(np.delete(after[0], 5, 0), np.delete(before[0], 5, 0))
    assert not np.allclose(after[0, 5], before[0, 5])


def test_centred_inputs_ignore_a_common_offset(tmp_path):
    """tokenizer.center_inputs: embeddings shifted by one vector give the very same codes."""
    emb = clusters(n=128)
    tc = TC.replace(center_inputs=True, epochs=2, kmeans_init_rows=-1)
    a, _, _ = TOKENIZERS.get("rqvae").train(tc, emb, str(tmp_path / "a"), 0, progress=False)
    b, _, _ = TOKENIZERS.get("rqvae").train(tc, emb + np.float32(5.0), str(tmp_path / "b"), 0, progress=False)
    np.testing.assert_array_equal(a, b)


def test_a_new_method_is_one_file_and_one_registration(tmp_path):
    """The recipe of DEVELOPERS.md: a toy method (items coded by the sign pattern of their first embedding
    dimensions) registered once is accepted by the config loader, names its folder and report, and tokenizes a
    small real data set through run_tokenize; nothing else in the package knows it."""
    from cost_ms.tokenizer import TokenizerMethod, register

    class SignMethod(TokenizerMethod):
        name = "sign-toy"

        def check(self, tc):
            if tc.levels > 8:
                raise CostError("sign-toy codes at most 8 levels")

        def train(self, tc, emb, folder, seed, **kw):
            bits = (emb[:, :tc.levels] > 0).astype(np.int64)
            return bits % tc.codebook_size, [], {"sign_levels": tc.levels}

    register(SignMethod())
    try:
        _tokenize_with_toy(tmp_path, TOKENIZERS.get("sign-toy"))
    finally:
        TOKENIZERS._items.pop("sign-toy")          # the registry is process-wide: leave it as found


def _tokenize_with_toy(tmp_path, method):
    import os
    from cost_ms.config import load_config
    from cost_ms.data import create_dataset
    from cost_ms.stages import tokenizer_tag
    from cost_ms.tokenizer.run import run_tokenize, tokenizer_name
    from tests.test_data import TOY_INTER, TOY_ITEMS, _write_lcrec, lcrec_cfg
    base = os.path.join(os.path.dirname(__file__), "..", "configs", "amazon-office-cpu.yaml")
    cfg = load_config(base, ["tokenizer.method=sign-toy", "tokenizer.levels=2", "tokenizer.codebook_size=2"])
    with pytest.raises(CostError, match="at most 8 levels"):
        load_config(base, ["tokenizer.method=sign-toy", "tokenizer.levels=9"])
    assert tokenizer_tag(cfg) == "minilm-sign-toy" and tokenizer_name(cfg.tokenizer) == "sign-toy"
    folder = _write_lcrec(tmp_path / "toy", "Toy", TOY_INTER, TOY_ITEMS)
    prep = create_dataset(lcrec_cfg(str(folder), "Toy", text_template="Title: {title}."))
    emb = np.random.default_rng(0).normal(size=(prep.num_items, 4)).astype(np.float32)
    sid, report = run_tokenize(cfg, prep, emb, {"model": "toy"}, str(tmp_path / "tok"))
    assert sid.shape == (prep.num_items, 3) and len({tuple(r) for r in sid}) == prep.num_items   # dedup level added
    from cost_ms.io import read_meta
    meta = read_meta(str(tmp_path / "tok"), "tokenize")
    assert report["sign_levels"] == 2 and meta["method"] == meta["tokenizer"] == "sign-toy"
