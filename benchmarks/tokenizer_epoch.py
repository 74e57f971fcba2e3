"""Tokenizer epoch time on Amazon Beauty: this code against an older commit's, same machine, one run.

The speed issue asked for the RQ-VAE/CoST tokenizer's epoch on Beauty to be at least 1.5x faster than the
code that read its four losses and its codes back to the host after every step. This runs, each in its own
process and alternating when ``--repeats`` > 1:

* ``ref``: ``train_rqvae`` from ``--ref`` (default 6c3a5bf, the last commit before the engine loop, which
  reads back every step), extracted with ``git archive`` into a temporary folder;
* ``current``: this tree's ``train_rqvae`` with its default ``log_every=50`` (reads once per interval);
* ``current-log1``: this tree with ``log_every=1``, i.e. today's loop forced to read back every step;
* ``current-threads1``: this tree with MindSpore's CPU kernel threads set to 1 (``run.tokenizer_cpu_threads``,
  ``cost_ms.runtime.set_cpu_threads``; MindSpore's default is 25).

Every variant trains the same settings (``configs/amazon-beauty-cpu.yaml``'s tokenizer: paper settings, centred
MiniLM embeddings, batch 256, 47 steps per epoch) on the same matrix. Epoch 1 (graph compilation, k-means)
is left out of the median.

    python -m cost_ms embed configs/amazon-beauty-cpu.yaml       # once: runs/amazon-beauty/embed-minilm
    python benchmarks/tokenizer_epoch.py [--epochs 8] [--repeats 2] [--loss co] [--ref 6c3a5bf] [--variants ...]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from common import ROOT, child, peak_rss_mb, report

EMB = os.path.join(ROOT, "runs", "amazon-beauty", "embed-minilm", "item_emb.npy")
CFG = os.path.join(ROOT, "configs", "amazon-beauty-cpu.yaml")


def run_variant(variant, tc_path, tree):
    """``tc_path``: the tokenizer settings as JSON, resolved once by the parent with this tree's config loader
    (an older tree's loader may not read today's configs)."""
    if tree:
        sys.path.insert(0, tree)                       # the older commit's cost_ms shadows this tree's
    import json

    import numpy as np

    import cost_ms
    from cost_ms.runtime import init_runtime
    from cost_ms.tokenizer.trainer import train_rqvae
    assert os.path.dirname(os.path.abspath(cost_ms.__file__)).startswith(tree or ROOT), cost_ms.__file__
    with open(tc_path) as f:
        settings = json.load(f)        # the tokenizer section as a dict: what an older tree's trainer takes
    batch_size = settings["batch_size"]
    tc = settings
    if not tree:
        from cost_ms.config import load_config
        tc = load_config(CFG).tokenizer.replace(**settings)
    emb = np.load(EMB).astype(np.float32)
    emb = emb - emb.mean(0, keepdims=True)             # center_inputs, applied before train_rqvae in both codes
    if variant == "current-threads1":
        init_runtime("CPU", "graph", 0, cpu_threads=1)
    else:                                              # an older tree's init_runtime has no cpu_threads
        init_runtime("CPU", "graph", 0)
    kw = {"log_every": 1} if variant == "current-log1" else {}
    with tempfile.TemporaryDirectory() as tmp:
        _, hist = train_rqvae(tc, emb, tmp, 2024, progress=False, **kw)
    steps = len(emb) // batch_size
    secs = [h["seconds"] for h in hist[1:]]
    med = statistics.median(secs)
    return {"variant": variant, "epoch_s_median": med, "ms_per_step": 1000 * med / steps,
            "first_epoch_s": hist[0]["seconds"], "final_loss": hist[-1]["loss"], "peak_rss_mb": peak_rss_mb()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant")
    p.add_argument("--tree", default="")
    p.add_argument("--tc", help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--loss", default="co")
    p.add_argument("--ref", default="6c3a5bf")
    p.add_argument("--variants", default="ref,current,current-log1,current-threads1",
                   help="comma-separated; the speed-up column is against the first")
    p.add_argument("--name", default="tokenizer_epoch", help="writes benchmarks/results/NAME.json")
    a = p.parse_args()
    if a.variant:
        print(json.dumps(run_variant(a.variant, a.tc, a.tree)))
        return
    if not os.path.isfile(EMB):
        raise SystemExit(f"no {EMB}: run `python -m cost_ms embed configs/amazon-beauty-cpu.yaml` first")
    from cost_ms.config import load_config
    tc = load_config(CFG).tokenizer.replace(loss=a.loss, epochs=a.epochs, ckpt_every_steps=0)
    with tempfile.TemporaryDirectory() as work:
        tree, tc_path = os.path.join(work, "ref"), os.path.join(work, "tokenizer.json")
        os.makedirs(tree)
        with open(tc_path, "w") as f:
            json.dump(tc.to_dict(), f)
        archive = subprocess.run(["git", "archive", a.ref, "cost_ms"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        runs = {v: [] for v in a.variants.split(",")}
        for _ in range(a.repeats):
            for v in runs:
                extra = ["--tree", tree] if v == "ref" else []
                runs[v].append(child(__file__, v, "--tc", tc_path, *extra))
    rows = []
    for v, rs in runs.items():
        row = min(rs, key=lambda r: r["epoch_s_median"])
        row["epoch_s_all"] = [round(r["epoch_s_median"], 3) for r in rs]
        rows.append(row)
    first = rows[0]["epoch_s_median"]
    for r in rows:
        r["speedup_vs_first"] = first / r["epoch_s_median"]
    report(a.name, rows, ["variant", "epoch_s_median", "ms_per_step", "speedup_vs_first", "epoch_s_all",
                                     "first_epoch_s", "final_loss", "peak_rss_mb"],
           {"dataset": "amazon-beauty", "loss": a.loss, "epochs": a.epochs, "repeats": a.repeats, "ref": a.ref,
            "device": "CPU"})


if __name__ == "__main__":
    sys.exit(main())
