"""Loop-by-loop reference of :func:`cost_ms.metrics.recall_ndcg` (tests only)."""
import numpy as np


def recall_ndcg_ref(topk, target, ks=(5, 10, 20, 40)):
    """Loop-by-loop reference of :func:`recall_ndcg`."""
    out = {}
    for k in ks:
        rec = ndcg = 0.0
        for row, t in zip(topk, target):
            row = list(row[:k])
            if t in row:
                rec += 1.0
                ndcg += 1.0 / np.log2(row.index(t) + 2.0)
        out[f"recall@{k}"] = rec / len(target)
        out[f"ndcg@{k}"] = ndcg / len(target)
    return out
