"""How many encoder tokens each choice of ``generator.length_buckets`` feeds, on the real training samples.

For each data set, the generator's own training samples (``GeneratorInputs``) and its own batch plan
(``bucket_batches``, one epoch, the run's seed) give, per bucket set: the encoder tokens an epoch pays
for (each batch is cropped to its bucket), against the tokens the histories really hold and against
padding every batch to ``max_history``; the mean padded history; how many distinct batch shapes there
are (MindSpore compiles one training graph per shape: ``compile_s`` in benchmarks/results/twin.json says
what one costs); and the samples an epoch drops (only the last bucket drops its remainder)::

    python benchmarks/length_buckets.py [--data office beauty] [--sets "5,10" "2,3,4,6,8,11,15" ...]

Counts only: no training is timed here. A step's time is close to linear in encoder tokens only while the
encoder dominates; benchmarks/twin.py times the ``data`` plan against ``full``. Writes
``benchmarks/results/length_buckets.json``.
"""
import argparse
import os
import sys

import numpy as np

from common import ROOT, report

CONFIGS = {"office": "amazon-office-tiger-cpu.yaml", "beauty": "amazon-beauty-tiger-cpu.yaml", "ml-100k": "ml-100k.yaml"}
SETS = ["", "10", "5,10", "4,8,12", "2,3,4,6,8,11,15", "2,3,4,5,6,8,10,13,16"]


def measure(name, sets):
    from cost_ms.config import load_config
    from cost_ms.generator import GeneratorInputs
    from cost_ms.generator.trainer import bucket_batches
    from cost_ms.stages import Stages
    cfg = load_config(os.path.join(ROOT, "configs", CONFIGS[name]), [])
    st = Stages(cfg)
    prep = st.prepared()
    inputs = GeneratorInputs(cfg, prep, st.semantic_ids(prep))
    gc = cfg.generator
    src, _ = inputs.builder.training(inputs.train_seqs)
    per_item = inputs.vocab.length
    hist = (src != 0).sum(1) // per_item
    rows = []
    for spec in sets:
        given = [int(x) for x in spec.split(",") if x]
        buckets = sorted({b for b in given if b < gc.max_history} | {gc.max_history})
        plan = bucket_batches(hist, buckets, gc.batch_size, np.random.default_rng([cfg.run.seed, 0]))
        used = np.concatenate([idx for _, idx in plan])
        padded = sum(size * len(idx) for size, idx in plan) * per_item
        full = len(used) * gc.max_history * per_item
        true = int(hist[used].sum()) * per_item
        rows.append({"data": name, "buckets": ",".join(map(str, buckets)), "shapes": len({s for s, _ in plan}),
                     "samples": int(len(hist)), "dropped": int(len(hist) - len(used)),
                     "true_items": round(float(hist[used].mean()), 2),
                     "padded_items": round(padded / per_item / len(used), 2),
                     "tokens_vs_full": round(padded / full, 3), "tokens_vs_true": round(padded / true, 3)})
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", nargs="+", default=["office", "beauty"], choices=list(CONFIGS))
    p.add_argument("--sets", nargs="+", default=SETS, help='bucket sets in items, e.g. "5,10"; "" = full only')
    a = p.parse_args()
    os.chdir(ROOT)
    rows = [r for name in a.data for r in measure(name, a.sets)]
    report("length_buckets", rows, ["data", "buckets", "shapes", "samples", "dropped", "true_items",
                                    "padded_items", "tokens_vs_full", "tokens_vs_true"])


if __name__ == "__main__":
    sys.exit(main())
