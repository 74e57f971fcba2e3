"""The one resumable training loop every trainer runs on.

A trainer supplies a train step (``make_train_step``), its network and optimizer, a batch plan
(``batches(epoch)``: the epoch's global batches, a function of ``(seed, epoch)`` only) and
:class:`Hooks`; the loop does the rest:

* epochs x steps; each step's global batch is sharded over the data-parallel workers by the hooks;
* the step's first ``len(spec.logged)`` outputs are scalar losses, read back to the host once per
  logging interval (not every step); later outputs go to :meth:`Hooks.on_outputs` at the same time;
* a resumable checkpoint every ``ckpt_every`` steps and at every epoch end, with the running sums
  and the hooks' state, so a run killed at any point resumes on the same batch and ends the same;
* step and time budgets that every worker agrees on (the slowest clock), and early stopping by the
  hooks' ``on_epoch_end``;
* rank-0 progress (tqdm on a terminal, a line per interval otherwise) and the training curve.
"""
import dataclasses
import os
import time

import numpy as np

from .checkpoint import CheckpointManager
from .progress import Progress


@dataclasses.dataclass
class LoopSpec:
    name: str                      # shown in progress lines and the curve's title
    epochs: int
    folder: str                    # the stage's output folder: checkpoints go to folder/ckpt
    resume_key: dict               # what a resumed run must share with the saved one (config, data, workers)
    logged: tuple                  # names of the step's leading scalar outputs, e.g. ("loss", "mse")
    samples_per_step: int          # global batch size, for samples/s
    log_every: int = 50            # steps between host reads of the losses (and progress lines)
    ckpt_every: int = 0            # steps between mid-epoch checkpoints (0 = epoch ends only)
    max_steps: int = 0             # stop after this many optimizer steps in all (0 = no cap)
    max_seconds: float = 0.0       # stop after this much training time (0 = no cap)
    lr: np.ndarray = None          # per-step learning rate, for the curve
    progress: bool = True
    keep: int = 3                  # newest checkpoints kept
    resolved: dict = None          # full config, saved beside the checkpoints


class Hooks:
    """What a trainer adds to the loop; every method but :meth:`inputs` has a default."""

    def inputs(self, batch):
        """One global batch from the plan -> this worker's step inputs (a tuple of Tensors)."""
        raise NotImplementedError

    def on_fresh_start(self):
        """Before the first step of a run that did not resume (e.g. k-means init of codebooks)."""

    def on_outputs(self, outputs):
        """``outputs``: per step since the last read, the step's outputs after the losses, as NumPy."""

    def on_epoch_end(self, epoch, record, stopped_by):
        """After epoch ``epoch`` (0-based); ``record`` may be extended. Return True to stop training."""
        return False

    def state(self):
        """JSON-able state saved with every checkpoint (called on every worker: may use collectives)."""
        return {}

    def restore(self, state):
        """Inverse of :meth:`state`, on resume."""


def fresh_state(n_logged):
    return {"epoch": 0, "step": 0, "global_step": 0, "sums": [0.0] * n_logged, "train_seconds": 0.0,
            "history": [], "curve": [], "hooks": {}, "stopped": None}


def run_loop(step, net, opt, batches, hooks, spec, world, log=None):
    """Train (or resume) ``net`` until the epochs, a budget or the hooks end it; return the final state."""
    n = len(spec.logged)
    ckpt = CheckpointManager(os.path.join(spec.folder, "ckpt"), net, opt, spec.resume_key, spec.keep,
                             world.is_main, spec.resolved)
    state = ckpt.load()
    if state is not None:
        hooks.restore(state["hooks"])
        if world.is_main and log is not None:
            log.info("resuming %s at epoch %d, step %d (global step %d)", spec.name, state["epoch"], state["step"],
                     state["global_step"])
    else:
        state = fresh_state(n)
        hooks.on_fresh_start()
    plan = {}

    def epoch_batches(epoch):
        if epoch not in plan:
            plan.clear()
            plan[epoch] = batches(epoch)
        return plan[epoch]

    per_epoch = len(epoch_batches(state["epoch"])) if state["epoch"] < spec.epochs else 1
    total = per_epoch * spec.epochs
    if spec.max_steps:
        total = min(total, spec.max_steps)
    bar = Progress(spec.name, total, state["global_step"], spec.progress and world.is_main)
    interval = {"steps": 0, "sums": [0.0] * n, "time": time.time()}    # spans epoch ends
    try:
        for epoch in range(state["epoch"], spec.epochs):
            if state["stopped"]:
                break
            _one_epoch(step, ckpt, epoch_batches(epoch), hooks, spec, world, state, epoch, bar, interval)
            last = state["stopped"] or epoch + 1 == spec.epochs
            if interval["steps"] and last:
                _interval_record(spec, state, epoch, bar, interval)
    finally:
        bar.close()
    return state


