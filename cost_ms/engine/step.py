"""One training step for any ``...WithLoss`` cell whose first output is the loss.

``ms.value_and_grad(..., has_aux=True)`` differentiates the first output only; the rest
(metrics, codes) comes back untouched. ``jit=True`` compiles the step once as a graph
(``@ms.jit``); ``jit=False`` runs it op by op (PyNative), which the benchmarks compare.

Data parallel: ``grad_reducer`` averages gradients over workers before the update, and the
first ``mean_outputs`` outputs (scalar losses) are averaged too, so every worker logs the
loss of the global batch.

Micro-batches (``micro_batches=K > 1``): the batch is cut into K equal slices along axis 0; one
compiled forward-backward graph runs on each slice in turn and their gradients are averaged
before one optimizer update. For a loss that is a mean over the batch's rows this is the same
update as one step on the whole batch (up to float summation order), while only one slice's
activations are alive at a time: a training step's peak memory falls with K
(benchmarks/memory_step.py). Every output must then be a batch mean (losses, accuracies); they
are averaged over the slices.

Micro-batches by tokens (``micro_batches`` a function ``(rows, width) -> K`` of the first input's
shape, e.g. :func:`slices_for_tokens`): each batch shape gets its own K, so that a length-bucketed
plan cuts its long batches into slices while its short ones run whole; each K has its own compiled
step (K = 1 is the fused whole-batch step).
"""
import functools

import mindspore as ms
from mindspore import ops


def slices_for_tokens(rows, width, budget):
    """The fewest equal slices (a divisor of ``rows``) with at most ``budget`` tokens (``rows x width``) each;
    ``rows`` (one row a slice) when even one row is over the budget."""
    for k in range(1, rows + 1):
        if rows % k == 0 and rows // k * width <= budget:
            return k
    return rows


def micro_batch_policy(micro_batches, tokens):
    """``make_train_step``'s ``micro_batches``: per batch shape from a token budget when ``tokens > 0``
    (:func:`slices_for_tokens`), else the fixed ``micro_batches``."""
    return functools.partial(slices_for_tokens, budget=tokens) if tokens else micro_batches


def make_train_step(with_loss, optimizer, jit=True, grad_reducer=None, mean_outputs=0, world_size=1,
                    micro_batches=1):
    """The train step; ``micro_batches``: an int K for every batch, or ``(rows, width) -> K`` per batch shape."""
    if callable(micro_batches):
        choose, steps = micro_batches, {}

        def step_by_shape(*inputs):
            k = choose(*inputs[0].shape[:2])
            if k not in steps:
                steps[k] = make_train_step(with_loss, optimizer, jit, grad_reducer, mean_outputs, world_size, k)
            return steps[k](*inputs)
        return step_by_shape
    grad_fn = ms.value_and_grad(with_loss, None, optimizer.parameters, has_aux=True)
    reduce = ops.AllReduce() if world_size > 1 and mean_outputs else None

    def finish(outputs, grads):
        if grad_reducer is not None:
            grads = grad_reducer(grads)
        optimizer(grads)
        if reduce is None:
            return outputs
        head = [reduce(outputs[i]) / world_size for i in range(mean_outputs)]
        return tuple(head) + outputs[mean_outputs:]

    if micro_batches == 1:
        def step(*inputs):
            outputs, grads = grad_fn(*inputs)
            return finish(outputs, grads)
        return ms.jit(step) if jit else step
    return _micro_step(grad_fn, finish, micro_batches, jit)


def _micro_step(grad_fn, finish, k, jit):
    add = ops.HyperMap()
    scale = 1.0 / k

    def accumulate(total, grads):
        return add(ops.add, total, grads)

    def apply(outputs, grads):
        return finish(tuple(o * scale for o in outputs), add(ops.partial(ops.mul, scale), grads))

    # the sum of the slices' gradients runs op by op, never as a compiled graph: on CPU a jitted sum fed by the
    # forward graphs of several batch shapes holds on to more memory at every change of shape, without bound
    # (benchmarks/shape_memory.py), while op by op it costs one small add per parameter
    forward, apply = (ms.jit(grad_fn), ms.jit(apply)) if jit else (grad_fn, apply)

    def step(*inputs):
        b = inputs[0].shape[0]
        if b % k:
            raise ValueError(f"batch of {b} rows does not split into {k} equal micro-batches")
        m = b // k
        outputs, grads = forward(*(x[:m] for x in inputs))
        for i in range(1, k):
            outs, g = forward(*(x[i * m:(i + 1) * m] for x in inputs))
            grads = accumulate(grads, g)
            outputs = tuple(a + o for a, o in zip(outputs, outs))
        return apply(outputs, grads)
    return step
