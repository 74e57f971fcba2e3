#!/usr/bin/env python
"""Turn embeddings you already have (e.g. Sentence-T5 vectors) into the project's input.

    python tools/convert_embeddings.py emb.npz runs/amazon-office/data --out runs/amazon-office/embed-st5 \
        --model sentence-t5-base

Accepted: ``.npy`` (rows in item order), ``.npz`` (arrays ``ids`` + ``emb``, or a single
array), ``.pt`` (a tensor, or a dict ``{item_id: vector}``), ``.parquet`` / ``.csv``
(an ``item_id`` column plus either an ``embedding`` list column or one column per
dimension). Rows keyed by item id are matched to the prepared item table; every item
needs exactly one row, and width and NaN/inf are checked before anything is written.

With ``--view NAME`` the matrix becomes an extra item view for SimCIT instead (``--out`` is then
the run's ``views/`` folder; other views there are kept)::

    python tools/convert_embeddings.py clip.npz runs/amazon-beauty/data --out runs/amazon-beauty/views \
        --view image
    python -m cost_ms tokenize configs/amazon-beauty-simcit.yaml --set "tokenizer.views=[text,cf,image]"
"""
import argparse
import ast
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cost_ms.data import load  # noqa: E402
from cost_ms.embeddings import check_matrix, save_embeddings  # noqa: E402
from cost_ms.views import add_view  # noqa: E402
from cost_ms.errors import CostError, report  # noqa: E402


def _frame_to_keyed(df):
    if "item_id" not in df.columns:
        return None, df.to_numpy(np.float32)
    ids = df["item_id"].astype(str).tolist()
    if "embedding" in df.columns:
        col = df["embedding"].map(lambda v: ast.literal_eval(v) if isinstance(v, str) else v)
        mat = np.asarray(col.tolist(), np.float32)
    else:
        mat = df.drop(columns=["item_id"]).to_numpy(np.float32)
    return ids, mat


def read_any(path):
    """Return ``(ids or None, matrix)``."""
    if not os.path.isfile(path):
        raise CostError(f"embedding file not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        return None, np.load(path)
    if ext == ".npz":
        z = np.load(path)
        if "emb" in z:
            return ([str(i) for i in z["ids"]] if "ids" in z else None), z["emb"]
        if len(z.files) == 1:
            return None, z[z.files[0]]
        raise CostError(f"{path}: expected arrays 'ids' and 'emb' (found {z.files})")
    if ext == ".pt":
        import torch
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(obj, dict):
            ids = [str(k) for k in obj]
            return ids, np.stack([np.asarray(v, np.float32) for v in obj.values()])
        return None, np.asarray(obj, np.float32)
    if ext in (".parquet", ".csv"):
        import pandas as pd
        df = pd.read_parquet(path) if ext == ".parquet" else pd.read_csv(path)
        return _frame_to_keyed(df)
    raise CostError(f"unsupported embedding file type '{ext}' (use .npy, .npz, .pt, .parquet or .csv)")


def align(ids, mat, item_ids):
    """Reorder rows keyed by ``ids`` into item-table order; unknown, missing or repeated ids are errors."""
    mat = np.asarray(mat)
    if mat.ndim != 2:
        raise CostError(f"embeddings must be a 2-D matrix, got shape {mat.shape}")
    if ids is None:
        return mat.astype(np.float32)
    if len(set(ids)) != len(ids):
        raise CostError("embedding file has duplicate item ids")
    pos = {i: n for n, i in enumerate(ids)}
    missing = [i for i in item_ids if i not in pos]
    if missing:
        raise CostError(f"{len(missing)} item(s) have no embedding (e.g. {missing[:3]})")
    unknown = set(ids) - set(item_ids)
    if unknown:
        raise CostError(f"{len(unknown)} embedding id(s) are not in the item table (e.g. {sorted(unknown)[:3]})")
    return mat[[pos[i] for i in item_ids]].astype(np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("embeddings")
    p.add_argument("data", help="a prepared data folder")
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="external", help="name recorded in meta.json")
    p.add_argument("--dim", type=int, help="expected width (checked)")
    p.add_argument("--view", help="write an extra SimCIT view of this name into --out (a views/ folder)")
    a = p.parse_args(argv)
    return report(convert, a)


def convert(a):
    prep = load(a.data)
    ids, mat = read_any(a.embeddings)
    emb = align(ids, mat, prep.items["item_id"].astype(str).tolist())
    if a.dim and emb.shape[1] != a.dim:
        raise CostError(f"embeddings have width {emb.shape[1]}, expected {a.dim}")
    if a.view:
        add_view(a.out, prep, a.view, check_matrix(emb, prep.num_items, what="view"),
                 source=os.path.abspath(a.embeddings), model=a.model)
        print(f"wrote view '{a.view}' ({emb.shape[0]} x {emb.shape[1]}) to {a.out}")
        return
    norms = np.linalg.norm(emb, axis=1)
    save_embeddings(a.out, emb, prep.name, a.model, bool(np.allclose(norms, 1, atol=1e-3)), prep.num_items,
                    source=os.path.abspath(a.embeddings))
    print(f"wrote {emb.shape[0]} x {emb.shape[1]} embeddings to {a.out}")


if __name__ == "__main__":
    raise SystemExit(main())
