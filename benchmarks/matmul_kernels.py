"""MindSpore's CPU MatMul against torch's on the products of one feed-forward layer's training step.

The 384-wide config's first feed-forward layer at a full batch (256 x 80 source tokens = 20,480 rows,
384 -> 1152): the forward product and the two backward ones, each as one MindSpore graph-mode
``MatMul`` (with the transpose flag the autodiff uses) and as the torch expression, same float32 data,
same process, 6 timed calls after one warm-up::

    python benchmarks/matmul_kernels.py [--rows 20480] [--repeats 6]

Writes ``benchmarks/results/matmul_kernels.json``. Explains the ``matmul`` row of profile_step.py.
"""
import argparse
import sys
import time

import numpy as np

from common import report


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=20480)
    p.add_argument("--d", type=int, default=384)
    p.add_argument("--ffn", type=int, default=1152)
    p.add_argument("--repeats", type=int, default=6)
    a = p.parse_args()
    import mindspore as ms
    import torch
    from mindspore import Tensor, ops
    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    rng = np.random.default_rng(0)
    dy = rng.normal(size=(a.rows, a.ffn)).astype(np.float32)
    x = rng.normal(size=(a.rows, a.d)).astype(np.float32)
    w = rng.normal(size=(a.ffn, a.d)).astype(np.float32)
    cases = [("forward X W^T", ops.MatMul(transpose_b=True), x, w, lambda p, q: p @ q.T),
             ("backward dX = dY W", ops.MatMul(), dy, w, lambda p, q: p @ q),
             ("backward dW = dY^T X", ops.MatMul(transpose_a=True), dy, x, lambda p, q: p.T @ q)]
    rows = []
    for name, op, lhs, rhs, torch_fn in cases:
        def product(p, q, op=op):
            return op(p, q)
        fn = ms.jit(product)
        p_ms, q_ms = Tensor(lhs), Tensor(rhs)
        fn(p_ms, q_ms).asnumpy()
        t = time.time()
        for _ in range(a.repeats):
            out = fn(p_ms, q_ms)
        out.asnumpy()
        ms_ms = 1000 * (time.time() - t) / a.repeats
        p_t, q_t = torch.from_numpy(lhs), torch.from_numpy(rhs)
        torch_fn(p_t, q_t)
        t = time.time()
        for _ in range(a.repeats):
            torch_fn(p_t, q_t)
        torch_ms = 1000 * (time.time() - t) / a.repeats
        rows.append({"product": name, "shape": f"{list(lhs.shape)} x {list(rhs.shape)}", "mindspore_ms": ms_ms,
                     "torch_ms": torch_ms, "mindspore_over_torch": ms_ms / torch_ms})
    report("matmul_kernels", rows, ["product", "shape", "mindspore_ms", "torch_ms", "mindspore_over_torch"],
           {"torch_threads": torch.get_num_threads()})


if __name__ == "__main__":
    sys.exit(main())
