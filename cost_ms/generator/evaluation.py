"""Recall/NDCG of a generator by trie-constrained beam search, and the metrics table.

One :class:`Evaluator` per training run: its beam searcher (and so its compiled graphs) is built once and
reused by every validation; the final evaluation (``run_evaluate``) builds its own after loading ``best.ckpt``.

``exclude_history`` (``eval.exclude_history``): the beam search never returns an item of the user's whole
history before the target (:meth:`~cost_ms.data.splits.Splits.histories`), however long; ``False`` is the raw
protocol, where it may.
"""
from ..data.splits import protocol_line
from ..engine.validation import sharded_metrics
from .beam_search import BeamSearcher


class Evaluator:
    def __init__(self, inputs, net, exclude_history=None):
        gc = inputs.gc
        self.inputs = inputs
        self.exclude_history = inputs.cfg.eval.exclude_history if exclude_history is None else exclude_history
        self.searcher = BeamSearcher(net, inputs.vocab, inputs.index, gc.beam_size, gc.eval_batch_size,
                                     inputs.src_widths, arch=inputs.arch)

    def evaluate(self, split, ks, max_users=0, seed=0, with_ranks=False):
        """Recall/NDCG@ks on ``split`` (with ``with_ranks``, also ``(users, rank)``: each user's target rank, -1
        outside the beam); data parallel: each worker decodes its share of the users."""
        hist, targets = self.inputs.histories(split)
        return sharded_metrics(hist, targets, ks, lambda users: self._top_items(hist, targets, users), max_users,
                               seed, with_ranks)

    def top_items(self, split, users):
        """``[U, beam]`` items the beam search ranks for ``users`` of ``split`` (-1 past the last item left)."""
        return self._top_items(*self.inputs.histories(split), users)

    def _top_items(self, hist, targets, users):
        _, src, _ = self.inputs.builder.evaluation({u: hist[u] for u in users}, targets)
        return self.searcher.search(src, [hist[u] for u in users] if self.exclude_history else None)[0]

    def recommend(self, items, k, user=None, exclude_history=None):
        """Top-k ``(item index, score)`` for one history of item indices, oldest first.

        With history exclusion, fewer than ``k`` pairs come back when fewer than ``k`` items lie outside the
        history (the caller says so)."""
        exclude = self.exclude_history if exclude_history is None else exclude_history
        _, src, _ = self.inputs.builder.evaluation({user or "_": list(items)}, {user or "_": 0})
        top, scores = self.searcher.search(src, [list(items)] if exclude else None)
        return [(int(i), float(s)) for i, s in zip(top[0][:k], scores[0][:k]) if i >= 0]


def format_table(metrics, ks):
    head = "split        " + " ".join(f"{m}@{k:<3}" for k in ks for m in ("R", "N"))
    rows = [protocol_line(metrics), head]
    for name, m in (("valid", metrics["valid"]), ("test", metrics["test"]),
                    ("pop-valid", metrics["most_popular"]["valid"]), ("pop-test", metrics["most_popular"]["test"])):
        rows.append(f"{name:<12} " + " ".join(f"{m[f'recall@{k}']:.4f} {m[f'ndcg@{k}']:.4f}" for k in ks))
    return "\n".join(rows)
