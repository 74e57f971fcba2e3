"""Item views computed from the training part of a prepared data set (SimCIT's extra modalities).

* ``cf``: collaborative embedding. Item-item co-occurrence within ``views.cf_window`` positions
  of each *training* sequence (the last two items of every user, validation and test, are
  never read), positive PMI, truncated SVD to ``views.cf_dim``, rows L2-normalised. An item
  that occurs in no training sequence gets a zero row (counted in meta.json).
* ``attr``: attributes as a multi-hot vector, L2-normalised per row: the data set's
  ``<prefix>.item2attributes.json`` when it has one (Amazon Beauty), otherwise the item fields
  ``views.attr_fields`` (e.g. Office's brand and comma-separated categories). Attributes held by
  fewer than ``views.attr_min_items`` items are dropped; the ``views.attr_max`` most frequent kept.

A builder is ``fn(prep, vc, seed, source) -> (matrix [N, D] float32, info dict)``.
"""
import collections
import json
import os

import numpy as np
from scipy import sparse

from ..errors import CostError
from ..registry import Registry

BUILDERS = Registry("view")


def _unit_rows(m):
    norm = np.sqrt((m * m).sum(1, keepdims=True))
    return np.where(norm > 0, m / np.maximum(norm, 1e-12), 0.0).astype(np.float32)


@BUILDERS.register("cf")
def cf_view(prep, vc, seed, source=None):
    from sklearn.decomposition import TruncatedSVD
    n = prep.num_items
    train, _, _ = prep.split()
    rows, cols = [], []
    for seq in train.values():
        for i, a in enumerate(seq):
            for b in seq[i + 1:i + 1 + vc.cf_window]:
                if a != b:
                    rows += [a, b]
                    cols += [b, a]
    co = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    co.sum_duplicates()
    total = co.sum()
    if total == 0:
        raise CostError("the training sequences have no item pairs to build the cf view from")
    deg = np.asarray(co.sum(1)).ravel()
    co = co.tocoo()
    pmi = np.log(co.data * total / (deg[co.row] * deg[co.col]))
    keep = pmi > 0
    ppmi = sparse.csr_matrix((pmi[keep], (co.row[keep], co.col[keep])), shape=(n, n))
    dim = min(vc.cf_dim, n - 1)
    emb = TruncatedSVD(dim, random_state=seed).fit_transform(ppmi)
    cold = int((deg == 0).sum())
    return _unit_rows(emb), {"pairs": int(total // 2), "window": vc.cf_window, "cold_items": cold,
                             "source": "training sequences (validation and test items excluded)"}


def _attributes_from_file(prep, path):
    with open(path, encoding="utf-8") as f:
        table = json.load(f)
    return [[f"a{a}" for a in table.get(str(i), [])] for i in prep.items["item_id"]]


def _attributes_from_fields(prep, fields):
    missing = [f for f in fields if f not in prep.items.columns]
    if missing:
        raise CostError(f"views.attr_fields {missing} are not item fields of this data set "
                        f"(fields: {[c for c in prep.items.columns if c not in ('index', 'item_id', 'text')]})")
    out = []
    for _, rec in prep.items.iterrows():
        tokens = []
        for f in fields:
            for part in str(rec[f]).split(","):
                part = part.strip()
                if part:
                    tokens.append(f"{f}={part}")
        out.append(tokens)
    return out


@BUILDERS.register("attr")
def attr_view(prep, vc, seed, source=None):
    if source is not None and os.path.isfile(source):
        tokens, origin = _attributes_from_file(prep, source), os.path.basename(source)
    else:
        tokens, origin = _attributes_from_fields(prep, vc.attr_fields), f"item fields {vc.attr_fields}"
    counts = collections.Counter(t for item in tokens for t in set(item))
    vocab = [t for t, c in counts.most_common() if c >= vc.attr_min_items][:vc.attr_max]
    if not vocab:
        raise CostError(f"no attribute is shared by at least views.attr_min_items={vc.attr_min_items} items "
                        f"({origin})")
    index = {t: j for j, t in enumerate(vocab)}
    m = np.zeros((prep.num_items, len(vocab)), np.float32)
    for i, item in enumerate(tokens):
        for t in item:
            if t in index:
                m[i, index[t]] = 1.0
    return _unit_rows(m), {"attributes": len(vocab), "source": origin,
                           "items_without": int((m.sum(1) == 0).sum())}
