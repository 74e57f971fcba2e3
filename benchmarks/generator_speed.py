"""Generator speed on amazon-office (CPU-sized model from configs/amazon-office-tiger-cpu.yaml).

Training samples/s: one @ms.jit graph step vs PyNative, on full-length (max_history) batches.
Beam search: users/s and per-user latency at beam 20 and 40, and the NumPy brute-force reference
on the same users (its top-20 agreement with beam 40 says how much the beam loses).
Each variant runs in its own process, so peak RSS is its own. Needs the co tokenizer output:

    python -m cost_ms tokenize configs/amazon-office.yaml   # once
    python benchmarks/generator_speed.py [--steps 6] [--users 256]
"""
import argparse
import json
import os
import sys
import time

from common import ROOT, child, peak_rss_mb, report

CFG = os.path.join(ROOT, "configs", "amazon-office-tiger-cpu.yaml")


def setup_all():
    from cost_ms.config import load_config
    from cost_ms.generator import GeneratorInputs, build_network
    from cost_ms.stages import Stages
    cfg = load_config(CFG)
    stages = Stages(cfg)
    prep = stages.prepared()
    inputs = GeneratorInputs(cfg, prep, stages.semantic_ids(prep))
    inputs.net = build_network(cfg, inputs)
    return cfg, inputs


def run_variant(variant, steps, users):
    from mindspore import Tensor, nn

    from cost_ms.runtime import init_runtime
    init_runtime("CPU", "pynative" if variant == "train-pynative" else "graph", 0)
    cfg, s = setup_all()
    if variant.startswith("train"):
        from cost_ms.generator.samples import decoder_io
        from cost_ms.generator.transformer import Seq2SeqWithLoss
        from cost_ms.engine import make_train_step
        src, tgt = s.builder.training(s.train_seqs)
        dec_in, target = decoder_io(s.item_tok[tgt])
        bs = cfg.generator.batch_size
        opt = nn.AdamWeightDecay(s.net.trainable_params(), 1e-3)
        step = make_train_step(Seq2SeqWithLoss(s.net), opt, jit=variant == "train-graph")
        batch = [Tensor(a[:bs]) for a in (src, dec_in, target)]
        step(*batch)[0].asnumpy()                       # compile / warm up
        t = time.time()
        for _ in range(steps):
            loss = step(*batch)[0]
        loss.asnumpy()
        dt = (time.time() - t) / steps
        return {"variant": variant, "samples_per_s": bs / dt, "ms_per_step": 1000 * dt, "peak_rss_mb": peak_rss_mb()}
    hist, targets = s.histories("test")
    keep = sorted(hist)[:users]
    _, src, _ = s.builder.evaluation({u: hist[u] for u in keep}, targets)
    if variant == "brute-force-ref":
        from cost_ms.reference.decoding import brute_force_topk_ref
        n = min(users, 16)                              # it decodes the whole catalogue per user
        t = time.time()
        brute_force_topk_ref(s.net, s.vocab, src[:n], s.item_tok, 20)
        dt = time.time() - t
        return {"variant": variant, "users_per_s": n / dt, "ms_per_user": 1000 * dt / n, "peak_rss_mb": peak_rss_mb()}
    beam = int(variant.split("-")[1])
    from cost_ms.generator.beam_search import BeamSearcher
    searcher = BeamSearcher(s.net, s.vocab, s.index, beam, s.gc.eval_batch_size, s.src_widths, arch=s.arch)
    searcher.search(src)          # compile: one set of graphs per length-bucket width the batches use
    t = time.time()
    items, _ = searcher.search(src)
    dt = time.time() - t
    valid = bool(((items >= 0) & (items < s.prep.num_items)).all() and all(len(set(r)) == len(r) for r in items))
    return {"variant": variant, "users_per_s": len(src) / dt, "ms_per_user": 1000 * dt / len(src),
            "all_valid_distinct": valid, "trie_kb": s.index.nbytes() / 1024, "peak_rss_mb": peak_rss_mb()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--users", type=int, default=256)
    a = p.parse_args()
    if a.variant:
        print(json.dumps(run_variant(a.variant, a.steps, a.users)))
        return
    rows = [child(__file__, v, "--steps", str(a.steps), "--users", str(a.users))
            for v in ("train-graph", "train-pynative", "beam-20", "beam-40", "brute-force-ref")]
    report("generator_speed", rows, ["variant", "samples_per_s", "ms_per_step", "users_per_s", "ms_per_user",
                                     "all_valid_distinct", "trie_kb", "peak_rss_mb"],
           {"dataset": "amazon-office", "config": "configs/amazon-office-tiger-cpu.yaml", "device": "CPU"})


if __name__ == "__main__":
    sys.exit(main())
