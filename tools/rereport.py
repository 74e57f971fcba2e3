#!/usr/bin/env python
"""Recompute ``tokenizer_report.json`` of a finished tokenize folder from its semantic IDs and the
embeddings (no retraining), e.g. after the report gained a field.

    python tools/rereport.py runs/amazon-office/tokenize-co runs/amazon-office/embed-minilm
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cost_ms.errors import report  # noqa: E402
from cost_ms.io import read_meta, write_json  # noqa: E402
from cost_ms.tokenizer.semantic_ids import tokenizer_report  # noqa: E402

def main(folder, emb_dir):
    meta = read_meta(folder, "tokenize")
    codes = np.load(os.path.join(folder, "semantic_ids.npy"))[:, :meta["levels"]]
    emb = np.load(os.path.join(emb_dir, "item_emb.npy"))
    write_json(os.path.join(folder, "tokenizer_report.json"), tokenizer_report(codes, emb, meta["codebook_size"]))
    print(f"rewrote {folder}/tokenizer_report.json")


if __name__ == "__main__":
    raise SystemExit(report(main, sys.argv[1], sys.argv[2]))
