"""Where a tokenizer training step's time goes (RQ-VAE / CoST on Amazon Beauty, CPU, graph mode).

Builds the tokenizer exactly as ``train_rqvae`` does (``build_model``, ``RQVAEWithLoss``, ``nn.Adam``,
``make_train_step``), on centred Beauty MiniLM embeddings, and times, after ``--warm`` untimed steps:

* ``step``: the compiled train step on batches already on the device (no host reads in between);
* ``step+inputs``: the same with the batch built from NumPy every step, as the engine's loop does;
* ``forward``: the loss alone (a compiled forward graph);
* MindSpore's profiler over ``--steps`` train steps: total ms per step by op type.

    python benchmarks/profile_tokenizer.py [--steps 47] [--warm 5] [--loss co] [--top 15]
"""
import argparse
import os
import sys
import time

from common import ROOT, peak_rss_mb, write_json
from profile_step import mindspore_op_ms

EMB = os.path.join(ROOT, "runs", "amazon-beauty", "embed-minilm", "item_emb.npy")
CFG = os.path.join(ROOT, "configs", "amazon-beauty-cpu.yaml")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=47)
    p.add_argument("--warm", type=int, default=5)
    p.add_argument("--loss", default="co")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--threads", type=int, default=0, help="MindSpore CPU kernel threads (0 = its default)")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "profile_tokenizer.json"))
    a = p.parse_args()
    if not os.path.isfile(EMB):
        raise SystemExit(f"no {EMB}: run `python -m cost_ms embed configs/amazon-beauty-cpu.yaml` first")
    import mindspore as ms
    import numpy as np
    from mindspore import Tensor, nn

    from cost_ms.config import load_config
    from cost_ms.engine import make_train_step
    from cost_ms.runtime import init_runtime
    from cost_ms.tokenizer.cells import RQVAEWithLoss
    from cost_ms.tokenizer.trainer import build_model, kmeans_init
    tc = load_config(CFG).tokenizer.replace(loss=a.loss)
    init_runtime("CPU", "graph", 2024, cpu_threads=a.threads)
    emb = np.load(EMB).astype(np.float32)
    emb -= emb.mean(0, keepdims=True)
    bs = tc.batch_size
    n_batches = a.warm + a.steps
    perm = np.random.default_rng(0).permutation(len(emb))
    rows = [perm[(i * bs) % (len(emb) - bs):][:bs] for i in range(n_batches)]
    net = build_model(tc, emb.shape[1])
    kmeans_init(net, emb[rows[0]], tc, 2024)
    with_loss = RQVAEWithLoss(net, tc.loss, tc.alpha, tc.tau, None)
    opt = nn.Adam(net.trainable_params(), learning_rate=tc.lr, weight_decay=tc.weight_decay)
    step = make_train_step(with_loss, opt, jit=True, mean_outputs=4)

    @ms.jit
    def forward(x):
        return with_loss(x)[0]
    on_device = [Tensor(emb[r]) for r in rows]
    for x in on_device[:a.warm]:
        step(x)[0].asnumpy()
        forward(x).asnumpy()

    def timed(fn):
        t = time.time()
        fn()
        return 1000 * (time.time() - t) / a.steps

    def steps_on_device():
        for x in on_device[a.warm:]:
            out = step(x)
        out[0].asnumpy()

    def steps_with_inputs():
        for r in rows[a.warm:]:
            out = step(Tensor(emb[r]))
        out[0].asnumpy()

    def forwards():
        for x in on_device[a.warm:]:
            out = forward(x)
        out.asnumpy()

    wall = {"step": timed(steps_on_device), "step+inputs": timed(steps_with_inputs), "forward": timed(forwards)}
    op_ms, prof_wall = mindspore_op_ms(steps_on_device)
    ops_per_step = {k: v / a.steps for k, v in sorted(op_ms.items(), key=lambda kv: -kv[1])}
    total_ops = sum(ops_per_step.values())
    print(f"tokenizer step on Beauty, loss {a.loss}, batch {bs}, {a.steps} timed steps after {a.warm}")
    for k, v in wall.items():
        print(f"  {k:<12} {v:7.2f} ms/step")
    print(f"  under the profiler: {1000 * prof_wall / a.steps:.2f} ms/step wall, {total_ops:.2f} ms/step in ops")
    print("  op type                      ms/step   share")
    for k, v in list(ops_per_step.items())[:a.top]:
        print(f"  {k:<28} {v:7.3f}  {v / total_ops:6.1%}")
    write_json(a.out, {"benchmark": "profile_tokenizer", "loss": a.loss, "threads": a.threads, "batch_size": bs,
                       "steps": a.steps,
                       "wall_ms_per_step": wall, "profiled_wall_ms_per_step": 1000 * prof_wall / a.steps,
                       "op_ms_per_step": ops_per_step, "op_total_ms_per_step": total_ops,
                       "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    sys.exit(main())
