"""Learning-rate schedules behind a registry: ``create_schedule(name, lr, total_steps, warmup, min_ratio)``.

Each schedule is a named function of the 1-based step array that returns the lr after warm-up;
:func:`create_schedule` adds the linear warm-up and returns one float32 lr per step, which
MindSpore's optimizers take as a per-step Tensor (the optimizer's own step counter indexes it).
``total_steps`` should be the steps a run will actually take (a step cap, or epochs x steps),
so that a cosine decay ends where the run ends instead of far beyond it.
"""
import numpy as np

from ..registry import Registry

SCHEDULES = Registry("lr schedule")


@SCHEDULES.register("constant")
def constant(steps, lr, warmup, total, min_ratio):
    return np.full_like(steps, lr)


@SCHEDULES.register("cosine")
def cosine(steps, lr, warmup, total, min_ratio):
    """Half a cosine from ``lr`` at the end of warm-up down to ``min_ratio * lr`` at ``total``."""
    frac = np.clip((steps - warmup) / max(1, total - warmup), 0, 1)
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + np.cos(np.pi * frac)))


@SCHEDULES.register("inverse_sqrt")
def inverse_sqrt(steps, lr, warmup, total, min_ratio):
    """``lr * sqrt(warmup / step)`` after warm-up (T5 / "Attention is all you need")."""
    return lr * np.sqrt(warmup / np.maximum(steps, warmup))


@SCHEDULES.register("linear")
def linear(steps, lr, warmup, total, min_ratio):
    """Straight line from ``lr`` at the end of warm-up to ``min_ratio * lr`` at ``total``."""
    frac = np.clip((steps - warmup) / max(1, total - warmup), 0, 1)
    return lr * (1 - (1 - min_ratio) * frac)


def planned_steps(steps_per_epoch, epochs, max_steps=0):
    """Steps a run will take at most (the step cap, or epochs x steps): what a schedule is sized for."""
    total = steps_per_epoch * epochs
    return min(total, max_steps) if max_steps else total


def create_schedule(name, lr, total_steps, warmup_steps=0, min_ratio=0.0):
    """``[total_steps] float32``: linear warm-up over ``warmup_steps``, then the named decay."""
    total = max(1, int(total_steps))
    steps = np.arange(1, total + 1, dtype=np.float64)
    warm = max(1, min(int(warmup_steps), total))
    after = SCHEDULES.get(name)(steps, float(lr), warm, total, float(min_ratio))
    out = np.where(steps <= warm, lr * steps / warm, after) if warmup_steps else after
    return out.astype(np.float32)