def _interval_record(spec, state, epoch, bar, interval):
    """One point of the training curve (means since the last one) and one progress line."""
    now, steps = time.time(), interval["steps"]
    rec = {"step": state["global_step"], "epoch": epoch + 1}
    rec.update({k: round(interval["sums"][i] / steps, 6) for i, k in enumerate(spec.logged)})
    if spec.lr is not None:
        rec["lr"] = float(spec.lr[min(state["global_step"], len(spec.lr)) - 1])
    rec["samples_per_s"] = round(steps * spec.samples_per_step / max(now - interval["time"], 1e-9), 1)
    state["curve"].append(rec)
    interval.update(steps=0, sums=[0.0] * len(spec.logged), time=now)
    bar.update(state["global_step"], f"epoch {epoch + 1}/{spec.epochs} " +
               " ".join(f"{k} {rec[k]:.4f}" for k in spec.logged[:2]))


def _one_epoch(step, ckpt, batches, hooks, spec, world, state, epoch, bar, interval):
    n = len(spec.logged)
    first = state["step"]                              # > 0 only when resuming mid-epoch
    sums = list(state["sums"]) if first else [0.0] * n
    t0, spent0 = time.time(), state["train_seconds"]
    pending, nb, stopped_by = [], first, None

    def read_back():
        aux = []
        for outs in pending:                           # sequential adds: the same sums whenever we read
            for i in range(n):
                v = float(outs[i].asnumpy())
                sums[i] += v
                interval["sums"][i] += v
            interval["steps"] += 1
            if len(outs) > n:
                aux.append(tuple(o.asnumpy() for o in outs[n:]))
        pending.clear()
        if aux:
            hooks.on_outputs(aux)

    def save(step_in_epoch, sums_now):
        hook_state = hooks.state()
        ckpt.save(state["global_step"], {**state, "epoch": epoch, "step": step_in_epoch, "sums": sums_now,
                                         "train_seconds": spent0 + time.time() - t0, "hooks": hook_state})

    for batch in batches[first:]:
        pending.append(step(*hooks.inputs(batch)))
        nb += 1
        state["global_step"] += 1
        if spec.max_seconds and world.all_max(spent0 + time.time() - t0) >= spec.max_seconds:
            stopped_by = "time budget"
        if spec.max_steps and state["global_step"] >= spec.max_steps:
            stopped_by = "step budget"
        ckpt_now = spec.ckpt_every and nb % spec.ckpt_every == 0 and nb < len(batches) and not stopped_by
        if ckpt_now or stopped_by or state["global_step"] % spec.log_every == 0:
            read_back()
            if state["global_step"] % spec.log_every == 0:
                _interval_record(spec, state, epoch, bar, interval)
        if ckpt_now:
            save(nb, list(sums))
        if stopped_by:
            break
    read_back()
    elapsed = time.time() - t0
    record = {"epoch": epoch + 1, "global_step": state["global_step"]}
    record.update({k: round(sums[i] / max(nb, 1), 6) for i, k in enumerate(spec.logged)})
    record.update(seconds=round(elapsed, 3),
                  samples_per_s=round((nb - first) * spec.samples_per_step / max(elapsed, 1e-9), 1))
    if stopped_by:
        record["stopped_at_step"] = f"{nb}/{len(batches)} ({stopped_by})"
    state["train_seconds"] = spent0 + elapsed
    t_hook = time.time()
    stop = hooks.on_epoch_end(epoch, record, stopped_by)
    interval["time"] += time.time() - t_hook             # validation is not training time
    state["history"].append(record)
    state.update(epoch=epoch + 1, step=0, sums=[0.0] * len(spec.logged),
                 stopped=stopped_by or ("early stopping" if stop else None))
    state["hooks"] = hooks.state()
    ckpt.save(state["global_step"], state)
