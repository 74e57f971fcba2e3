"""Micro-batching: one inference thread answers concurrent requests with one beam-search call per batch.

Requests wait in a bounded FIFO queue (:meth:`MicroBatcher.submit` raises :class:`Overloaded` when it is full). The
inference thread takes the oldest request with every request already queued behind it (never more than
``max_batch`` in all), answers the batch with one :meth:`~cost_ms.generator.recommend.Recommender.run` and logs one
line. Under load, that is when the previous batch held more than one request or requests were waiting as it
finished, the batch also waits up to ``window`` seconds for more to arrive (it leaves as soon as it is full); a
request reaching an idle service runs at once, so a lone client never pays the window. The model is loaded (and every graph compiled) on that same thread before the first request is taken, so all
MindSpore work happens on one thread. :meth:`MicroBatcher.close` refuses new requests, answers every queued one and
stops the thread.
"""
import logging
import queue
import threading
import time
from concurrent.futures import Future

log = logging.getLogger("cost_ms.serve")
_STOP = object()


class Overloaded(Exception):
    """The queue is full."""


class ShuttingDown(Exception):
    """The service is stopping and takes no new requests."""


class MicroBatcher:
    """``load()`` (run on the inference thread) returns the ready recommender; ``on_failure(exc)`` is called there
    when it raises. ``max_batch`` >= 1 requests per call, ``window`` seconds of collection, ``queue_size`` waiting."""

    def __init__(self, load, max_batch=32, window=0.005, queue_size=256, on_failure=None):
        self._load, self.max_batch, self.window = load, max_batch, window
        self.queue = queue.Queue(maxsize=queue_size)
        self.ready, self.failed, self.rec = threading.Event(), None, None
        self.on_failure = on_failure
        self._closing, self._lock = False, threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="cost-ms-inference", daemon=True)
        self.batches = 0

    def start(self):
        self._thread.start()

    def submit(self, query):
        """Queue ``query``; the future's result is ``rows`` (:meth:`Recommender.run`'s answer to it)."""
        fut = Future()
        with self._lock:
            if self._closing:
                raise ShuttingDown("the service is shutting down")
            try:
                self.queue.put_nowait((query, fut))
            except queue.Full:
                raise Overloaded(f"{self.queue.maxsize} requests are waiting already; retry later") from None
        return fut

    def close(self, timeout=None):
        """Take no new requests, answer the queued ones, stop the inference thread."""
        with self._lock:                          # no request is accepted after this
            if self._closing:
                return
            self._closing = True
        if self._thread.is_alive():
            self.queue.put(_STOP)                 # behind every request accepted so far (waits for room)
        self._thread.join(timeout)

    # ------------------------------------------------------------------ the inference thread
    def _loop(self):
        try:
            self.rec = self._load()
        except BaseException as e:           # noqa: BLE001  (reported to the server, which stops)
            self.failed = e
            if self.on_failure:
                self.on_failure(e)
            return
        self.ready.set()
        stop, busy = False, False
        while not stop:
            first = self.queue.get()
            if first is _STOP:
                break
            batch, stop = self._collect(first, self.window if busy else 0.0)
            self._run(batch)
            busy = len(batch) > 1 or not self.queue.empty()

    def _collect(self, first, window):
        """``first`` and the requests queued or arriving within ``window`` seconds (at most ``max_batch``); whether
        STOP came."""
        batch, deadline = [first], time.monotonic() + window
        while len(batch) < self.max_batch:
            left = deadline - time.monotonic()
            try:
                item = self.queue.get(timeout=left) if left > 0 else self.queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch + self._drain(), True
            batch.append(item)
        return batch, False

    def _drain(self):
        out = []
        while True:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                return out

    def _run(self, batch):
        live = [(q, f) for q, f in batch if f.set_running_or_notify_cancel()]    # a client may have gone
        for start in range(0, len(live), self.max_batch):
            part = live[start:start + self.max_batch]
            t0 = time.perf_counter()
            try:
                answers = self.rec.run([q for q, _ in part])
            except Exception as e:               # noqa: BLE001  (each waiting request gets the error)
                log.exception("batch of %d request(s) failed", len(part))
                for _, f in part:
                    f.set_exception(e)
                continue
            for (_, f), rows in zip(part, answers):
                f.set_result(rows)
            self.batches += 1
            log.info("batch %d: %d request(s) in %.1f ms, %d queued", self.batches, len(part),
                     1000 * (time.perf_counter() - t0), self.queue.qsize())
