"""Layers whose MindSpore CPU kernels were a bottleneck of a training step (docs/PERFORMANCE.md).

:func:`create_dense` gives, on CPU, :class:`Dense`: ``nn.Dense`` (same parameters, names, init and
forward value) with the bias gradient computed as a GEMV, ``1^T dY`` (the bias enters as a rank-1
product), instead of MindSpore's CPU ``BiasAddGrad`` kernel, a large share of a training step
(``python benchmarks/profile_step.py``). On GPU and Ascend it gives ``nn.Dense``: their fused kernels were
not measured against the GEMV, so they are left alone.
"""
import mindspore as ms
from mindspore import nn, ops


class _AddBias(nn.Cell):
    """``x [N, out] + b [out]`` as ``x + 1 b^T``: a rank-1 product, whose backward is ``(dY, 1^T dY)``.

    The product's autodiff gives the bias gradient as a GEMV and keeps only the ``[N, 1]`` ones alive for
    the backward. (A cell ``bprop`` computing the same GEMV kept every layer's output alive until the
    backward, docs/PERFORMANCE.md.) ``1 * b`` is exact, so the value is ``x + b``. Out of training (beam
    search) there is no backward, and the K = 1 product costs more than the add it feeds
    (``benchmarks/profile_decode.py``), so it is a plain ``BiasAdd`` there.
    """

    def construct(self, x, b):
        if not self.training:          # inference has no backward to shape: the plain BiasAdd kernel
            return ops.bias_add(x, b)
        ones = ops.ones((x.shape[0], 1), x.dtype)
        return x + ops.matmul(ones, b.reshape(1, -1))


class Dense(nn.Dense):
    """``nn.Dense(in_channels, out_channels)`` with a bias, no activation; ``x [..., in] -> [..., out]``."""

    def __init__(self, in_channels, out_channels):
        super().__init__(in_channels, out_channels, has_bias=True)
        self.add_bias = _AddBias()

    def construct(self, x):
        shape = x.shape
        y = self.matmul(x.reshape(-1, shape[-1]), self.weight)
        return self.add_bias(y, self.bias).reshape(shape[:-1] + (-1,))


def create_dense(in_channels, out_channels):
    """A biased dense layer: :class:`Dense` on CPU, ``nn.Dense`` elsewhere (fixed when the cell is built)."""
    if ms.get_context("device_target") == "CPU":
        return Dense(in_channels, out_channels)
    return nn.Dense(in_channels, out_channels)
