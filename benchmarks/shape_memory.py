"""Does a training process's memory settle when its batch shapes alternate, as length buckets make them?

One child process per variant trains the generator (random tokens of the Office vocabulary shape, batch 256) on
batches of 20, 5 and 10 history items in turn, two steps each, for ``--cycles`` cycles, and reads its RSS after
each shape. A process whose memory settles stops growing after the first cycle; one that holds memory per change
of shape keeps growing::

    python benchmarks/shape_memory.py [--config cpu] [--cycles 3] [--variants whole micro8] [--name NAME]

``whole``: the fused one-graph step (``micro_batches=1``); ``microK``: the engine's micro-batch step with K slices.
Prints a table and writes ``benchmarks/results/<name>.json`` (default ``shape_memory_<config>``) atomically.
"""
import argparse
import os
import sys

from common import child, report

SHAPES = (20, 5, 10)   # history items: the Office buckets, in the order a shuffled plan might meet them
CONFIGS = {"cpu": "amazon-office-tiger-cpu.yaml", "tiger": "amazon-office.yaml"}


def run_variant(config, variant, cycles):
    from types import SimpleNamespace

    import numpy as np
    from mindspore import Tensor, nn

    from common import ROOT
    from cost_ms.config import load_config
    from cost_ms.engine import make_train_step
    from cost_ms.generator import build_network
    from cost_ms.generator.transformer import Seq2SeqWithLoss
    from cost_ms.generator.vocab import Vocab
    from cost_ms.runtime import init_runtime
    init_runtime("CPU", "graph", 0)
    cfg = load_config(os.path.join(ROOT, "configs", CONFIGS[config]), ["generator.batch_size=256"])
    vocab = Vocab([64, 64, 64, 8], 0)
    net = build_network(cfg, SimpleNamespace(vocab=vocab, src_len=80))
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=1e-3)
    micro = 1 if variant == "whole" else int(variant[5:])
    step = make_train_step(Seq2SeqWithLoss(net), opt, jit=True, mean_outputs=2, micro_batches=micro)
    net.set_train(True)
    rng = np.random.default_rng(0)

    def rss_mb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS"))
    trace = []
    for _ in range(cycles):
        for items in SHAPES:
            for _ in range(2):
                src = rng.integers(1, vocab.size, size=(256, items * vocab.length)).astype(np.int32)
                dec = rng.integers(1, vocab.size, size=(256, vocab.length)).astype(np.int32)
                float(step(Tensor(src), Tensor(dec), Tensor(dec))[0].asnumpy())
            trace.append(round(rss_mb()))
    per = len(SHAPES)
    return {"variant": variant, "micro_batches": micro, "rss_mb_after_each_shape": trace,
            "rss_end_cycle_1": trace[per - 1], "rss_end": trace[-1],
            "growth_per_later_cycle_mb": (trace[-1] - trace[per - 1]) / max(1, cycles - 1)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="cpu", choices=list(CONFIGS))
    p.add_argument("--cycles", type=int, default=3)
    p.add_argument("--variants", nargs="+", default=["whole", "micro8"])
    p.add_argument("--name")
    p.add_argument("--variant", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.variant:
        import json
        print(json.dumps(run_variant(a.config, a.variant, a.cycles)))
        return
    rows = [child(os.path.abspath(__file__), v, "--config", a.config, "--cycles", str(a.cycles)) for v in a.variants]
    report(a.name or f"shape_memory_{a.config}", rows, ["variant", "micro_batches", "rss_end_cycle_1", "rss_end",
                                                        "growth_per_later_cycle_mb", "rss_mb_after_each_shape"],
           {"config": a.config, "cycles": a.cycles, "shapes": list(SHAPES)})


if __name__ == "__main__":
    sys.exit(main())
