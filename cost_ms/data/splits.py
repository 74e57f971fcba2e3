"""Leave-one-out splits with the history each split is scored from, and the most-popular floor on them.

The evaluation protocol (``eval.exclude_history``) is defined here for every model: with it on, no item of
the user's history before the target (every training item for validation; every training item and the
validation item for test, whatever window a model reads) may be recommended; off (the raw protocol), any
item may. A target that occurs in its own history cannot be hit with it on: :meth:`Splits.repeat_targets`
counts them and :func:`warn_unreachable` says how many.
"""
import logging
import os

import numpy as np

from ..metrics import popularity_metrics

log = logging.getLogger("cost_ms.eval")


def protocol_name(exclude_history):
    return "history excluded" if exclude_history else "raw (history items may be recommended)"


def protocol_fields(exclude_history, best_chosen_with=None):
    """What ``metrics.json`` says about its protocol; ``best_chosen_with``: the protocol validation used during
    training to pick ``best.ckpt`` (``None``: not recorded, e.g. a run trained before the switch existed)."""
    return {"exclude_history": bool(exclude_history), "protocol": protocol_name(exclude_history),
            "best_checkpoint_exclude_history": best_chosen_with}


def protocol_key(cfg):
    """What a resumable checkpoint's key holds of the protocol its validation scores used. Empty for the raw
    protocol, which is what every checkpoint made before the switch validated with, so those still resume
    under ``eval.exclude_history: false``; a run validated with history excluded resumes only so."""
    return {"exclude_history": True} if cfg.eval.exclude_history else {}


def protocol_tag(exclude_history):
    """The protocol's name in file names: ``history-excluded`` or ``raw``."""
    return "history-excluded" if exclude_history else "raw"


def metrics_files(folder, exclude_history):
    """``metrics.json`` (the newest evaluation) and its copy named after the protocol, which stays beside the
    other protocol's: ``metrics-history-excluded.json`` or ``metrics-raw.json``."""
    return (os.path.join(folder, "metrics.json"),
            os.path.join(folder, f"metrics-{protocol_tag(exclude_history)}.json"))


def ranks_file(folder, exclude_history):
    """Per-user target ranks of an evaluation under one protocol: ``{split: {"users": [...], "rank": [...]}}``,
    rank 0-based, -1 where the target is not in the returned list."""
    return os.path.join(folder, f"ranks-{protocol_tag(exclude_history)}.json")


def protocol_line(metrics):
    """One line for printed tables: the protocol of these figures and the one that chose the checkpoint."""
    if "exclude_history" not in metrics:
        return "protocol: raw (history items may be recommended); metrics written before the switch existed"
    line = f"protocol: {protocol_name(metrics['exclude_history'])}"
    best = metrics.get("best_checkpoint_exclude_history")
    if best is not None:
        line += f"; best checkpoint chosen on validation with {protocol_name(best)}"
    return line


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

    def repeat_targets(self):
        """``{"valid": n, "test": n}``: targets that occur in their own user's history."""
        out = {}
        for split in ("valid", "test"):
            hist, targets = self.histories(split)
            out[split] = int(sum(targets[u] in hist[u] for u in targets))
        return out


def repeat_targets(prep):
    """``prep.meta["repeat_targets"]`` (written by ``prepare``), or counted now for data prepared before it was."""
    counts = prep.meta.get("repeat_targets")
    return counts if counts is not None else Splits(prep).repeat_targets()


def warn_unreachable(prep, exclude_history):
    """One warning line when history exclusion makes some targets impossible to hit. Returns the counts."""
    counts = repeat_targets(prep)
    if exclude_history and any(counts.values()):
        log.warning("%s: %d valid and %d test target(s) occur in their own history and cannot be recommended with "
                    "eval.exclude_history: true (of %d users); set it to false to score repeats",
                    prep.name, counts["valid"], counts["test"], len(prep.sequences))
    return counts


def most_popular_metrics(splits, ks, exclude_history=False):
    """Most-popular Recall/NDCG@ks on both splits, ranked by popularity in each split's histories.

    With ``exclude_history`` each user gets the most popular items outside their own history."""
    out = {}
    for split in ("valid", "test"):
        hist, targets = splits.histories(split)
        users = list(targets)
        out[split] = popularity_metrics(hist, np.array([targets[u] for u in users]), ks,
                                        [hist[u] for u in users] if exclude_history else None)
    return out
