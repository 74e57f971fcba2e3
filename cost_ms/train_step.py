"""One training step for any ``...WithLoss`` cell whose first output is the loss.

``ms.value_and_grad(..., has_aux=True)`` differentiates the first output only; the rest
(metrics, codes) comes back untouched. ``jit=True`` compiles the step once as a graph
(``@ms.jit``); ``jit=False`` runs it op by op (PyNative), which the benchmarks compare.
"""
import mindspore as ms


def make_train_step(with_loss, optimizer, jit=True, grad_reducer=None):
    grad_fn = ms.value_and_grad(with_loss, None, optimizer.parameters, has_aux=True)

    def step(*inputs):
        outputs, grads = grad_fn(*inputs)
        if grad_reducer is not None:
            grads = grad_reducer(grads)
        optimizer(grads)
        return outputs

    return ms.jit(step) if jit else step
