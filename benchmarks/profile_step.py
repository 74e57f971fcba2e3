"""Where a generator training step's time goes: MindSpore's op-level profile against torch's, same batches.

Uses twin.py's data (cost-ms's own input pipeline on Amazon Office, handed to each child as one ``.npz``)
and its two models. Each implementation runs in its own process: ``--warm`` untimed steps (MindSpore compiles
its graph), then ``--steps`` steps under the framework's profiler (``mindspore.profiler.Profiler``, CPU op
timing; ``torch.profiler.profile``, self CPU time per aten op). Ops are grouped into families (matmul,
softmax, layernorm, optimizer, ...) by name, so the two frameworks' tables can be read side by side::

    python benchmarks/profile_step.py [--config wide384] [--lengths full] [--steps 4] [--warm 2] [--top 12]

Prints, per implementation, the ms per step of each family and the top op types, and writes
``benchmarks/results/profile_step.json`` (atomically). The profiler's own overhead inflates both a little;
read the shares, and take speed from twin.py.
"""
import argparse
import csv
import glob
import json
import os
import shutil
import sys
import tempfile
import time

from common import ROOT, child, machine, peak_rss_mb, write_json
from twin import CONFIGS, Data, check_folders, cost_ms_net, prepared, torch_trainer

FAMILIES = (   # (family, substrings of op names, lower case); first match wins
    ("optimizer", ("adam", "assign", "lamb", "weightdecay", "_foreach", "addcdiv", "lerp")),
    ("softmax/cross-entropy", ("softmax", "crossentropy", "nll", "logsumexp")),
    ("layernorm", ("layernorm", "layer_norm")),
    ("matmul", ("matmul", "batchmatmul", "addmm", "mm", "bmm", "linear", "dense", "biasadd")),
    ("embedding/gather", ("gather", "embedding", "scatter", "index", "unsortedsegment", "onehot", "one_hot")),
    ("reshape/transpose/copy", ("transpose", "reshape", "view", "copy", "contiguous", "clone", "cast", "aten::to",
                                "permute", "expand", "broadcast", "concat", "cat", "stack", "split", "slice",
                                "stridedslice", "tile")),
    ("dropout/random", ("dropout", "bernoulli", "uniform", "random", "mask")),
    ("elementwise", ("add", "mul", "sub", "div", "relu", "exp", "sqrt", "neg", "sum", "mean", "reduce",
                     "select", "where", "fill", "zeros", "ones", "maximum", "minimum", "pow", "square")),
)


def family(op):
    low = op.lower()
    for name, keys in FAMILIES:
        if any(k in low for k in keys):
            return name
    return "other"


def rss_mb():
    """This process's current RSS (VmRSS), MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def summarise(op_ms, steps, wall_s, top):
    """``op_ms``: {op type: total ms over the profiled steps} -> per-step families and top ops."""
    fam = {}
    for op, ms in op_ms.items():
        fam[family(op)] = fam.get(family(op), 0.0) + ms / steps
    total = sum(fam.values())
    ops = sorted(op_ms.items(), key=lambda kv: -kv[1])[:top]
    return {"wall_ms_per_step": 1000 * wall_s / steps, "op_ms_per_step": total,
            "families": {k: {"ms": v, "share": v / total} for k, v in sorted(fam.items(), key=lambda kv: -kv[1])},
            "top_ops": [{"op": k, "ms": v / steps, "share": v / steps / total, "family": family(k)} for k, v in ops],
            "peak_rss_mb": peak_rss_mb()}


def mindspore_op_ms(run):
    """``run()`` under MindSpore's profiler -> ``({op type: total ms}, wall seconds of run)``."""
    from mindspore.profiler import Profiler
    out_dir = tempfile.mkdtemp(prefix="ms-prof-")
    try:
        prof = Profiler(output_path=out_dir)
        t = time.time()
        run()
        wall = time.time() - t
        prof.stop()
        prof.analyse()
        files = glob.glob(os.path.join(out_dir, "**", "cpu_op_type_info_*.csv"), recursive=True)
        if not files:
            raise SystemExit(f"MindSpore's profiler wrote no cpu_op_type_info csv under {out_dir}")
        op_ms = {}
        with open(files[0]) as f:
            for row in csv.DictReader(f):
                op_ms[row["op_type"]] = op_ms.get(row["op_type"], 0.0) + float(row["total_compute_time"])
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return op_ms, wall


