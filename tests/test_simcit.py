"""SimCIT: NumPy twins, hand-computed losses, properties, and the real CLI (views + tokenize) on Office."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from mindspore import Tensor

from cost_ms.reference import tokenizer as ref
from cost_ms.tokenizer.functional import rq_levels
from cost_ms.tokenizer.simcit import SimCIT, SimCITWithLoss, nt_xent_masks
from cost_ms.tokenizer.simcit_functional import (align_loss, code_usage_entropy, codeword_diversity, fuse,
                                                soft_rq_levels)
from tests.conftest import ROOT, shared
from tests.test_cli_e2e import cli


def _case(rng, b=16, m=3, k=8, d=6):
    z = rng.normal(size=(b, d)).astype(np.float32)
    books = rng.normal(size=(m, k, d)).astype(np.float32)
    noise = -np.log(-np.log(rng.uniform(1e-6, 1 - 1e-6, (m, b, k)))).astype(np.float32)
    return z, books, noise


def test_soft_rq_matches_numpy_twin(ms_mode, rng):
    z, books, noise = _case(rng)
    got = [t.asnumpy() for t in soft_rq_levels(Tensor(z), Tensor(books), Tensor(noise), 0.7)]
    want = ref.soft_rq_levels_ref(z, books, noise, 0.7)
    np.testing.assert_array_equal(got[0], want[0])
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_soft_rq_tends_to_hard_rq_without_noise(graph_mode, rng):
    z, books, noise = _case(rng)
    soft = soft_rq_levels(Tensor(z), Tensor(books), Tensor(np.zeros_like(noise)), 1e-4)
    hard = rq_levels(Tensor(z), Tensor(books))
    np.testing.assert_array_equal(soft[0].asnumpy(), hard[0].asnumpy())
    np.testing.assert_allclose(soft[1].asnumpy(), hard[1].asnumpy(), atol=1e-5)


def test_truncated_soft_quantizer_codes_are_a_prefix(graph_mode, rng):
    z, books, noise = _case(rng, m=4)
    full = soft_rq_levels(Tensor(z), Tensor(books), Tensor(noise), 0.5)[0].asnumpy()
    short = soft_rq_levels(Tensor(z), Tensor(books[:2]), Tensor(noise[:2]), 0.5)[0].asnumpy()
    np.testing.assert_array_equal(short, full[:, :2])


def test_fusion_and_diversity_match_twins(ms_mode, rng):
    h = rng.normal(size=(3, 5, 4)).astype(np.float32)
    scores = rng.normal(size=(3, 5)).astype(np.float32)
    z, alpha = fuse(Tensor(h), Tensor(scores))
    z_ref, alpha_ref = ref.fuse_ref(h, scores)
    np.testing.assert_allclose(z.asnumpy(), z_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(alpha.asnumpy(), alpha_ref, rtol=1e-5)
    np.testing.assert_allclose(alpha.asnumpy().sum(1), 1.0, rtol=1e-6)
    books = rng.normal(size=(2, 6, 4)).astype(np.float32)
    np.testing.assert_allclose(float(codeword_diversity(Tensor(books))), ref.codeword_diversity_ref(books),
                               rtol=1e-5)


def test_align_loss_matches_twin(ms_mode, rng):
    q, v = rng.normal(size=(2, 8, 5)).astype(np.float32)
    mask, pos = nt_xent_masks(8)
    got = float(align_loss(Tensor(q), Tensor(v), 0.1, Tensor(mask), Tensor(pos)))
    assert got == pytest.approx(ref.align_loss_ref(q, v, 0.1), rel=1e-5)


def test_losses_by_hand(graph_mode):
    # two orthogonal items, each view equal to its quantized vector, tau 1: each of the 4 anchors sees
    # its positive at cos 1 and two negatives at cos 0 -> loss = log(e + 2) - 1
    eye = np.eye(2, dtype=np.float32)
    mask, pos = nt_xent_masks(2)
    got = float(align_loss(Tensor(eye), Tensor(eye), 1.0, Tensor(mask), Tensor(pos)))
    assert got == pytest.approx(np.log(np.e + 2) - 1, rel=1e-5)
    # diversity: orthogonal codewords -> 0; two equal ones -> 1; opposite -> -1
    assert float(codeword_diversity(Tensor(eye[None]))) == pytest.approx(0.0, abs=1e-7)
    assert float(codeword_diversity(Tensor(np.ones((1, 2, 2), np.float32)))) == pytest.approx(1.0, rel=1e-6)
    assert float(codeword_diversity(Tensor(np.array([[[1, 0], [-1, 0]]], np.float32)))) == pytest.approx(-1.0)
    # soft assignment by hand: residual 0, codewords at distance^2 1 and 4, t_g 1, no noise
    w = np.exp([-1.0, -4.0]) / np.exp([-1.0, -4.0]).sum()
    books = np.array([[[1.0, 0.0], [0.0, 2.0]]], np.float32)
    _, quants, _ = soft_rq_levels(Tensor(np.zeros((1, 2), np.float32)), Tensor(books),
                                  Tensor(np.zeros((1, 1, 2), np.float32)), 1.0)
    np.testing.assert_allclose(quants.asnumpy()[0, 0], [w[0], 2 * w[1]], rtol=1e-6)


def test_masks_place_the_local_batch_among_gathered_negatives():
    mask, pos = nt_xent_masks(2, rank=1, world_size=2)      # N = 4: this worker's rows are 2, 3
    assert mask.shape == (4, 8)
    assert [int(np.flatnonzero(r)[0]) for r in mask] == [2, 3, 6, 7]
    assert pos.tolist() == [6, 7, 2, 3]


def test_code_usage_entropy_matches_twin_and_hand_example(ms_mode, rng):
    z, books, _ = _case(rng)
    residuals = rng.normal(size=(3,) + z.shape).astype(np.float32)
    got = float(code_usage_entropy(Tensor(residuals), Tensor(books), 0.7))
    assert got == pytest.approx(ref.code_usage_entropy_ref(residuals, books, 0.7), rel=1e-5, abs=1e-6)
    # by hand: K = 2 codewords at -1 and +1, items at -1 and +1, t_g = 1. Each item's distances are 0 and 4,
    # p = (1, e^-4) / (1 + e^-4) = (s, 1 - s) with s = 1 / (1 + e^-4); the batch mean is (1/2, 1/2).
    # L = H(s) - log 2 with H(s) = -s log s - (1 - s) log(1 - s).
    s = 1.0 / (1.0 + np.exp(-4.0))
    want = -s * np.log(s) - (1 - s) * np.log(1 - s) - np.log(2.0)
    two = code_usage_entropy(Tensor(np.array([[[-1.0], [1.0]]], np.float32)),
                             Tensor(np.array([[[-1.0], [1.0]]], np.float32)), 1.0)
    assert float(two) == pytest.approx(want, rel=1e-5)
    # every item on one codeword (far from the other): confident but unbalanced -> ~0, the worst balance
    one = code_usage_entropy(Tensor(np.full((1, 4, 1), -1.0, np.float32)),
                             Tensor(np.array([[[-1.0], [9.0]]], np.float32)), 1.0)
    assert float(one) == pytest.approx(0.0, abs=1e-6)


def test_cell_loss_equals_twin_composition(graph_mode, rng):
    """SimCITWithLoss = mean over views of the twin's NT-Xent + weights x (diversity, entropy), on the cell's
    own weights."""
    views = [rng.normal(size=(8, 10)).astype(np.float32), rng.normal(size=(8, 7)).astype(np.float32)]
    net = SimCIT([10, 7], [12], 6, 2, 4, False, 5, 9, 0.3)
    with_loss = SimCITWithLoss(net, 0.2, 0.5, 8, entropy_weight=0.7)
    noise = np.zeros((2, 8, 4), np.float32)
    loss, align, div, ent, per_view, codes, weight = with_loss(Tensor(noise), *[Tensor(v) for v in views])
    h = [ref.mlp_ref(ref.mlp_weights(enc), v, "silu") for enc, v in zip(net.encoders, views)]
    scores = np.stack([net.fusion.score(Tensor(x.astype(np.float32))).asnumpy()[:, 0] for x in h])
    z, alpha = ref.fuse_ref(np.stack(h), scores)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)               # tokenizer.unit_latent
    codes_ref, quants, residuals = ref.soft_rq_levels_ref(z, net.quantizer.codebook.asnumpy(), noise, 0.3)
    q = ref.mlp_ref(ref.mlp_weights(net.q_proj), quants.sum(0), "silu")
    want = [ref.align_loss_ref(q, ref.mlp_ref(ref.mlp_weights(p), x, "silu"), 0.2) for p, x in zip(net.v_proj, h)]
    np.testing.assert_array_equal(codes.asnumpy(), codes_ref)
    np.testing.assert_allclose(per_view.asnumpy(), want, rtol=1e-4)
    div_ref = ref.codeword_diversity_ref(net.quantizer.codebook.asnumpy())
    ent_ref = ref.code_usage_entropy_ref(residuals, net.quantizer.codebook.asnumpy(), 0.3)
    assert float(ent) == pytest.approx(ent_ref, rel=1e-4, abs=1e-5)
    assert float(loss) == pytest.approx(np.mean(want) + 0.5 * div_ref + 0.7 * ent_ref, rel=1e-4)
    np.testing.assert_allclose(weight.asnumpy(), alpha.mean(0), rtol=1e-4)


# ---------------------------------------------------------------- the CLI on real data
OFFICE = ["--set", "dataset.max_items=300", "--set", "tokenizer.method=simcit", "--set", "tokenizer.epochs=3",
          "--set", "tokenizer.batch_size=64", "--set", "tokenizer.codebook_size=8", "--set", "tokenizer.lr=0.001",
          "--set", "tokenizer.warmup_steps=2"]


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    shared("amazon-office")
    out = tmp_path_factory.mktemp("office")
    cfg = os.path.join(ROOT, "configs", "amazon-office-cpu.yaml")
    base = ["--out", str(out), "-q", "--set", "dataset.max_items=300"]
    cli("prepare", cfg, *base)
    cli("embed", cfg, *base)
    return cfg, out


def test_views_stage_and_simcit_tokenizer_on_office(office):
    cfg, out = office
    args = ["--out", str(out), "-q"] + OFFICE
    missing = cli("tokenize", cfg, *args, "--set", "tokenizer.views=[text,cf]", check=False)
    assert missing.returncode == 2 and "python -m cost_ms views CONFIG" in missing.stderr
    assert not (out / "tokenize-minilm-simcit-text+cf").exists()
    for rest in (["--set", "tokenizer.method=rqvae"], ["--set", "tokenizer.views=[text]"]):   # text only
        skip = cli("views", cfg, *args, "--if-needed", *rest)
        assert "not needed" in skip.stdout and not (out / "views").exists()
    cli("views", cfg, *args, "--if-needed", "--set", "tokenizer.views=[text,cf]")
    meta = json.loads((out / "views" / "meta.json").read_text())
    assert set(meta["views"]) == {"cf", "attr"} and meta["num_items"] == 300
    cf = np.load(out / "views" / "cf.npy")
    assert cf.shape[0] == 300 and np.isfinite(cf).all()

    np.save(out / "image.npy", np.random.default_rng(0).normal(size=(300, 12)).astype(np.float32))
    conv = [sys.executable, os.path.join(ROOT, "tools", "convert_embeddings.py"), str(out / "image.npy"),
            str(out / "data"), "--out", str(out / "views")]
    subprocess.run(conv + ["--view", "image"], check=True, capture_output=True)
    reserved = subprocess.run(conv + ["--view", "cf"], capture_output=True, text=True)
    assert reserved.returncode == 2 and "reserved" in reserved.stderr
    cli("views", cfg, *args)                                   # rebuilding cf/attr keeps the added view
    meta = json.loads((out / "views" / "meta.json").read_text())
    assert set(meta["views"]) == {"cf", "attr", "image"} and meta["views"]["image"]["dim"] == 12

    tok = cli("tokenize", cfg, *args, "--set", "tokenizer.views=[text,cf,attr]")
    assert "collision_rate" in tok.stdout
    folder = out / "tokenize-minilm-simcit-text+cf+attr"
    report = json.loads((folder / "tokenizer_report.json").read_text())
    assert set(report["views"]) == {"text", "cf", "attr"}
    assert sum(v["fusion_weight"] for v in report["views"].values()) == pytest.approx(1.0, abs=1e-4)
    assert all(v["align_loss"] > 0 for v in report["views"].values())
    assert json.loads((folder / "meta.json").read_text())["tokenizer"] == "simcit-text+cf+attr"
    again = cli("tokenize", cfg, *args, "--set", "tokenizer.views=[text,cf,attr]")   # finished: resumes at the end
    assert json.loads((folder / "tokenizer_report.json").read_text()) == report, again.stderr[-500:]

    one = cli("tokenize", cfg, *args, "--set", "tokenizer.views=[text]")        # one view is allowed
    assert one.returncode == 0 and (out / "tokenize-minilm-simcit-text" / "semantic_ids.npy").is_file()


def _refused(cfg, out, args, message):
    before = sorted(p.name for p in out.iterdir())
    proc = cli("tokenize", cfg, *args, check=False)
    assert proc.returncode == 2, proc.stderr[-800:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, last
    assert sorted(p.name for p in out.iterdir()) == before


def test_simcit_bad_views(office, tmp_path):
    cfg, out = office
    args = ["--out", str(out), "-q"] + OFFICE
    cli("views", cfg, *args)
    _refused(cfg, out, args + ["--set", "tokenizer.views=[text,nosuch]"], "unknown view 'nosuch'")
    _refused(cfg, out, args + ["--set", "tokenizer.views=[]"], "tokenizer.views must name one or more")
    _refused(cfg, out, args + ["--set", "tokenizer.views=[text,text]"], "tokenizer.views must name one or more")
    cf = np.load(out / "views" / "cf.npy")
    try:
        np.save(out / "views" / "cf.npy", cf[:-1])
        _refused(cfg, out, args + ["--set", "tokenizer.views=[text,cf]"], "299 rows but the item table has 300")
        bad = cf.copy()
        bad[7] = np.nan
        np.save(out / "views" / "cf.npy", bad)
        _refused(cfg, out, args + ["--set", "tokenizer.views=[text,cf]"], "NaN/inf")
        np.save(out / "views" / "cf.npy", cf[:, :10])
        _refused(cfg, out, args + ["--set", "tokenizer.views=[text,cf]"], "width 10, expected")
    finally:
        np.save(out / "views" / "cf.npy", cf)


def test_simcit_resume_with_another_view_width_is_refused(office):
    cfg, out = office
    args = ["--out", str(out), "-q"] + OFFICE + ["--set", "tokenizer.views=[text,cf]"]
    cli("views", cfg, *args)
    cli("tokenize", cfg, *args, "--set", "tokenizer.epochs=2")
    folder = out / "tokenize-minilm-simcit-text+cf"
    before = {p.name: p.stat().st_mtime for p in folder.rglob("*")}
    cli("views", cfg, *args, "--set", "views.cf_dim=16")                    # same name, other width
    proc = cli("tokenize", cfg, *args, "--set", "tokenizer.epochs=2", check=False)
    assert proc.returncode == 2 and "--fresh" in proc.stderr.strip().splitlines()[-1]
    assert {p.name: p.stat().st_mtime for p in folder.rglob("*")} == before
    cli("views", cfg, *args)


def test_hard_gumbel_forward_is_the_noisy_argmax_codeword(ms_mode, rng):
    z, books, noise = _case(rng)
    got = [t.asnumpy() for t in soft_rq_levels(Tensor(z), Tensor(books), Tensor(noise), 0.7, True)]
    want = ref.soft_rq_levels_ref(z, books, noise, 0.7, hard=True)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)
    for level in range(3):                     # every level's output is one of its codewords
        assert (np.abs(got[1][level][:, None, :] - books[level][None]).max(-1).min(1) < 1e-5).all()


def test_cross_view_negatives_match_twin(graph_mode, rng):
    q, v = rng.normal(size=(2, 6, 5)).astype(np.float32)
    mask, pos = nt_xent_masks(6, same_view=False)
    got = float(align_loss(Tensor(q), Tensor(v), 0.1, Tensor(mask), Tensor(pos)))
    assert got == pytest.approx(ref.align_loss_ref(q, v, 0.1, same_view=False), rel=1e-5)
    eye = np.eye(2, dtype=np.float32)                        # by hand: log(e + 1) - 1 at tau 1
    mask, pos = nt_xent_masks(2, same_view=False)
    got = float(align_loss(Tensor(eye), Tensor(eye), 1.0, Tensor(mask), Tensor(pos)))
    assert got == pytest.approx(np.log(np.e + 1) - 1, rel=1e-5)
