"""Validation during training, shared by every trainer that early-stops.

:class:`EarlyStoppingHooks` validates every ``eval_every`` epochs (and at the last epoch or when a
budget stops the run), keeps the best weights in ``best.ckpt`` / ``best.json`` and stops after
``patience`` validations without improvement of ``eval.early_stop``. :func:`sharded_metrics` scores
a (seeded) set of users with their share decoded on each data-parallel worker.
"""
import logging
import os

import numpy as np

from ..io import write_json
from ..metrics import metrics_from_ranks, target_rank
from ..parallel import world
from .curves import write_curves
from .loop import Hooks
from .weights import save_weights

log = logging.getLogger("cost_ms.validation")


def sharded_ranks(histories, targets, top_items, max_users=0, seed=0):
    """``(users, rank)``: every scored user (sorted; a seeded sample of ``max_users`` when set) and the 0-based
    rank of its target in ``top_items``' list (-1: not in it).

    ``top_items(users) -> [U, K]`` ranks items for this worker's users; each user is decoded by one worker and
    the ranks are summed over workers, so every worker returns all of them.
    """
    users = sorted(histories)
    if max_users and max_users < len(users):
        users = sorted(np.random.default_rng(seed).choice(users, max_users, replace=False))
    w = world()
    mine = users[w.rank::w.size]
    shifted = np.zeros(len(users))                 # rank + 1 at this worker's users, 0 elsewhere
    if mine:
        shifted[w.rank::w.size] = target_rank(top_items(mine), np.array([targets[u] for u in mine])) + 1
    return users, w.all_sum(shifted).astype(np.int64) - 1


def sharded_metrics(histories, targets, ks, top_items, max_users=0, seed=0, with_ranks=False):
    """Recall/NDCG@ks over ``histories``' users (:func:`sharded_ranks`); with ``with_ranks`` also its
    ``(users, rank)``, what a paired comparison of two runs needs (``tools/paired_bootstrap.py``)."""
    users, rank = sharded_ranks(histories, targets, top_items, max_users, seed)
    metrics = metrics_from_ranks(rank, ks)
    return (metrics, users, rank) if with_ranks else metrics


class EarlyStoppingHooks(Hooks):
    """``cfg``: the whole config (``eval.early_stop``, ``eval.ks``, ``run.seed``); ``sec``: the trainer's section
    (``eval_every``, ``epochs``, ``patience``, ``valid_users``)."""

    def __init__(self, cfg, sec, net, evaluator, folder, name):
        self.cfg, self.sec, self.net, self.evaluator, self.folder, self.name = cfg, sec, net, evaluator, folder, name
        self.metric, self.w = cfg.eval.early_stop, world()
        self.best, self.best_epoch, self.bad = -1.0, 0, 0

    def on_epoch_end(self, epoch, record, stopped_by):
        sec, done = self.sec, epoch + 1
        if done % sec.eval_every == 0 or done == sec.epochs or stopped_by:
            m = self.evaluator.evaluate("valid", self.cfg.eval.ks, sec.valid_users, self.cfg.run.seed)
            record.update({f"valid_{k}": round(v, 5) for k, v in m.items()})
            if m[self.metric] > self.best:
                self.best, self.best_epoch, self.bad = m[self.metric], done, 0
                if self.w.is_main:
                    save_weights(self.net, os.path.join(self.folder, "best.ckpt"))
                    write_json(os.path.join(self.folder, "best.json"), {"epoch": done, "valid": m})
            else:
                self.bad += 1
            if self.w.is_main:           # one line per validation, not per epoch: logs stay short
                log.info("%s epoch %s", self.name, record)
        self.net.set_train(True)
        return self.bad >= sec.patience

    def finish(self, state):
        """After training: a run that never validated keeps its last weights as best.ckpt; write the curve.

        Returns the loop's state with the best score merged in."""
        if self.w.is_main and not os.path.isfile(os.path.join(self.folder, "best.ckpt")):
            save_weights(self.net, os.path.join(self.folder, "best.ckpt"))
        if self.w.is_main and state["curve"]:
            write_curves(self.folder, self.name, state, metric=self.metric)
        return {**state, **self.state()}

    def state(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "bad": self.bad}

    def restore(self, state):
        self.best, self.best_epoch, self.bad = state["best"], state["best_epoch"], state["bad"]