def profile_cost_ms(d, lengths, warm, steps, top):
    rss = {"start": rss_mb()}
    from mindspore import Tensor, nn

    from cost_ms.engine import make_train_step
    from cost_ms.generator.transformer import Seq2SeqWithLoss
    from cost_ms.runtime import init_runtime
    init_runtime("CPU", "graph", d.cfg.run.seed)
    rss["imported"] = rss_mb()
    net, _, _ = cost_ms_net(d)
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=d.gc.lr, weight_decay=d.gc.weight_decay)
    step = make_train_step(Seq2SeqWithLoss(net), opt, jit=True, mean_outputs=2)
    net.set_train(True)
    batches = [[Tensor(a) for a in d.batch(i, lengths)] for i in range(warm + steps)]
    rss["built"] = rss_mb()
    for b in batches[:warm]:
        step(*b)[0].asnumpy()
        rss.setdefault("after_first_step", rss_mb())
    rss["after_warm"] = rss_mb()
    def run():
        for b in batches[warm:]:
            loss = step(*b)[0]
        loss.asnumpy()
    op_ms, wall = mindspore_op_ms(run)
    return {**summarise(op_ms, steps, wall, top), "rss_mb": rss}


def profile_torch(d, lengths, warm, steps, top):
    rss = {"start": rss_mb()}
    import torch
    from torch.profiler import ProfilerActivity, profile

    from torch_twin import create_twin
    rss["imported"] = rss_mb()
    torch.manual_seed(d.cfg.run.seed)
    run = torch_trainer(d, create_twin(d.gc, d.vocab_size, d.src_len, d.length))
    rss["built"] = rss_mb()
    for i in range(warm):
        run(i)
        rss.setdefault("after_first_step", rss_mb())
    rss["after_warm"] = rss_mb()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.time()
        for i in range(warm, warm + steps):
            loss = run(i)
        float(loss)
        wall = time.time() - t
    op_ms = {}
    for ev in prof.key_averages():
        if ev.key.startswith("aten::") or ev.key.startswith("Optimizer"):
            op_ms[ev.key] = op_ms.get(ev.key, 0.0) + ev.self_cpu_time_total / 1000.0
    return {**summarise(op_ms, steps, wall, top), "rss_mb": rss}


def print_side_by_side(res):
    fams = sorted({f for r in res.values() for f in r["families"]},
                  key=lambda f: -res["cost_ms"]["families"].get(f, {"ms": 0})["ms"])
    print(f"{'family':<24}{'cost_ms ms/step':>16}{'share':>8}{'torch ms/step':>15}{'share':>8}")
    for f in fams:
        a, b = (res[k]["families"].get(f, {"ms": 0.0, "share": 0.0}) for k in ("cost_ms", "torch"))
        print(f"{f:<24}{a['ms']:>16.1f}{a['share']:>8.1%}{b['ms']:>15.1f}{b['share']:>8.1%}")
    for k in ("cost_ms", "torch"):
        r = res[k]
        print(f"\n{k}: wall {r['wall_ms_per_step']:.0f} ms/step (profiled), ops {r['op_ms_per_step']:.0f} ms/step, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB; RSS by phase "
              + ", ".join(f"{p} {v:.0f}" for p, v in r["rss_mb"].items()) + "; top ops:")
        for o in r["top_ops"]:
            print(f"  {o['op']:<40}{o['ms']:>9.1f} ms{o['share']:>8.1%}  {o['family']}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="wide384", choices=list(CONFIGS))
    p.add_argument("--lengths", default="full", choices=("full", "data"))
    p.add_argument("--steps", type=int, default=4, help="profiled steps per implementation")
    p.add_argument("--warm", type=int, default=2, help="untimed steps first (MindSpore compiles here)")
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "profile_step.json"))
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.variant:                                   # a child: one profile, one JSON line
        d = Data(a.data)
        fn = {"cost_ms": profile_cost_ms, "torch": profile_torch}[a.variant]
        print(json.dumps(fn(d, a.lengths, a.warm, a.steps, a.top)))
        return
    os.chdir(ROOT)
    check_folders(a.config)
    with prepared(a.config, a.warm + a.steps, 1) as data:
        res = {}
        for impl in ("cost_ms", "torch"):
            print(f"profiling {impl} ({a.config}, {a.lengths})", file=sys.stderr, flush=True)
            res[impl] = child(__file__, impl, "--data", data, "--steps", str(a.steps), "--warm", str(a.warm),
                              "--top", str(a.top), "--lengths", a.lengths)
    print_side_by_side(res)
    write_json(a.out, {"config": a.config, "lengths": a.lengths, "steps": a.steps, "warm": a.warm,
                       "machine": machine(), **res})


if __name__ == "__main__":
    sys.exit(main())
