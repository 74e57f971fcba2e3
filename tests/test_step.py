"""engine.make_train_step: micro-batches give the whole batch's update (the loss is a batch mean)."""
import os

import numpy as np
import pytest
from mindspore import Tensor, nn

from cost_ms.engine import make_train_step
from cost_ms.errors import CostError

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "ml-100k.yaml")


class _MeanSquares(nn.Cell):
    """``(mean_b ||net(x_b) - y_b||^2, mean_b |net(x_b)|)`` over the batch's rows."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, x, y):
        out = self.net(x)
        return ((out - y) ** 2).sum(-1).mean(), out.abs().mean()


def _one_step(micro, jit, x, y):
    net = nn.SequentialCell([nn.Dense(4, 8, weight_init="normal", bias_init="normal"), nn.Tanh(),
                             nn.Dense(8, 3, weight_init="normal", bias_init="normal")])
    for i, p in enumerate(net.trainable_params()):   # the same start for every variant
        p.set_data(Tensor(np.random.default_rng(i).normal(size=p.shape).astype(np.float32)))
    opt = nn.Adam(net.trainable_params(), learning_rate=0.05)
    step = make_train_step(_MeanSquares(net), opt, jit=jit, micro_batches=micro)
    losses = [float(step(Tensor(x), Tensor(y))[0].asnumpy()) for _ in range(3)]
    return losses, [p.asnumpy() for p in net.trainable_params()]


@pytest.mark.parametrize("micro", [2, 4])
def test_micro_batches_match_the_whole_batch(ms_mode, rng, micro):
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = rng.normal(size=(8, 3)).astype(np.float32)
    jit = ms_mode == "graph"
    whole_loss, whole = _one_step(1, jit, x, y)
    micro_loss, parts = _one_step(micro, jit, x, y)
    np.testing.assert_allclose(micro_loss, whole_loss, rtol=1e-5)
    for a, b in zip(parts, whole):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert whole_loss[2] < whole_loss[0]          # it trained


def test_micro_batches_that_do_not_divide_the_batch_fail_clearly(graph_mode, rng):
    x = rng.normal(size=(6, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="does not split into 4"):
        _one_step(4, True, x, x[:, :3])


def test_micro_batches_config_key_is_checked():
    from cost_ms.config import load_config
    cfg = load_config(CONFIG, ["generator.micro_batches=2"])
    assert cfg.generator.micro_batches == 2
    with pytest.raises(CostError, match="micro_batches"):
        load_config(CONFIG, ["generator.micro_batches=3"])


def test_slices_for_tokens_picks_the_fewest_slices_under_the_budget():
    from cost_ms.engine.step import slices_for_tokens
    assert slices_for_tokens(256, 80, 2560) == 8        # a full-length batch: 32 rows x 80 tokens
    assert slices_for_tokens(256, 20, 2560) == 2        # a 5-item bucket: 128 rows x 20
    assert slices_for_tokens(256, 8, 2560) == 1         # short enough to run whole
    assert slices_for_tokens(12, 10, 35) == 4           # 3 rows x 10 (a divisor of 12, not 12 / 3.5)
    assert slices_for_tokens(6, 100, 50) == 6           # even one row is over: one row a slice


def test_micro_batches_chosen_per_batch_shape_match_the_whole_batch(graph_mode, rng):
    """A ``(rows, width) -> K`` policy: wide batches in slices, narrow ones whole; each the whole batch's update."""
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = rng.normal(size=(8, 3)).astype(np.float32)
    seen = []

    def policy(rows, width):
        seen.append((rows, width))
        return 4
    whole_loss, whole = _one_step(1, True, x, y)
    policy_loss, parts = _one_step(policy, True, x, y)
    np.testing.assert_allclose(policy_loss, whole_loss, rtol=1e-5)
    for a, b in zip(parts, whole):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert seen == [(8, 4)] * 3


def test_micro_batch_tokens_config_key_is_checked():
    from cost_ms.config import load_config
    assert load_config(CONFIG, ["generator.micro_batch_tokens=2560"]).generator.micro_batch_tokens == 2560
    with pytest.raises(CostError, match="micro_batch_tokens"):
        load_config(CONFIG, ["generator.micro_batch_tokens=-1"])
