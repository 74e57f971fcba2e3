"""Layers whose MindSpore CPU kernels were a bottleneck of a training step (docs/PERFORMANCE.md).

:func:`create_dense` gives, on CPU, :class:`Dense`: ``nn.Dense`` (same parameters, names, init and
forward value) with the bias gradient computed as a GEMV, ``1^T dY``, instead of the ``BiasAddGrad``
kernel, which took 1.1 s of a 13.3 s training step at d_model 384 on this project's 2-core CPU
(``python benchmarks/profile_step.py``). On GPU and Ascend it gives ``nn.Dense``: their fused kernels
were not measured against the GEMV, so they are left alone.
"""
import mindspore as ms
from mindspore import nn, ops


class _AddBias(nn.Cell):
    """``x [N, out] + b [out]``; backward ``(dY, 1^T dY)``."""

    def construct(self, x, b):
        return x + b

    def bprop(self, x, b, out, dout):
        ones = ops.ones((1, dout.shape[0]), dout.dtype)
        return dout, ops.matmul(ones, dout).reshape(-1)


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
