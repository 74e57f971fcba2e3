"""Worker for tests/test_distributed.py: a few steps of both trainers, then every parameter to a file.

    msrun --worker_num 2 --local_worker_num 2 tests/dp_worker.py OUT dp      # 2 workers, batch 32 each
    python tests/dp_worker.py OUT single                                      # 1 process, batch 64

Both see the same global batches (64 rows), so losses and final parameters must agree
within float tolerance, and the two workers' parameters must be identical.
"""
import json
import os
import sys

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from cost_ms.config import load_config  # noqa: E402
from cost_ms.data.dataset import Prepared  # noqa: E402
from cost_ms.generator import Evaluator, GeneratorInputs, build_network  # noqa: E402
from cost_ms.generator.trainer import train_generator  # noqa: E402
from cost_ms.parallel import init_world  # noqa: E402
from cost_ms.runtime import init_runtime  # noqa: E402
from cost_ms.tokenizer.trainer import train_rqvae  # noqa: E402

GLOBAL_BATCH = 64
TC = dict(loss="co", hidden=[32, 16], latent_dim=8, levels=2, codebook_size=8, shared_codebook=False, beta=0.25,
          alpha=0.1, tau=0.1, lr=1e-3, weight_decay=0.0, epochs=2, kmeans_init=True, kmeans_iters=20,
          reseed_dead_codes=False, ckpt_every_steps=0, global_negatives=True, neighbours=5, kmeans_init_rows=0,
          center_inputs=False)           # tokenizer keys set over base.yaml's, with the per-worker batch_size
GEN = ["generator.arch=tiger", "generator.item_embedding=false", "generator.enc_layers=1", "generator.dec_layers=1", "generator.d_model=32", "generator.num_heads=2",
       "generator.head_dim=16", "generator.ffn_dim=64", "generator.dropout=0.0", "generator.max_history=4",
       "generator.epochs=1", "generator.warmup_steps=2", "generator.beam_size=10", "generator.eval_batch_size=8",
       "generator.length_buckets=[]", "generator.ckpt_every_steps=0", "eval.ks=[10]"]


def toy_data(seed=0):
    """120 items in 8 clusters; 60 users whose sequences stay mostly within a cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, 24)) * 3
    label = rng.integers(0, 8, 120)
    emb = (centres[label] + rng.normal(size=(120, 24))).astype(np.float32)
    seqs = {}
    for u in range(60):
        c = rng.integers(0, 8)
        pool = np.flatnonzero(label == c)
        seqs[str(u)] = [int(i) for i in rng.choice(pool, rng.integers(6, 10))]
    items = pd.DataFrame({"index": np.arange(120), "item_id": [f"i{i}" for i in range(120)],
                          "text": [f"item {i}" for i in range(120)], "title": [f"item {i}" for i in range(120)]})
    return emb, Prepared("toy", items, seqs, {})


def params(cell):
    return {k: v.asnumpy() for k, v in cell.parameters_dict().items()}


def main(out, mode):
    init_runtime("CPU", "graph", 0)
    w = init_world(mode == "dp")
    per_worker = GLOBAL_BATCH // w.size
    emb, prep = toy_data()
    base = load_config(os.path.join(ROOT, "configs", "base.yaml"))
    net, hist = train_rqvae(base.tokenizer.replace(**TC, batch_size=per_worker), emb, os.path.join(out, f"tok-{mode}"),
                            seed=0, progress=False)
    tok = {f"tok/{k}": v for k, v in params(net).items()}

    cfg = load_config(os.path.join(ROOT, "configs", "ml-100k.yaml"), GEN + [f"generator.batch_size={per_worker}"])
    sid = np.stack([np.arange(120) // 16, (np.arange(120) // 2) % 8, np.arange(120) % 2], 1)
    inputs = GeneratorInputs(cfg, prep, sid)
    net = build_network(cfg, inputs)
    state = train_generator(cfg, inputs, net, Evaluator(inputs, net), os.path.join(out, f"gen-{mode}"),
                            progress=False)
    gen = {f"gen/{k}": v for k, v in params(net).items()}

    np.savez(os.path.join(out, f"{mode}-rank{w.rank}.npz"), **tok, **gen)
    with open(os.path.join(out, f"{mode}-rank{w.rank}.json"), "w") as f:
        json.dump({"world": w.size, "tokenizer_loss": [h["loss"] for h in hist],
                   "generator_loss": [h["loss"] for h in state["history"]],
                   "valid_ndcg@10": state["best"]}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
