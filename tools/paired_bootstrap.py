#!/usr/bin/env python
"""Paired bootstrap over test users: is run A better than run B, beyond resampling noise?

Reads the per-user target ranks that ``evaluate`` (and ``train``) write beside ``metrics.json``
(``ranks-history-excluded.json`` / ``ranks-raw.json``), so nothing is decoded again. Both runs must have scored
the same users. For each metric, the per-user differences A - B are resampled with replacement over users
(``--resamples`` times, seeded); the table gives the mean difference and its 95% percentile interval, and whether
the interval excludes 0.

    python tools/paired_bootstrap.py RUN_A RUN_B [--protocol history-excluded|raw] [--split test]
                                     [--metrics recall@10 ndcg@10] [--resamples 1000] [--seed 0] [--out FILE]

RUN_A / RUN_B: generator run folders (``runs/<dataset>/generator-<tag>``).
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cost_ms.data.splits import ranks_file  # noqa: E402
from cost_ms.errors import CostError, report  # noqa: E402
from cost_ms.metrics import per_user  # noqa: E402


def load_ranks(run, protocol, split):
    path = ranks_file(run, protocol == "history-excluded")
    if not os.path.isfile(path):
        raise CostError(f"no {path}: evaluate the run under this protocol first (python -m cost_ms evaluate ...)")
    with open(path) as f:
        data = json.load(f)
    if split not in data:
        raise CostError(f"{path} has no '{split}' split")
    return data[split]["users"], np.asarray(data[split]["rank"], np.int64)


def paired_bootstrap(rank_a, rank_b, metric, resamples=1000, seed=0):
    """``rank_a, rank_b [U]`` target ranks of the same users -> mean difference A - B of ``metric``
    (``recall@k`` or ``ndcg@k``) and its 95% percentile interval over ``resamples`` user resamples."""
    name, _, k = metric.partition("@")
    if name not in ("recall", "ndcg") or not k.isdigit():
        raise CostError(f"metric must be recall@k or ndcg@k, got '{metric}'")
    pick = 0 if name == "recall" else 1
    diff = per_user(rank_a, int(k))[pick] - per_user(rank_b, int(k))[pick]
    rng = np.random.default_rng(seed)
    means = np.array([diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(resamples)])
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"metric": metric, "a": float(per_user(rank_a, int(k))[pick].mean()),
            "b": float(per_user(rank_b, int(k))[pick].mean()), "diff": float(diff.mean()),
            "ci95": [float(lo), float(hi)], "excludes_0": bool(lo > 0 or hi < 0)}


def compare(run_a, run_b, protocol="history-excluded", split="test", metrics=("recall@10", "ndcg@10"),
            resamples=1000, seed=0):
    users_a, rank_a = load_ranks(run_a, protocol, split)
    users_b, rank_b = load_ranks(run_b, protocol, split)
    if users_a != users_b:
        raise CostError(f"the two runs scored different users on '{split}' ({len(users_a)} and {len(users_b)}): "
                        f"a paired comparison needs the same ones")
    return {"a": run_a, "b": run_b, "protocol": protocol, "split": split, "users": len(users_a),
            "resamples": resamples, "seed": seed,
            "rows": [paired_bootstrap(rank_a, rank_b, m, resamples, seed) for m in metrics]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--protocol", choices=["history-excluded", "raw"], default="history-excluded")
    p.add_argument("--split", choices=["valid", "test"], default="test")
    p.add_argument("--metrics", nargs="+", default=["recall@10", "ndcg@10"])
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the result as JSON here")
    a = p.parse_args(argv)

    def run():
        res = compare(a.run_a, a.run_b, a.protocol, a.split, a.metrics, a.resamples, a.seed)
        print(f"A = {a.run_a}\nB = {a.run_b}\n{res['users']} {a.split} users, protocol {a.protocol}, "
              f"{a.resamples} resamples (seed {a.seed})")
        print(f"{'metric':<12} {'A':>8} {'B':>8} {'A - B':>9}   95% interval          excludes 0")
        for r in res["rows"]:
            print(f"{r['metric']:<12} {r['a']:8.4f} {r['b']:8.4f} {r['diff']:+9.4f}   "
                  f"[{r['ci95'][0]:+.4f}, {r['ci95'][1]:+.4f}]   {'yes' if r['excludes_0'] else 'no'}")
        if a.out:
            from cost_ms.io import write_json
            write_json(a.out, res)
    return report(run)


if __name__ == "__main__":
    sys.exit(main())
