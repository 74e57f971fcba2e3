"""Tokenizer speed on ml-latest-small (9,724 items, MiniLM embeddings).

Training items/s: graph mode (one @ms.jit step) vs PyNative, same loss, same data.
Encoding items/s: MindSpore graph vs the pure NumPy reference, with a check that codes agree.
Each variant runs in its own process, so peak RSS is its own.

    python benchmarks/tokenizer_speed.py [--epochs 4] [--loss co]
"""
import argparse
import json
import os
import sys
import time

from common import ROOT, child, peak_rss_mb, report

RUN = os.path.join(ROOT, "runs", "ml-latest-small")
CFG = os.path.join(ROOT, "configs", "ml-latest-small.yaml")


def ensure_embeddings():
    from cost_ms.cli import main
    if not os.path.isfile(os.path.join(RUN, "data", "meta.json")):
        assert main(["prepare", CFG, "--out", RUN, "-q"]) == 0
    if not os.path.isfile(os.path.join(RUN, "embed-minilm", "meta.json")):
        assert main(["embed", CFG, "--out", RUN, "-q"]) == 0


def load():
    import numpy as np

    from cost_ms.config import load_config
    return load_config(CFG), np.load(os.path.join(RUN, "embed-minilm", "item_emb.npy"))


def run_variant(variant, epochs, loss):
    import numpy as np

    from cost_ms.runtime import init_runtime
    cfg, emb = load()
    tc = cfg.tokenizer.replace(loss=loss, epochs=epochs, ckpt_every_steps=0)
    if variant in ("train-graph", "train-pynative"):
        from cost_ms.tokenizer.trainer import train_rqvae
        init_runtime("CPU", "graph" if variant == "train-graph" else "pynative", 0)
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            _, hist = train_rqvae(tc, emb, tmp, 0, jit=variant == "train-graph", progress=False)
        steady = hist[1:] or hist                    # epoch 1 includes graph compilation
        items = (len(emb) // tc.batch_size) * tc.batch_size
        return {"variant": variant, "items_per_s": items * len(steady) / sum(h["seconds"] for h in steady),
                "first_epoch_s": hist[0]["seconds"], "final_loss": hist[-1]["loss"], "peak_rss_mb": peak_rss_mb()}
    init_runtime("CPU", "graph", 0)
    from cost_ms.reference.tokenizer import mlp_ref, mlp_weights, rq_encode_ref
    from cost_ms.tokenizer.trainer import build_model, encode_items
    net = build_model(tc, emb.shape[1])
    if variant == "encode-mindspore":
        encode_items(net, emb[:4096])                 # compile
        t = time.time()
        codes = encode_items(net, emb)
    else:
        t = time.time()
        codes = rq_encode_ref(mlp_ref(mlp_weights(net.encoder), emb), net.quantizer.codebooks().asnumpy())
    dt = time.time() - t
    ref = rq_encode_ref(mlp_ref(mlp_weights(net.encoder), emb), net.quantizer.codebooks().asnumpy())
    return {"variant": variant, "items_per_s": len(emb) / dt, "codes_equal_ref": bool(np.array_equal(codes, ref)),
            "peak_rss_mb": peak_rss_mb()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--loss", default="co")
    a = p.parse_args()
    if a.variant:
        print(json.dumps(run_variant(a.variant, a.epochs, a.loss)))
        return
    ensure_embeddings()
    rows = [child(__file__, v, "--epochs", str(a.epochs), "--loss", a.loss)
            for v in ("train-graph", "train-pynative", "encode-mindspore", "encode-numpy-ref")]
    report("tokenizer_speed", rows, ["variant", "items_per_s", "first_epoch_s", "final_loss", "codes_equal_ref",
                                     "peak_rss_mb"], {"dataset": "ml-latest-small", "loss": a.loss,
                                                      "epochs": a.epochs, "device": "CPU"})


if __name__ == "__main__":
    sys.exit(main())
