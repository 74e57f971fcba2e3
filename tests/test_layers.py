"""layers.dense.Dense: the same values and gradients as nn.Dense, in graph and PyNative mode, training or not."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn

from cost_ms.layers.dense import Dense, create_dense


def _grads(cell, x, w):
    """Value, d/dx and d/dparams of ``sum(cell(x) * w)`` (``w``: a non-uniform upstream gradient)."""
    def weighted(x):
        return (cell(x) * w).sum()
    value, (dx, dparams) = ms.value_and_grad(weighted, 0, cell.trainable_params())(x)
    return [value.asnumpy(), dx.asnumpy()] + [g.asnumpy() for g in dparams]


def test_dense_matches_nn_dense_values_and_gradients(ms_mode, rng):
    fast, ref = Dense(6, 5), nn.Dense(6, 5)
    for p in ("weight", "bias"):
        getattr(ref, p).set_data(getattr(fast, p).data.copy())
    assert [p.name for p in fast.trainable_params()] == [p.name for p in ref.trainable_params()]
    x = Tensor(rng.normal(size=(3, 4, 6)).astype(np.float32))
    w = Tensor(rng.normal(size=(3, 4, 5)).astype(np.float32))     # a non-uniform upstream gradient

    np.testing.assert_allclose(fast(x).asnumpy(), ref(x).asnumpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(_grads(fast, x, w), _grads(ref, x, w)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # by hand: the bias gradient is the upstream gradient summed over every leading position
    np.testing.assert_allclose(_grads(fast, x, w)[3], w.asnumpy().reshape(-1, 5).sum(0), rtol=1e-5)


def test_dense_inference_path_gives_the_training_value(ms_mode, rng):
    """Out of training the bias is a plain BiasAdd (no backward to shape); the value must not move."""
    fast = Dense(6, 5)
    x = Tensor(rng.normal(size=(7, 6)).astype(np.float32))
    fast.set_train(True)
    train_value = fast(x).asnumpy()
    fast.set_train(False)
    by_hand = x.asnumpy() @ fast.weight.asnumpy().T + fast.bias.asnumpy()
    np.testing.assert_allclose(fast(x).asnumpy(), train_value, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fast(x).asnumpy(), by_hand, rtol=1e-5, atol=1e-6)


def test_create_dense_is_the_fast_one_on_cpu_only():
    if ms.get_context("device_target") != "CPU":
        pytest.skip("the CPU variant is only chosen on CPU")
    assert type(create_dense(3, 2)) is Dense
