import numpy as np
import pytest

from cost_ms.metrics import most_popular, popularity_metrics, recall_ndcg
from cost_ms.reference.metrics import recall_ndcg_ref


def test_hand_checked_case():
    topk = np.array([[3, 1, 2, 0, 4, 5],
                     [9, 8, 7, 6, 5, 4],
                     [0, 1, 2, 3, 4, 5]])
    target = np.array([1, 4, 7])          # ranks 1, 5, missing
    m = recall_ndcg(topk, target, ks=(1, 5, 6))
    assert m["recall@1"] == 0.0
    assert m["recall@5"] == pytest.approx(1 / 3)
    assert m["ndcg@5"] == pytest.approx((1 / np.log2(3)) / 3)
    assert m["recall@6"] == pytest.approx(2 / 3)
    assert m["ndcg@6"] == pytest.approx((1 / np.log2(3) + 1 / np.log2(7)) / 3)


def test_fast_matches_reference(rng):
    topk = np.stack([rng.permutation(100)[:40] for _ in range(300)])
    target = rng.integers(0, 100, 300)
    fast, ref = recall_ndcg(topk, target), recall_ndcg_ref(topk, target)
    for key in ref:
        assert fast[key] == pytest.approx(ref[key], rel=1e-12)


def test_most_popular():
    train = {"a": [1, 2, 2], "b": [2, 3, 1], "c": [5]}
    assert most_popular(train, 3).tolist() == [2, 1, 3]
    m = popularity_metrics(train, np.array([2, 3, 9]), ks=(1, 3))
    assert m["recall@1"] == pytest.approx(1 / 3) and m["recall@3"] == pytest.approx(2 / 3)
