"""Leave-one-out splits with the history each split is scored from, and the most-popular floor on them."""
import numpy as np

from ..metrics import popularity_metrics


class Splits:
    """``prep``'s splits: validation is scored from the training part, test also sees the validation item."""

    def __init__(self, prep):
        self.prep = prep
        self.train_seqs, self.valid, self.test = prep.split()

    def histories(self, split):
        """``(histories, targets)`` of ``split`` (``"valid"`` or ``"test"``)."""
        if split == "valid":
            return self.train_seqs, self.valid
        return {u: s + [self.valid[u]] for u, s in self.train_seqs.items()}, self.test


def most_popular_metrics(splits, ks):
    """Most-popular Recall/NDCG@ks on both splits, ranked by popularity in each split's histories."""
    out = {}
    for split in ("valid", "test"):
        hist, targets = splits.histories(split)
        out[split] = popularity_metrics(hist, np.array([targets[u] for u in targets]), ks)
    return out
