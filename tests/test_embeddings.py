import json

import numpy as np
import pandas as pd
import pytest

from cost_ms.embeddings import check_matrix, encode_texts, load_embeddings, load_encoder, save_embeddings
from cost_ms.errors import CostError
from tools.convert_embeddings import align, read_any


def test_check_matrix_rejects_bad_input():
    good = np.ones((3, 4), np.float32)
    assert check_matrix(good, 3, 4).shape == (3, 4)
    with pytest.raises(CostError, match="have 3 rows but the item table has 5 items"):
        check_matrix(good, 5)
    with pytest.raises(CostError, match="have width 4, expected 8"):
        check_matrix(good, 3, 8)
    bad = good.copy()
    bad[1, 2] = np.nan
    bad[2, 0] = np.inf
    with pytest.raises(CostError, match=r"2 row\(s\) with NaN/inf \(first rows: \[1, 2\]\)"):
        check_matrix(bad, 3)


def test_embeddings_round_trip_and_dataset_check(tmp_path):
    emb = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    save_embeddings(str(tmp_path / "e"), emb, "office", "m", False, 5)
    got, meta = load_embeddings(str(tmp_path / "e"), "office", 5)
    np.testing.assert_array_equal(got, emb)
    assert meta["dim"] == 8
    with pytest.raises(CostError, match="are for data set 'office', not 'beauty'"):
        load_embeddings(str(tmp_path / "e"), "beauty", 5)
    with pytest.raises(CostError, match="have 5 rows but the item table has 6"):
        load_embeddings(str(tmp_path / "e"), "office", 6)
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["item_emb.npy", "meta.json"]


def test_minilm_is_a_real_sentence_encoder():
    encoder, label = load_encoder("minilm")
    emb = encode_texts(encoder, ["Title: blue ballpoint pen.", "Title: black gel pen.", "Title: cordless phone."],
                       progress=False)
    assert emb.shape == (3, 384) and "MiniLM" in label
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


def test_convert_keyed_files(tmp_path):
    ids = ["a", "b", "c"]
    mat = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.savez(tmp_path / "e.npz", ids=np.array(["c", "a", "b"]), emb=mat[[2, 0, 1]])
    np.testing.assert_array_equal(align(*read_any(str(tmp_path / "e.npz")), ids), mat)
    pd.DataFrame({"item_id": ["b", "a", "c"], "embedding": [json.dumps(r.tolist()) for r in mat[[1, 0, 2]]]}) \
        .to_csv(tmp_path / "e.csv", index=False)
    np.testing.assert_array_equal(align(*read_any(str(tmp_path / "e.csv")), ids), mat)
    with pytest.raises(CostError, match="not in the item table"):
        align(["a", "b", "c", "zz"], np.zeros((4, 2)), ids)
    with pytest.raises(CostError, match="duplicate item ids"):
        align(["a", "a", "b"], np.zeros((3, 2)), ids)
    with pytest.raises(CostError, match="have no embedding"):
        align(["a", "b"], np.zeros((2, 2)), ids)
    with pytest.raises(CostError, match="unsupported embedding file type"):
        (tmp_path / "e.txt").write_text("x")
        read_any(str(tmp_path / "e.txt"))
