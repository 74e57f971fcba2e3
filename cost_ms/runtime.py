"""MindSpore context: device target, execution mode, seeds.

GPU and Ascend read the device id from ``DEVICE_ID`` (Ascend) or the first entry of
``CUDA_VISIBLE_DEVICES`` (GPU), as MindSpore's own launch scripts do. A device that is
not there fails here, once, with a one-line message, instead of deep inside a graph build.
"""
import os
import random

import numpy as np

from .errors import CostError

DEVICES = ("CPU", "GPU", "Ascend")
MODES = ("graph", "pynative")


def device_id_from_env(device):
    """The device id to bind, or None to let MindSpore choose.

    Under msrun (``MS_WORKER_NUM`` set) each worker must bind its own local rank, which
    MindSpore does itself when no id is given; an explicit ``DEVICE_ID`` still wins.
    """
    if device != "CPU" and "MS_WORKER_NUM" in os.environ and "DEVICE_ID" not in os.environ:
        return None
    if device == "Ascend":
        raw = os.environ.get("DEVICE_ID", "0")
    elif device == "GPU":
        raw = os.environ.get("DEVICE_ID") or "0"
    else:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise CostError(f"DEVICE_ID must be an integer, got '{raw}'") from None


_CPU_THREADS = []          # the kernel thread count this process set (MindSpore allows one setting)
_HOST_BLOCKING = []        # the host dispatch mode this process set (MindSpore reads it once)
HOST_BLOCKING_ENV = "MS_DEV_HOST_BLOCKING_RUN"


def set_cpu_threads(n):
    """MindSpore's CPU kernel threads (``n`` > 0), once per process; 0 leaves MindSpore's default."""
    if not n:
        return
    if _CPU_THREADS:
        if _CPU_THREADS[0] != n:
            raise CostError(f"CPU kernel threads are already {_CPU_THREADS[0]} in this process; "
                            f"MindSpore cannot change them to {n}")
        return
    from mindspore.device_context.cpu.op_tuning import threads_num
    threads_num(n)
    _CPU_THREADS.append(n)


def set_host_blocking(blocking):
    """Run MindSpore's host pipeline on the calling thread (``True``) or on its worker queues (``False``).

    MindSpore 2.x hands each graph launch to a queue worker and the Python thread waits for it in a busy
    loop (``AsyncRQueue::Wait``): on a CPU device that loop holds a whole core the kernels could use
    (docs/PERFORMANCE.md has the profile). MindSpore reads
    ``MS_DEV_HOST_BLOCKING_RUN`` once, at its first launch, so this must run before any op (a later call
    cannot take effect); a second call asking for the other mode is logged and ignored.
    """
    blocking = bool(blocking)
    if _HOST_BLOCKING:
        if _HOST_BLOCKING[0] != blocking:     # a speed setting only: keep the first, say so, go on
            import logging
            logging.getLogger("cost_ms").warning(
                "MindSpore's host dispatch is already %s in this process and cannot change; keeping it",
                "blocking" if _HOST_BLOCKING[0] else "async")
        return
    os.environ[HOST_BLOCKING_ENV] = "1" if blocking else "0"
    _HOST_BLOCKING.append(blocking)


def init_runtime(device="CPU", mode="graph", seed=None, cpu_threads=0, host_blocking=True):
    """Set MindSpore's device and mode; check the device exists by running one op on it.

    ``cpu_threads`` > 0 sets the CPU kernel thread count (device CPU only; once per process).
    ``host_blocking`` (device CPU only; once per process) launches graphs from the calling thread instead of
    a queue worker that the caller busy-waits on (:func:`set_host_blocking`); GPU and Ascend keep
    MindSpore's asynchronous pipeline, which overlaps host dispatch with device work.
    """
    import mindspore as ms

    if device not in DEVICES:
        raise CostError(f"unknown device '{device}'; choose one of {', '.join(DEVICES)}")
    if mode not in MODES:
        raise CostError(f"unknown run.mode '{mode}'; choose one of {', '.join(MODES)}")
    ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE)
    if not isinstance(cpu_threads, int) or cpu_threads < 0:
        raise CostError(f"CPU kernel threads must be a whole number >= 0, got {cpu_threads!r}")
    if device == "CPU":
        set_cpu_threads(cpu_threads)
        set_host_blocking(host_blocking)
    try:
        device_id = device_id_from_env(device)
        if device_id is None:
            ms.set_device(device)
        else:
            ms.set_device(device, device_id)
        # building a tensor on the device forces the backend to load: fail now if it cannot
        (ms.Tensor(np.ones(1, np.float32)) + 1).asnumpy()
    except (RuntimeError, ValueError) as e:
        first = next((ln for ln in str(e).splitlines() if ln.strip()), "unknown error")
        raise CostError(f"MindSpore cannot use device {device}: {first.strip()} "
                        f"(is this build of MindSpore for {device}, and is the device visible?)") from None
    if seed is not None:
        set_seed(seed)
    return ms


def set_seed(seed):
    import mindspore as ms

    ms.set_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
