"""Where a generator training step's memory goes, and what buys it back: peak RSS against batch size,
recomputation and micro-batches, one child process per variant (its peak RSS is its own).

Uses twin.py's data (cost-ms's own input pipeline on Amazon Office, full-length batches) and model::

    python benchmarks/memory_step.py [--config tiger] [--steps 4] [--variants b256 b128 b64 recompute micro2 micro4]

Variants (every one trains the same 256-sample global batch unless its name says otherwise):
``bN``        one step on the first N samples of each batch (how RSS scales with the batch);
``recompute`` ``Cell.recompute()`` on every encoder and decoder layer (activations recomputed in backward);
``microK``    ``generator.micro_batches=K``: the engine's micro-batch step (``make_train_step(micro_batches=K)``),
              K compiled forward-backward calls on 256/K samples, gradients summed, one optimizer update.
Prints a table (peak RSS, samples/s, compile s) and writes ``benchmarks/results/memory_step_<config>.json`` atomically.
The torch twin's row is the same model and batches in PyTorch, for the ratio.
"""
import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

from common import child, peak_rss_mb, report
from twin import CONFIGS, Data, check_folders, prepare, run_torch


def run_variant(d, variant, steps):
    from mindspore import Tensor, nn

    from cost_ms.engine import make_train_step
    from cost_ms.generator.transformer import Seq2SeqWithLoss
    from cost_ms.runtime import init_runtime
    from twin import cost_ms_net
    init_runtime("CPU", "graph", d.cfg.run.seed)
    rss0 = peak_rss_mb()
    net, _, _ = cost_ms_net(d)
    batch, micro = 256, 1
    if variant.startswith("b"):
        batch = int(variant[1:])
    elif variant.startswith("micro"):
        micro = int(variant[5:])
    elif variant == "recompute":
        for layer in list(net.encoder) + list(net.decoder):
            layer.recompute()
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=d.gc.lr, weight_decay=d.gc.weight_decay)
    step = make_train_step(Seq2SeqWithLoss(net), opt, jit=True, mean_outputs=2, micro_batches=micro)
    net.set_train(True)

    def run(i):
        return step(*(Tensor(a[:batch]) for a in d.batch(i, "full")))[0]
    t = time.time()
    float(run(0).asnumpy())
    compile_s = time.time() - t
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = time.time()
    for i in range(steps):
        loss = run(i)
    float(loss.asnumpy())
    dt = time.time() - t
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps
    return {"variant": variant, "impl": "cost_ms", "batch": batch, "micro_batches": micro,
            "samples_per_s": steps * batch / dt, "ms_per_step": 1000 * dt / steps, "compile_s": compile_s,
            "minor_faults_per_step": faults, "rss_before_mb": rss0, "peak_rss_mb": peak_rss_mb()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="tiger", choices=sorted(CONFIGS))
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--variants", nargs="+", default=["b256", "b128", "b64", "recompute", "micro2", "micro4"])
    ap.add_argument("--no-torch", action="store_true", help="skip the torch twin's row")
    ap.add_argument("--variant", help=argparse.SUPPRESS)   # child mode
    ap.add_argument("--data", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.variant:
        d = Data(a.data)
        if a.variant == "torch":
            r = run_torch(d, a.steps, "full", beam=False)
            row = {"variant": "torch", "impl": "torch", "batch": 256, "micro_batches": 1,
                   "samples_per_s": r["train_samples_per_s"], "ms_per_step": r["ms_per_step"],
                   "compile_s": r["compile_s"], "minor_faults_per_step": r["minor_faults_per_step"],
                   "peak_rss_mb": r["peak_rss_mb"]}
        else:
            row = run_variant(d, a.variant, a.steps)
        import json
        print(json.dumps(row))
        return
    check_folders(a.config)
    tmp = tempfile.mkdtemp(prefix="memory-")
    try:
        path = os.path.join(tmp, f"{a.config}.npz")
        prepare(a.config, a.steps + 1, 1, path)
        rows = []
        for v in a.variants + ([] if a.no_torch else ["torch"]):
            print(f"  {v} ...", file=sys.stderr, flush=True)
            rows.append(child(__file__, v, "--data", path, "--steps", str(a.steps)))
        report(f"memory_step_{a.config}", rows, ["variant", "impl", "batch", "micro_batches", "samples_per_s", "ms_per_step",
                                     "compile_s", "minor_faults_per_step", "peak_rss_mb"],
               {"config": a.config, "steps": a.steps, "command": " ".join(sys.argv)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
