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
from ..metrics import recall_ndcg
from ..parallel import world
from .curves import write_curves
from .loop import Hooks
from .weights import save_weights

log = logging.getLogger("cost_ms.validation")


def metric_keys(ks):
    return [f"{name}@{k}" for k in ks for name in ("recall", "ndcg")]


def sharded_metrics(histories, targets, ks, top_items, max_users=0, seed=0):
    """Recall/NDCG@ks over ``histories``' users (a seeded sample of ``max_users`` when set).

    ``top_items(users) -> [U, >= max(ks)]`` ranks items for this worker's users; the per-worker sums
    are added over workers, so every worker returns the metrics of all users.
    """
    users = sorted(histories)
    if max_users and max_users < len(users):
        users = sorted(np.random.default_rng(seed).choice(users, max_users, replace=False))
    w = world()
    mine = users[w.rank::w.size]
    keys = metric_keys(ks)
    sums = np.zeros(len(keys) + 1)
    if mine:
        m = recall_ndcg(top_items(mine), np.array([targets[u] for u in mine]), ks)
        sums[:-1] = [m[key] * len(mine) for key in keys]
        sums[-1] = len(mine)
    sums = w.all_sum(sums)
    return {key: float(v / sums[-1]) for key, v in zip(keys, sums[:-1])}


class EarlyStoppingHooks(Hooks):
    """``section``: the trainer's config section (``eval_every``, ``epochs``, ``patience``, ``valid_users``)."""

    def __init__(self, cfg, section, net, evaluator, folder, name):
        self.cfg, self.sec, self.net, self.evaluator, self.folder, self.name = cfg, cfg[section], net, evaluator, \
            folder, name
        self.metric, self.w = cfg["eval"]["early_stop"], world()
        self.best, self.best_epoch, self.bad = -1.0, 0, 0

    def on_epoch_end(self, epoch, record, stopped_by):
        sec, done = self.sec, epoch + 1
        if done % sec["eval_every"] == 0 or done == sec["epochs"] or stopped_by:
            m = self.evaluator.evaluate("valid", self.cfg["eval"]["ks"], sec["valid_users"], self.cfg["run"]["seed"])
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
        return self.bad >= sec["patience"]

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
