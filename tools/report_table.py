#!/usr/bin/env python
"""Markdown tables from run folders, so quoted numbers come straight from the files.

    python tools/report_table.py tokenizers runs/amazon-office
    python tools/report_table.py metrics runs/amazon-office                         # both protocols
    python tools/report_table.py seeds runs/amazon-office runs/amazon-office-s7     # same runs, other seeds
    python tools/report_table.py views runs/amazon-office                           # SimCIT's per-view fields
"""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cost_ms.config import load_saved  # noqa: E402
from cost_ms.errors import report  # noqa: E402


def _load(path):
    with open(path) as f:
        return json.load(f)


def tokenizers(root):
    rows = ["| tokenizer | lr | epochs | collision rate | largest group | unique tuples | usage L1/L2/L3 "
            "| perplexity L1/L2/L3 | kNN same c1 (chance) | kNN same c1c2 (chance) |", "|" + "---|" * 10]
    for folder in sorted(glob.glob(os.path.join(root, "tokenize-*"))):
        if not os.path.isfile(os.path.join(folder, "meta.json")):   # unfinished
            continue
        r = _load(os.path.join(folder, "tokenizer_report.json"))
        m = _load(os.path.join(folder, "meta.json"))
        tc = load_saved(os.path.join(folder, "config.yaml"), "tokenize").tokenizer
        cb = r["codebooks"]
        nb = r["neighbourhood"]
        usage = "/".join(f"{c['usage']:.2f}" for c in cb)
        perp = "/".join(f"{c['perplexity']:.1f}" for c in cb)
        rows.append(f"| {m['tokenizer']} | {tc.lr if m['tokenizer'] != 'random' else '-'} | {m['epochs']} "
                    f"| {r['collision_rate']:.3f} | {r['largest_collision_group']} | {r['unique_tuples']} "
                    f"| {usage} | {perp} "
                    f"| {nb['share_same_c1']:.3f} ({nb['chance_same_c1']:.3f}) "
                    f"| {nb['share_same_c1c2']:.3f} ({nb['chance_same_c1c2']:.3f}) |")
    return "\n".join(rows)


def _steps(folder):
    """Optimizer steps the generator took: the newest checkpoint's global step ('?' for older layouts)."""
    states = sorted(glob.glob(os.path.join(folder, "ckpt", "step-*.json")))
    return _load(states[-1]).get("global_step", "?") if states else "?"


PROTOCOLS = (("history-excluded", True), ("raw", False))


def _protocol_metrics(folder, exclude):
    """The folder's figures under one protocol: its protocol-named file, else metrics.json when that is the one
    (metrics written before the switch existed are the raw protocol)."""
    name = dict((e, n) for n, e in PROTOCOLS)[exclude]
    p = os.path.join(folder, f"metrics-{name}.json")
    if os.path.isfile(p):
        return _load(p)
    p = os.path.join(folder, "metrics.json")
    if os.path.isfile(p):
        m = _load(p)
        if m.get("exclude_history", False) == exclude:
            return m
    return None


def metrics(root, split="test"):
    """One row per model and protocol found (history excluded first, then raw), most-popular under each."""
    ks = (5, 10, 20, 40)
    head = "| model | protocol | " + " | ".join(f"R@{k} | N@{k}" for k in ks) + " | epochs | steps | train s |"
    rows = [head, "|" + "---|" * (3 + 2 * len(ks) + 2)]
    for label, exclude in PROTOCOLS:
        pop = None
        for folder in sorted(glob.glob(os.path.join(root, "generator-*"))):
            m = _protocol_metrics(folder, exclude)
            if m is None:
                continue
            pop = m["most_popular"][split]
            rows.append(f"| TIGER + {m['tokenizer']} | {label} | " + " | ".join(
                f"{m[split][f'recall@{k}']:.4f} | {m[split][f'ndcg@{k}']:.4f}" for k in ks)
                + f" | {m['epochs']} (best {m['best_epoch']}) | {_steps(folder)} | {m['train_seconds']:.0f} |")
        for folder in sorted(glob.glob(os.path.join(root, "baseline-sasrec"))):
            m = _protocol_metrics(folder, exclude)
            if m is None:
                continue
            pop = pop or m["most_popular"][split]
            rows.append(f"| SASRec (full-softmax CE) | {label} | " + " | ".join(
                f"{m[split].get(f'recall@{k}', float('nan')):.4f} | {m[split].get(f'ndcg@{k}', float('nan')):.4f}"
                for k in ks) + f" | {m['epochs']} (best {m['best_epoch']}) | {m['global_steps']} "
                f"| {m['train_seconds']:.0f} |")
        if pop:
            rows.append(f"| most popular | {label} | " + " | ".join(f"{pop[f'recall@{k}']:.4f} | {pop[f'ndcg@{k}']:.4f}"
                                                                  for k in ks) + " | - | - | - |")
    return "\n".join(rows)


def seeds(*roots, split="test"):
    """Each generator tag found under every root, per protocol: test metrics per root, their mean and spread
    (max - min). A protocol appears only where every root has its figures, so seeds are never mixed across
    protocols."""
    rows = ["| tokenizer | protocol | seeds | steps | " + " | ".join(
        f"{m}@{k} per seed | mean | spread" for m, k in (("R", 10), ("N", 10), ("R", 5))) + " |", "|" + "---|" * 13]
    seed_list = "/".join(str(_seed(r)) for r in roots)
    for label, exclude in PROTOCOLS:
        found = [{os.path.basename(f): m for f in glob.glob(os.path.join(r, "generator-*"))
                  if (m := _protocol_metrics(f, exclude)) is not None} for r in roots]
        for tag in sorted(set.intersection(*[set(f) for f in found])) if found else []:
            ms = [f[tag] for f in found]
            cells = []
            for name in ("recall@10", "ndcg@10", "recall@5"):
                v = [m[split][name] for m in ms]
                cells += [" / ".join(f"{x:.4f}" for x in v), f"{sum(v) / len(v):.4f}", f"{max(v) - min(v):.4f}"]
            rows.append(f"| {ms[0]['tokenizer']} | {label} | {seed_list} | {ms[0]['global_steps']} | "
                        + " | ".join(cells) + " |")
    return "\n".join(rows)


def _seed(root):
    for f in sorted(glob.glob(os.path.join(root, "generator-*", "config.yaml"))):
        return load_saved(f).run.seed
    return "?"


def views(root):
    rows = ["| tokenizer | view | fusion weight (mean over items) | align loss (last interval) |", "|---|---|---|---|"]
    for folder in sorted(glob.glob(os.path.join(root, "tokenize-*"))):
        p = os.path.join(folder, "tokenizer_report.json")
        if not os.path.isfile(os.path.join(folder, "meta.json")) or "views" not in _load(p):
            continue
        name = _load(os.path.join(folder, "meta.json"))["tokenizer"]
        for view, v in _load(p)["views"].items():
            rows.append(f"| {name} | {view} | {v['fusion_weight']:.3f} | {v['align_loss']:.3f} |")
    return "\n".join(rows)


TABLES = {"tokenizers": tokenizers, "metrics": metrics, "seeds": seeds, "views": views}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in TABLES:
        sys.exit(f"usage: python tools/report_table.py {{{'|'.join(TABLES)}}} RUN_ROOT [RUN_ROOT ...]")
    missing = [r for r in sys.argv[2:] if not os.path.isdir(r)]
    if missing:
        sys.exit(f"error: no run folder {missing[0]}")
    raise SystemExit(report(lambda: print(TABLES[sys.argv[1]](*sys.argv[2:]))))
