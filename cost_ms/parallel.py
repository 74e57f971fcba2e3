"""Data parallelism under ``msrun``: who am I, how to split a batch, how to agree.

``run.data_parallel: true`` (set by ``scripts/run_distribute_train.sh``) makes every worker
call ``ms.communication.init()`` and switch MindSpore to ``ParallelMode.DATA_PARALLEL`` with
gradient averaging. Each step has one *global* batch of ``batch_size * world`` rows, the same
on every worker (all derive it from ``(seed, epoch)``); worker ``r`` trains on rows
``[r * batch_size, (r + 1) * batch_size)`` of it. Parameters start identical because every
worker seeds them identically. Only rank 0 writes files.

A single process is a world of size 1 and every method below is then a no-op, so the
trainers have one code path.
"""
import os

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from .errors import CostError


class World:
    def __init__(self, rank=0, size=1):
        self.rank, self.size = rank, size
        self._reduce = {}

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.size > 1

    def shard(self, global_idx):
        """This worker's contiguous slice of a global batch (``len(global_idx) == size * per_worker``)."""
        per = len(global_idx) // self.size
        return global_idx[self.rank * per:(self.rank + 1) * per]

    def _op(self, kind):
        if kind not in self._reduce:    # CPU AllReduce only sums; max goes through AllGather
            self._reduce[kind] = ops.AllReduce() if kind == "sum" else ops.AllGather()
        return self._reduce[kind]

    def all_sum(self, array):
        """Element-wise sum over workers of a NumPy array (carried as float32)."""
        if not self.distributed:
            return np.asarray(array)
        a = np.asarray(array)
        return self._op("sum")(Tensor(a.astype(np.float32))).asnumpy().astype(a.dtype)

    def all_max(self, array):
        """Element-wise max over workers of a NumPy array (carried as float32)."""
        if not self.distributed:
            return np.asarray(array)
        a = np.asarray(array)
        gathered = self._op("gather")(Tensor(a.astype(np.float32).reshape(1, -1))).asnumpy()
        return gathered.max(0).reshape(a.shape).astype(a.dtype)

    def barrier(self):
        self.all_sum(np.zeros(1))

    def grad_reducer(self, parameters):
        """Averages gradients over workers (None in a single process)."""
        if not self.distributed:
            return None
        from mindspore.communication import GlobalComm
        return nn.DistributedGradReducer(parameters, mean=True, degree=self.size, group=GlobalComm.WORLD_COMM_GROUP)


_WORLD = World()


def world():
    return _WORLD


def init_world(enabled):
    """Join the ``msrun`` job when ``enabled``; return the :class:`World` (size 1 otherwise)."""
    global _WORLD
    if not enabled:
        _WORLD = World()
        return _WORLD
    from mindspore.communication import get_group_size, get_rank, init
    if "MS_WORKER_NUM" not in os.environ and "RANK_TABLE_FILE" not in os.environ:
        raise CostError("run.data_parallel=true needs a launcher: start with "
                        "`bash scripts/run_distribute_train.sh DATASET DEVICE WORKERS` (msrun)")
    try:
        init()
    except RuntimeError as e:
        first = next((ln for ln in str(e).splitlines() if ln.strip()), "unknown error")
        raise CostError(f"cannot join the data-parallel job: {first.strip()}") from None
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    _WORLD = World(get_rank(), get_group_size())
    return _WORLD


class GatherWithGrad(nn.Cell):
    """AllGather along rows, ``[b, D] -> [b * world, D]``, whose backward is AllReduce-sum + local slice.

    Mathematically the same as MindSpore's own AllGather backward (ReduceScatter), which
    has no CPU kernel; AllReduce has one on every backend.
    """

    def __init__(self, rank):
        super().__init__()
        self.gather, self.reduce = ops.AllGather(), ops.AllReduce()
        self.rank = rank

    def construct(self, x):
        return self.gather(x)

    def bprop(self, x, out, dout):
        n = x.shape[0]
        return (self.reduce(dout)[self.rank * n:(self.rank + 1) * n],)
