"""One training step for any ``...WithLoss`` cell whose first output is the loss.

``ms.value_and_grad(..., has_aux=True)`` differentiates the first output only; the rest
(metrics, codes) comes back untouched. ``jit=True`` compiles the step once as a graph
(``@ms.jit``); ``jit=False`` runs it op by op (PyNative), which the benchmarks compare.

Data parallel: ``grad_reducer`` averages gradients over workers before the update, and the
first ``mean_outputs`` outputs (scalar losses) are averaged too, so every worker logs the
loss of the global batch.
"""
import mindspore as ms
from mindspore import ops


def make_train_step(with_loss, optimizer, jit=True, grad_reducer=None, mean_outputs=0, world_size=1):
    grad_fn = ms.value_and_grad(with_loss, None, optimizer.parameters, has_aux=True)
    reduce = ops.AllReduce() if world_size > 1 and mean_outputs else None

    def step(*inputs):
        outputs, grads = grad_fn(*inputs)
        if grad_reducer is not None:
            grads = grad_reducer(grads)
        optimizer(grads)
        if reduce is None:
            return outputs
        head = [reduce(outputs[i]) / world_size for i in range(mean_outputs)]
        return tuple(head) + outputs[mean_outputs:]

    return ms.jit(step) if jit else step
