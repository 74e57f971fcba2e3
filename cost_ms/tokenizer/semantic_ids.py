"""From codes to unique semantic IDs, and the tokenizer report.

Items sharing a full code tuple get a disambiguation token 0, 1, 2, ... in item order
(TIGER, sec. 3.1), so every item has a unique ``(c1, ..., cM, dedup)`` tuple.
"""
import os

import numpy as np
import pandas as pd

from ..errors import CostError
from ..io import read_meta, write_json, write_meta, write_npy, write_text

STAGE = "tokenize"


def dedup_codes(codes):
    """``codes [N, M] int`` -> ``dedup [N] int64``; same rule as :func:`cost_ms.reference.tokenizer.dedup_ref`."""
    n = len(codes)
    if n == 0:
        return np.zeros(0, np.int64)
    _, group = np.unique(codes, axis=0, return_inverse=True)
    group = group.reshape(-1)
    order = np.lexsort((np.arange(n), group))      # by group, then item index
    sorted_group = group[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_group)) + 1]
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    out = np.empty(n, np.int64)
    out[order] = rank
    return out


def with_dedup(codes):
    """``[N, M]`` -> ``[N, M+1]`` unique semantic IDs."""
    return np.concatenate([codes.astype(np.int64), dedup_codes(codes)[:, None]], axis=1)


def codebook_stats(codes, codebook_size):
    stats = []
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=codebook_size)
        p = counts[counts > 0] / counts.sum()
        stats.append({"level": level + 1, "usage": float((counts > 0).mean()),
                      "perplexity": float(np.exp(-(p * np.log(p)).sum())),
                      "dead_codes": int((counts == 0).sum())})
    return stats


def neighbourhood_score(emb, codes, k=10, chunk=1024):
    """Share of each item's ``k`` nearest neighbours (cosine) sharing its first code / first two codes."""
    x = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    k = min(k, len(x) - 1)
    same1 = same12 = 0.0
    for start in range(0, len(x), chunk):
        sims = x[start:start + chunk] @ x.T
        rows = np.arange(start, min(start + chunk, len(x)))
        sims[rows - start, rows] = -np.inf                       # exclude the item itself
        nn_idx = np.argpartition(-sims, k, axis=1)[:, :k]
        c = codes[rows]
        same1 += (codes[nn_idx, 0] == c[:, None, 0]).mean(1).sum()
        if codes.shape[1] > 1:
            same12 += ((codes[nn_idx, 0] == c[:, None, 0]) & (codes[nn_idx, 1] == c[:, None, 1])).mean(1).sum()
    # what two random items share, given how items spread over codes: the score is only
    # meaningful against this (a collapsed codebook shares codes with everything)
    def chance(cols):
        _, counts = np.unique(codes[:, cols], axis=0, return_counts=True)
        return float(((counts / len(codes)) ** 2).sum())

    multi = codes.shape[1] > 1
    return {"k": int(k), "share_same_c1": float(same1 / len(x)),
            "share_same_c1c2": float(same12 / len(x)) if multi else None,
            "chance_same_c1": chance([0]), "chance_same_c1c2": chance([0, 1]) if multi else None}


def tokenizer_report(codes, emb, codebook_size, k=10):
    _, counts = np.unique(codes, axis=0, return_counts=True)
    n = len(codes)
    return {"num_items": int(n), "levels": int(codes.shape[1]), "codebook_size": int(codebook_size),
            "unique_tuples": int(len(counts)),
            "collision_rate": float(counts[counts > 1].sum() / n),
            "largest_collision_group": int(counts.max()),
            "max_dedup_token": int(counts.max() - 1),
            "codebooks": codebook_stats(codes, codebook_size),
            "neighbourhood": neighbourhood_score(emb, codes, k)}


def write_outputs(folder, items, codes, emb, codebook_size, k, extra=None, **meta):
    """Write ``semantic_ids.csv``, ``semantic_ids.npy``, ``tokenizer_report.json`` (plus the method's
    ``extra`` fields), then ``meta.json``."""
    sid = with_dedup(codes)
    m = codes.shape[1]
    df = pd.DataFrame(sid, columns=[f"c{i + 1}" for i in range(m)] + ["dedup"])
    df.insert(0, "item_id", items["item_id"].values)
    write_text(os.path.join(folder, "semantic_ids.csv"), df.to_csv(index=False))
    write_npy(os.path.join(folder, "semantic_ids.npy"), sid)
    report = {**tokenizer_report(codes, emb, codebook_size, k), **(extra or {})}
    write_json(os.path.join(folder, "tokenizer_report.json"), report)
    write_meta(folder, STAGE, num_items=int(len(sid)), levels=int(m), codebook_size=int(codebook_size),
               dedup_size=int(sid[:, -1].max() + 1), **meta)
    return sid, report


def load_semantic_ids(folder, dataset, num_items):
    meta = read_meta(folder, STAGE)
    if meta.get("dataset") != dataset:
        raise CostError(f"semantic IDs in {folder} are for data set '{meta.get('dataset')}', not '{dataset}'")
    sid = np.load(os.path.join(folder, "semantic_ids.npy"))
    if sid.shape != (num_items, meta["levels"] + 1):
        raise CostError(f"{folder}/semantic_ids.npy has shape {sid.shape}, expected ({num_items}, {meta['levels'] + 1})")
    if len(np.unique(sid, axis=0)) != num_items:
        raise CostError(f"{folder}/semantic_ids.npy has duplicate tuples; re-run tokenize")
    return sid, meta
