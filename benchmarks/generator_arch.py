"""Where a generator epoch's time goes, per architecture (TIGER's encoder-decoder vs the causal generator).

For each ``generator.arch``, each from its own config (``--tiger``, ``--causal``: the CPU configs of one data
set, which must share the tokenize stage), on that data set's real training rows and validation users, in its
own process:

* **training**: the real trainer's length-bucketed batches of epoch 0, one compiled step per bucket warmed up, then
  ``--steps`` timed steps: rows/s and *targets/s* (next items trained per second: one per TIGER row, several per
  causal window), and the epoch's training time at that rate;
* **validation**: trie-constrained beam search (the configured beam) on a seeded sample of ``--users`` validation
  users: users/s, the cost of a validation on ``generator.valid_users`` users and on all users.

Both architectures read the same semantic IDs and users, each at its config's size and batch. Needs the tokenize
stage (e.g. ``python -m cost_ms tokenize configs/amazon-office-cpu.yaml``)::

    python benchmarks/generator_arch.py [--tiger configs/amazon-office-tiger-cpu.yaml]
        [--causal configs/amazon-office-cpu.yaml] [--steps 40] [--users 256] [--set key=value ...]

writes ``benchmarks/results/generator_arch-<data set>.json``.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from common import ROOT, child, peak_rss_mb, report

ARCHS = ("tiger", "causal")


def run_variant(config, arch, steps, users, overrides):
    from mindspore import Tensor, nn

    from cost_ms.config import load_config
    from cost_ms.engine import make_train_step
    from cost_ms.generator import GeneratorInputs, build_network
    from cost_ms.generator.beam_search import BeamSearcher
    from cost_ms.generator.trainer import bucket_batches
    from cost_ms.runtime import init_runtime
    from cost_ms.stages import Stages
    cfg = load_config(config, overrides)
    if cfg.generator.arch != arch:
        raise SystemExit(f"{config} is generator.arch {cfg.generator.arch}, not {arch}")
    gc = cfg.generator
    init_runtime("CPU", "graph", 0, cfg.run.generator_cpu_threads, cfg.run.cpu_host_blocking)
    stages = Stages(cfg)
    prep = stages.prepared()
    inputs = GeneratorInputs(cfg, prep, stages.semantic_ids(prep))
    net = build_network(cfg, inputs)
    arch_obj, length = inputs.arch, inputs.vocab.length
    data = arch_obj.training(inputs.builder, inputs.train_seqs, inputs.vocab)
    batches = bucket_batches(data.history, inputs.buckets, gc.batch_size, np.random.default_rng(0))
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=1e-4)
    step = make_train_step(arch_obj.with_loss(net), opt)
    net.set_train(True)
    seen = set()
    for size, idx in batches:                       # compile every bucket's graph before timing
        if size not in seen:
            seen.add(size)
            step(*(Tensor(a) for a in arch_obj.crop(data.tensors, idx, size, length)))[0].asnumpy()
    timed = [batches[i % len(batches)] for i in range(steps)]
    rows = targets = 0
    t = time.time()
    for size, idx in timed:
        loss = step(*(Tensor(a) for a in arch_obj.crop(data.tensors, idx, size, length)))[0]
        rows += len(idx)
        targets += int(data.row_targets[idx].sum())
    loss.asnumpy()
    train_s = time.time() - t
    targets_per_s = targets / train_s
    hist, tgt = inputs.histories("valid")
    keep = [u for u in sorted(hist)]
    keep = [keep[i] for i in np.random.default_rng(0).choice(len(keep), min(users, len(keep)), replace=False)]
    _, src, _ = inputs.builder.evaluation({u: hist[u] for u in keep}, tgt)
    searcher = BeamSearcher(net, inputs.vocab, inputs.index, gc.beam_size, gc.eval_batch_size,
                            inputs.src_widths, arch=arch_obj)
    exclude = [hist[u] for u in keep] if cfg.eval.exclude_history else None
    searcher.search(src[:gc.eval_batch_size], exclude and exclude[:gc.eval_batch_size])   # compile
    t = time.time()
    searcher.search(src, exclude)
    users_per_s = len(src) / (time.time() - t)
    n_users, sample = len(hist), gc.valid_users or len(hist)
    return {"arch": arch, "rows_per_epoch": len(data.history), "targets_per_epoch": data.targets,
            "steps_per_epoch": len(batches), "ms_per_step": 1000 * train_s / steps, "rows_per_s": rows / train_s,
            "targets_per_s": targets_per_s, "train_s_per_epoch": data.targets / targets_per_s,
            "valid_users_per_s": users_per_s, "valid_sample_users": min(sample, n_users),
            "valid_sample_s": min(sample, n_users) / users_per_s, "valid_all_s": n_users / users_per_s,
            "parameters": int(sum(p.size for p in net.trainable_params())), "peak_rss_mb": peak_rss_mb()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant")
    p.add_argument("--tiger", default=os.path.join(ROOT, "configs", "amazon-office-tiger-cpu.yaml"))
    p.add_argument("--causal", default=os.path.join(ROOT, "configs", "amazon-office-cpu.yaml"))
    p.add_argument("--config", help=argparse.SUPPRESS)       # the child's config
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--users", type=int, default=256)
    p.add_argument("--set", action="append", default=[], help="config override for both architectures")
    a = p.parse_args()
    if a.variant:
        print(json.dumps(run_variant(a.config, a.variant, a.steps, a.users, a.set)))
        return
    extra = [x for s in a.set for x in ("--set", s)]
    configs = {"tiger": a.tiger, "causal": a.causal}
    rows = [child(__file__, arch, "--config", configs[arch], "--steps", str(a.steps), "--users", str(a.users), *extra)
            for arch in ARCHS]
    from cost_ms.config import load_config
    dataset = load_config(a.causal).dataset.name           # one result file per data set
    report(f"generator_arch-{dataset}", rows, ["arch", "rows_per_epoch", "targets_per_epoch", "steps_per_epoch", "ms_per_step",
                                    "targets_per_s", "train_s_per_epoch", "valid_users_per_s", "valid_sample_s",
                                    "valid_all_s", "parameters", "peak_rss_mb"],
           {"configs": {k: os.path.relpath(v, ROOT) for k, v in configs.items()}, "overrides": a.set, "device": "CPU",
            "steps": a.steps, "users": a.users})


if __name__ == "__main__":
    sys.exit(main())
