"""Recall/NDCG of a generator by trie-constrained beam search, and the metrics table.

One :class:`Evaluator` per training run: its beam searcher (and so its compiled graphs) is built once and
reused by every validation; the final evaluation (``run_evaluate``) builds its own after loading ``best.ckpt``.
"""
from ..engine.validation import sharded_metrics
from .beam_search import BeamSearcher


class Evaluator:
    def __init__(self, inputs, net):
        gc = inputs.gc
        self.inputs = inputs
        self.searcher = BeamSearcher(net, inputs.vocab, inputs.index, gc["beam_size"], gc["eval_batch_size"],
                                     inputs.src_widths)

    def evaluate(self, split, ks, max_users=0, seed=0):
        """Recall/NDCG@ks on ``split``; data parallel: each worker decodes its share of the users."""
        hist, targets = self.inputs.histories(split)

        def top_items(users):
            _, src, _ = self.inputs.builder.evaluation({u: hist[u] for u in users}, targets)
            return self.searcher.search(src)[0]
        return sharded_metrics(hist, targets, ks, top_items, max_users, seed)

    def recommend(self, items, k, user=None):
        """Top-k ``(item index, score)`` for one history of item indices, oldest first."""
        _, src, _ = self.inputs.builder.evaluation({user or "_": list(items)}, {user or "_": 0})
        top, scores = self.searcher.search(src)
        return [(int(i), float(s)) for i, s in zip(top[0][:k], scores[0][:k]) if i >= 0]


def format_table(metrics, ks):
    head = "split        " + " ".join(f"{m}@{k:<3}" for k in ks for m in ("R", "N"))
    rows = [head]
    for name, m in (("valid", metrics["valid"]), ("test", metrics["test"]),
                    ("pop-valid", metrics["most_popular"]["valid"]), ("pop-test", metrics["most_popular"]["test"])):
        rows.append(f"{name:<12} " + " ".join(f"{m[f'recall@{k}']:.4f} {m[f'ndcg@{k}']:.4f}" for k in ks))
    return "\n".join(rows)
