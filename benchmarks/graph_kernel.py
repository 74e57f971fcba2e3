"""Does MindSpore's graph-kernel fusion (AKG, ``enable_graph_kernel``) speed up cost-ms's training steps on CPU?

The speed issue asked to try MindSpore's fusion options. This times, each variant in its own process and
alternating when ``--repeats`` > 1:

* the tokenizer (``train_rqvae`` with ``configs/amazon-beauty-cpu.yaml``'s settings and one CPU kernel thread,
  its default, on centred Beauty MiniLM embeddings; median epoch after the first of ``--epochs``):
  ``tok-off`` (no fusion), ``tok-gk`` (fusion, environment as it comes), ``tok-gk-passive`` (fusion with
  ``OMP_WAIT_POLICY=passive``: the fused CPU kernels run on OpenMP threads, which otherwise spin between kernels);
* the generator's train step at TIGER's size (``configs/amazon-office.yaml``: 4+4 layers, d_model 128, ffn 1024;
  batch 256 in 8 micro-batches, history 20 = 81 source tokens, AdamW; median of ``--steps`` steps after one):
  ``gen-off`` and ``gen-gk-passive``. Its batches are random tokens of a 64/64/64/8 vocabulary (no data set
  needed; a step's time does not depend on the token values).

Fusion needs the ``decorator`` package (MindSpore's kernel compiler imports it; without it compilation fails).
The children run in a temporary folder, where AKG writes its kernel files (``akg_kernel_meta/``,
``dsa_transfrom.log``). Not a cost-ms option: on this CPU it did not pay (docs/PERFORMANCE.md).

    python -m cost_ms embed configs/amazon-beauty-cpu.yaml       # once: runs/amazon-beauty/embed-minilm
    python benchmarks/graph_kernel.py [--epochs 4] [--steps 6] [--repeats 1] [--variants ...]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from common import ROOT, child, peak_rss_mb, report

EMB = os.path.join(ROOT, "runs", "amazon-beauty", "embed-minilm", "item_emb.npy")
ENV = {"tok-off": {}, "tok-gk": {}, "tok-gk-passive": {"OMP_WAIT_POLICY": "passive"},
       "gen-off": {}, "gen-gk-passive": {"OMP_WAIT_POLICY": "passive"}}


def _runtime(variant):
    import mindspore as ms

    from cost_ms.runtime import init_runtime
    if "-gk" in variant:
        ms.set_context(enable_graph_kernel=True)      # deprecated name; jit_level O1 does not fuse on CPU
    init_runtime("CPU", "graph", 0, cpu_threads=1 if variant.startswith("tok") else 0)


def tokenizer(variant, epochs):
    import numpy as np

    from cost_ms.config import load_config
    from cost_ms.tokenizer.trainer import train_rqvae
    _runtime(variant)
    tc = dict(load_config(os.path.join(ROOT, "configs", "amazon-beauty-cpu.yaml"))["tokenizer"], epochs=epochs,
              ckpt_every_steps=0)
    emb = np.load(EMB).astype(np.float32)
    emb -= emb.mean(0, keepdims=True)
    with tempfile.TemporaryDirectory() as tmp:
        _, hist = train_rqvae(tc, emb, tmp, 2024, progress=False)
    med = statistics.median(h["seconds"] for h in hist[1:])
    return {"part": "tokenizer", "unit": "ms/step", "value": 1000 * med / (len(emb) // tc["batch_size"]),
            "first_s": hist[0]["seconds"], "final_loss": hist[-1]["loss"]}


def generator(variant, steps):
    from types import SimpleNamespace

    import numpy as np
    from mindspore import Tensor, nn

    from cost_ms.config import load_config
    from cost_ms.engine import make_train_step
    from cost_ms.generator import build_network
    from cost_ms.generator.transformer import Seq2SeqWithLoss
    from cost_ms.generator.vocab import Vocab
    _runtime(variant)
    cfg = load_config(os.path.join(ROOT, "configs", "amazon-office.yaml"))
    gc, bs, src_len = cfg["generator"], 256, 1 + 20 * 4
    vocab = Vocab([64, 64, 64, 8], gc["user_buckets"])
    net = build_network(cfg, SimpleNamespace(vocab=vocab, src_len=src_len))
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=1e-3, weight_decay=gc["weight_decay"])
    step = make_train_step(Seq2SeqWithLoss(net), opt, jit=True, mean_outputs=2, micro_batches=8)
    net.set_train(True)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(4):
        tgt = rng.integers(3, 3 + 64, (bs, 4)).astype(np.int32)
        src = rng.integers(3, vocab.size, (bs, src_len)).astype(np.int32)
        dec = np.concatenate([np.zeros((bs, 1), np.int32), tgt[:, :-1]], 1)
        batches.append((Tensor(src), Tensor(dec), Tensor(tgt)))
    t = time.time()
    loss = float(step(*batches[0])[0].asnumpy())
    first = time.time() - t
    secs = []
    for i in range(steps):
        t = time.time()
        loss = float(step(*batches[i % 4])[0].asnumpy())
        secs.append(time.time() - t)
    return {"part": "generator (tiger, 8 micro-batches)", "unit": "samples/s", "value": bs / statistics.median(secs),
            "first_s": first, "final_loss": loss}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--variants", default=",".join(ENV))
    a = p.parse_args()
    if a.variant:
        out = tokenizer(a.variant, a.epochs) if a.variant.startswith("tok") else generator(a.variant, a.steps)
        print(json.dumps({"variant": a.variant, **out, "peak_rss_mb": peak_rss_mb()}))
        return
    names = a.variants.split(",")
    unknown = [v for v in names if v not in ENV]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(ENV)}")
    if any(v.startswith("tok") for v in names) and not os.path.isfile(EMB):
        raise SystemExit(f"no {EMB}: run `python -m cost_ms embed configs/amazon-beauty-cpu.yaml` first")
    runs = {v: [] for v in names}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(a.repeats):
            for v in names:
                env = dict(ENV[v], MS_COMPILER_CACHE_PATH=os.path.join(work, "kernels"),
                           PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "benchmarks")]))
                runs[v].append(child(os.path.abspath(__file__), v, "--epochs", str(a.epochs), "--steps",
                                     str(a.steps), env=env, cwd=work))
    rows = []
    for v, rs in runs.items():
        best = (min if rs[0]["unit"] == "ms/step" else max)(rs, key=lambda r: r["value"])
        rows.append(dict(best, all=[round(r["value"], 2) for r in rs]))
    report("graph_kernel", rows, ["variant", "part", "value", "unit", "all", "first_s", "final_loss", "peak_rss_mb"],
           {"epochs": a.epochs, "steps": a.steps, "repeats": a.repeats, "device": "CPU"})


if __name__ == "__main__":
    sys.exit(main())
