"""Where beam search's time goes: the searcher's graph calls timed, and one cached decoding step profiled by op.

Uses twin.py's data (cost-ms's own input pipeline on Amazon Office: the first ``--users`` test users) and
cost-ms's network at a twin config (untrained weights: every shape, and so every cost, is static). Two parts:

* **phases**: one untimed pass of ``BeamSearcher.search`` over all users (compilation), then ``--passes``
  timed passes with the searcher's three graph calls wrapped by timers (each result read back, so a call's
  time is its own): the encoder with the cross-attention keys/values (``memory``), the first step (one
  hypothesis per user) and the cached steps (beam hypotheses per user); ``host`` is the rest (NumPy trie
  bookkeeping). ms per user, min over the passes.
* **ops**: one batch of ``eval_batch_size`` users cropped to ``--width`` tokens, the last cached step
  (``t = L - 1``) run ``--calls`` times under ``mindspore.profiler.Profiler``: ms per call by op type and by
  family (the families of profile_step.py).

::

    python benchmarks/profile_decode.py [--config tiger] [--users 256] [--width 40] [--calls 10] [--out PATH]

Writes ``benchmarks/results/profile_decode.json`` (atomically). The profiler's own overhead inflates the op
times a little; take the speed from the phases (and from twin.py).
"""
import argparse
import json
import os
import sys
import time

from common import ROOT, child, machine, peak_rss_mb, write_json
from profile_step import family, mindspore_op_ms
from twin import BEAM, CONFIGS, Data, check_folders, cost_ms_net, prepared


class _Timed:
    """Wraps a graph call: adds its wall time (result read back) to ``totals[name]``."""

    def __init__(self, fn, name, totals):
        self.fn, self.name, self.totals = fn, name, totals

    def __call__(self, *args):
        t = time.perf_counter()
        out = self.fn(*args)
        (out[0] if isinstance(out, tuple) else out).asnumpy()
        self.totals[self.name] = self.totals.get(self.name, 0.0) + time.perf_counter() - t
        return out


def phases(d, net, vocab, index, passes):
    from cost_ms.architectures import ARCHS
    from cost_ms.generator.beam_search import BeamSearcher
    searcher = BeamSearcher(net, vocab, index, BEAM, d.beam_batch, d.src_widths, arch=ARCHS.get("tiger"))
    totals = {}
    for name in ("memory", "first", "step"):
        setattr(searcher, name, _Timed(getattr(searcher, name), name, totals))
    t = time.perf_counter()
    searcher.search(d.eval_src)
    compile_s = time.perf_counter() - t
    runs, u = [], len(d.eval_src)
    for _ in range(passes):
        totals.clear()
        t = time.perf_counter()
        searcher.search(d.eval_src)
        wall = time.perf_counter() - t
        row = {k: 1000 * v / u for k, v in totals.items()}
        row["host"] = 1000 * wall / u - sum(row.values())
        row["total"] = 1000 * wall / u
        runs.append(row)
    best = min(runs, key=lambda r: r["total"])
    return {"ms_per_user": best, "passes": runs, "compile_s": compile_s}


def op_profile(d, net, width, calls):
    import numpy as np
    from mindspore import Tensor, mutable

    from cost_ms.generator.incremental import CrossMemory, DecodeStep
    b = d.beam_batch
    src = Tensor(np.ascontiguousarray(d.eval_src[-b:, -width:]))
    cross = mutable(CrossMemory(net)(src))
    first, step = DecodeStep(net, 1, first=True), DecodeStep(net, BEAM, first=False)
    _, cache = first(Tensor(np.full((b, 1), d.bos, np.int32)), src, cross)
    tok = Tensor(np.full((b * BEAM, 1), d.offsets[1], np.int32))
    parent = Tensor(np.repeat(np.arange(b), BEAM).astype(np.int32))     # t = 1: one cache row per user
    for _ in range(1, d.length - 1):
        _, cache = step(tok, src, cross, mutable(cache), parent)
        parent = Tensor(np.arange(b * BEAM).astype(np.int32))
    args = (tok, src, cross, mutable(cache), parent)
    step(*args)[0].asnumpy()                                             # compiles the last step's graph
    def run():
        for _ in range(calls):
            out = step(*args)
        out[0].asnumpy()
    op_ms, wall = mindspore_op_ms(run)
    op_ms = {k: v / calls for k, v in op_ms.items()}
    fam = {}
    for op, ms in op_ms.items():
        fam[family(op)] = fam.get(family(op), 0.0) + ms
    return {"batch_users": b, "hypotheses": b * BEAM, "width": width, "step_t": d.length - 1,
            "wall_ms_per_call": 1000 * wall / calls, "op_ms_per_call": sum(op_ms.values()),
            "ops": dict(sorted(op_ms.items(), key=lambda kv: -kv[1])),
            "families": dict(sorted(fam.items(), key=lambda kv: -kv[1]))}


def run_child(d, width, calls, passes):
    from cost_ms.runtime import init_runtime
    init_runtime("CPU", "graph", d.cfg.run.seed)
    net, vocab, index = cost_ms_net(d)
    net.set_train(False)
    out = {"phases": phases(d, net, vocab, index, passes), "step_ops": op_profile(d, net, width, calls)}
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def print_result(res):
    ph = res["phases"]["ms_per_user"]
    print("beam-20 ms/user (best of passes): " + ", ".join(f"{k} {v:.2f}" for k, v in ph.items()))
    s = res["step_ops"]
    print(f"\ncached step t={s['step_t']}, {s['hypotheses']} hypotheses, width {s['width']}: "
          f"wall {s['wall_ms_per_call']:.1f} ms/call (profiled), ops {s['op_ms_per_call']:.1f} ms/call")
    print(f"{'op':<22}{'ms/call':>9}{'share':>8}")
    for op, ms in list(s["ops"].items())[:14]:
        print(f"{op:<22}{ms:>9.2f}{ms / s['op_ms_per_call']:>8.1%}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="tiger", choices=list(CONFIGS))
    p.add_argument("--users", type=int, default=256)
    p.add_argument("--width", type=int, default=40, help="source tokens of the profiled batch")
    p.add_argument("--calls", type=int, default=10, help="profiled calls of the last cached step")
    p.add_argument("--passes", type=int, default=3, help="timed search passes over all users")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "profile_decode.json"))
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.variant:                                   # the child: one profile, one JSON line
        print(json.dumps(run_child(Data(a.data), a.width, a.calls, a.passes)))
        return
    os.chdir(ROOT)
    check_folders(a.config)
    with prepared(a.config, 1, a.users) as data:
        res = child(__file__, "cost_ms", "--data", data, "--width", str(a.width), "--calls", str(a.calls),
                    "--passes", str(a.passes))
    print_result(res)
    write_json(a.out, {"config": a.config, "users": a.users, "beam": BEAM, "machine": machine(), **res})


if __name__ == "__main__":
    sys.exit(main())
