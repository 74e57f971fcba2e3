"""Recall@k and NDCG@k with one held-out item per user (leave-one-out).

With a single relevant item, Recall@k is the hit rate and NDCG@k = 1 / log2(rank + 2)
when the item is ranked ``rank`` (0-based) within the top k, else 0.
"""
import collections

import numpy as np


def target_rank(topk, target):
    """``topk [U, K]`` item ids, ``target [U]`` -> 0-based rank of the target, or -1."""
    hit = topk == np.asarray(target)[:, None]
    return np.where(hit.any(1), hit.argmax(1), -1)


def per_user(rank, k):
    """``rank [U]`` 0-based target ranks (-1 = not ranked) -> ``(hit@k [U], ndcg@k [U])`` float64."""
    rank = np.asarray(rank)
    hit = (rank >= 0) & (rank < k)
    return hit.astype(np.float64), np.where(hit, 1.0 / np.log2(np.maximum(rank, 0) + 2.0), 0.0)


def metrics_from_ranks(rank, ks=(5, 10, 20, 40)):
    """Recall/NDCG@ks, the means of :func:`per_user` over users."""
    out = {}
    for k in ks:
        hit, ndcg = per_user(rank, k)
        out[f"recall@{k}"], out[f"ndcg@{k}"] = float(hit.mean()), float(ndcg.mean())
    return out


def recall_ndcg(topk, target, ks=(5, 10, 20, 40)):
    return metrics_from_ranks(target_rank(topk, target), ks)


def most_popular(train_seqs, k):
    """Top-``k`` items by interaction count in the training parts (ties: lower item index first)."""
    counts = collections.Counter(i for s in train_seqs.values() for i in s)
    return np.asarray([i for i, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]], np.int64)


def popular_top_items(train_seqs, k, exclude):
    """``[U, k]`` most popular items, row ``u`` skipping the items of ``exclude[u]`` (-1 where fewer than ``k``
    items remain)."""
    longest = max((len(set(e)) for e in exclude), default=0)
    ranked = most_popular(train_seqs, k + longest)      # k new items always lie within the first k + |history|
    out = np.full((len(exclude), k), -1, np.int64)
    for r, e in enumerate(exclude):
        keep = ranked[~np.isin(ranked, np.asarray(list(e), np.int64))][:k]
        out[r, :len(keep)] = keep
    return out


def popularity_metrics(train_seqs, target, ks=(5, 10, 20, 40), exclude=None):
    """Most-popular Recall/NDCG@ks; ``exclude``: ``None`` (one list for everyone) or per user the items to skip."""
    if exclude is not None:
        return recall_ndcg(popular_top_items(train_seqs, max(ks), exclude), target, ks)
    top = most_popular(train_seqs, max(ks))
    return recall_ndcg(np.broadcast_to(top, (len(target), len(top))), target, ks)
