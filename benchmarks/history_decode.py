"""History-aware beam search against the raw search: latency per user and what exclusion changes, per run.

For each trained generator folder, the test users' histories are decoded with the run's beam (40 in the CPU
configs) twice per repeat, alternating: raw (``BeamSearcher.search(src)``) and history-aware (``search(src,
histories)``, the trie pruned per user). Reported: ms per user (min over repeats, after one untimed pass that
compiles), their ratio, the share of the raw top-10 that is already in the user's history, and test R@10 / N@10
of the raw lists, the raw beam lists post-filtered (history items dropped, the rest moved up) and the
history-aware search, on the same users.

::

    python benchmarks/history_decode.py runs/ml-100k/generator-minilm-rqvae-co [RUN ...] [--users 0] [--repeats 3]

Writes ``benchmarks/results/history_decode.json``. ``--users 0`` = every test user.
"""
import argparse
import os
import time

import numpy as np

from common import report


def _post_filter(items, hist, k):
    out = np.full((len(items), k), -1, np.int64)
    for r, (row, h) in enumerate(zip(items, hist)):
        keep = row[(row >= 0) & ~np.isin(row, np.asarray(h, np.int64))][:k]
        out[r, :len(keep)] = keep
    return out


def measure(run_dir, users, repeats):
    from cost_ms.generator.recommend import Recommender
    from cost_ms.metrics import recall_ndcg
    rec = Recommender(run_dir)
    inputs, searcher = rec.inputs, rec.searcher
    hist, targets = inputs.histories("test")
    names = sorted(hist)[:users] if users else sorted(hist)
    _, src, target = inputs.builder.evaluation({u: hist[u] for u in names}, targets)
    h = [hist[u] for u in names]
    raw, _ = searcher.search(src)                      # compiles every graph this run's widths need
    new, _ = searcher.search(src, h)
    times = {"raw": [], "excluded": []}
    for _ in range(repeats):
        for name, args in (("raw", ()), ("excluded", (h,))):
            t = time.perf_counter()
            searcher.search(src, *args)
            times[name].append(time.perf_counter() - t)
    ms = {k: 1000 * min(v) / len(names) for k, v in times.items()}
    m_raw, m_new = recall_ndcg(raw, target, (10,)), recall_ndcg(new, target, (10,))
    m_post = recall_ndcg(_post_filter(raw, h, 10), target, (10,))
    in_hist = np.mean([np.isin(row[:10], hi).mean() for row, hi in zip(raw, h)])
    short = int(sum((_post_filter(raw, h, 10) < 0).any(1)))
    return {"run": os.path.relpath(run_dir), "users": len(names), "beam": searcher.beam,
            "ms_user_raw": round(ms["raw"], 2), "ms_user_excluded": round(ms["excluded"], 2),
            "ratio": round(ms["excluded"] / ms["raw"], 3), "raw_top10_in_history": round(float(in_hist), 4),
            "R@10_raw": round(m_raw["recall@10"], 4), "R@10_postfilter": round(m_post["recall@10"], 4),
            "R@10_excluded": round(m_new["recall@10"], 4), "N@10_raw": round(m_raw["ndcg@10"], 4),
            "N@10_postfilter": round(m_post["ndcg@10"], 4), "N@10_excluded": round(m_new["ndcg@10"], 4),
            "postfilter_users_short_of_10": short}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="trained generator folders")
    p.add_argument("--users", type=int, default=0, help="first N test users (0 = all)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--name", default="history_decode")
    a = p.parse_args()
    rows = [measure(r, a.users, a.repeats) for r in a.runs]
    report(a.name, rows, list(rows[0]), {"repeats": a.repeats})


if __name__ == "__main__":
    main()
