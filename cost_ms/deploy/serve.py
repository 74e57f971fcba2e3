"""``python -m cost_ms serve RUN_DIR|EXPORT_DIR [--host 127.0.0.1] [--port 8000]``: FastAPI + uvicorn.

* ``POST /recommend`` with a request of :mod:`.requests` -> ``{"items": [{"item_id", "title", "score"}], "k",
  "history_excluded"}`` (and ``"user"``, ``"warning"`` when they apply). A bad request (malformed JSON, an
  unknown field or item id, an empty history, ``k`` above the beam) is answered 400 or 422 before it is queued, a
  body above ``--max-body`` 413, a full queue or a model still loading 503; every error body is ``{"error":
  "<one line>"}``, and no bad request reaches the beam search.
* ``GET /health``: 200 ``{"status": "ready", ...}`` once the model is loaded and every graph compiled (each batch
  size and input width ran once), 503 ``{"status": "loading"}`` before.

Requests are micro-batched on one inference thread (:mod:`.batching`). On SIGINT/SIGTERM uvicorn stops accepting
connections and waits for the requests in flight, which the inference thread answers before it stops.
"""
import asyncio
import json
import logging
import signal
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from ..errors import CostError
from .batching import MicroBatcher, Overloaded, ShuttingDown
from .requests import answer, to_query

log = logging.getLogger("cost_ms.serve")


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 32
    window: float = 0.02           # seconds a batch waits for more requests under load (cost_ms.deploy.batching)
    queue: int = 256
    max_body: int = 65536
    device: str = None

    def check(self):
        for name in ("max_batch", "queue", "max_body"):
            if getattr(self, name) < 1:
                raise CostError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.window < 0:
            raise CostError(f"--window-ms must be >= 0, got {self.window * 1000:g}")
        if not 0 <= self.port <= 65535:
            raise CostError(f"--port must be in 0..65535, got {self.port}")


class BodyTooLarge(Exception):
    pass


def check_model(folder):
    """Refuse a folder that is neither a finished run nor an intact export, before the server starts."""
    from .manifest import is_export, read_manifest
    if is_export(folder):
        read_manifest(folder)
    else:                       # a run folder: the training code is loaded anyway
        from ..generator.run import STAGE
        from ..io import read_meta
        read_meta(folder, STAGE)


def load_model(folder, opts):
    """Open ``folder`` (a run's graphs for batch sizes 1 and ``max_batch``; an export's own) and compile every graph."""
    from ..generator.recommend import open_model
    rec = open_model(folder, opts.device, batch_sizes=sorted({1, opts.max_batch}))
    rec.warm_up()
    log.info("ready: %s, beam %d, batch sizes %s, widths %s", rec.name, rec.beam, rec.searcher.sizes,
             rec.searcher.widths)
    return rec


async def _read_body(request, limit):
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > limit:
        raise BodyTooLarge
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(batcher, opts):
    """The FastAPI app over a started-or-not :class:`MicroBatcher` (its lifespan starts and closes it)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    def error(status, message):
        return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await asyncio.get_running_loop().run_in_executor(None, batcher.close)
        log.info("stopped after %d batch(es)", batcher.batches)

    app = FastAPI(title="cost-ms recommendations", lifespan=lifespan)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        return error(exc.status_code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        return error(422, "; ".join(str(e.get("msg", e)) for e in exc.errors()))

    @app.get("/health")
    async def health():
        if not batcher.ready.is_set():
            return JSONResponse({"status": "failed" if batcher.failed else "loading"}, status_code=503)
        rec = batcher.rec
        return {"status": "ready", "dataset": rec.name, "items": rec.num_items, "beam_size": rec.beam,
                "batch_sizes": rec.searcher.sizes, "max_batch": batcher.max_batch,
                "exclude_history": rec.exclude_history}

    @app.post("/recommend")
    async def recommend(request: Request):
        if not batcher.ready.is_set():
            return error(503, "the model is still loading; GET /health says when it is ready")
        try:
            body = await _read_body(request, opts.max_body)
        except BodyTooLarge:
            return error(413, f"request body above {opts.max_body} bytes")
        try:
            obj = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            return error(400, f"body is not valid JSON ({getattr(e, 'msg', e)})")
        try:
            query = to_query(batcher.rec, obj)
        except CostError as e:
            return error(422, e)
        try:
            rows = await asyncio.wrap_future(batcher.submit(query))
        except (Overloaded, ShuttingDown) as e:
            return error(503, e)
        return answer(batcher.rec, query, rows)

    return app


def _check_address(host, port):
    """A one-line error now, rather than uvicorn's exit after the model has loaded, when the address is taken."""
    import socket
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(info[0], socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(info[4])
    except OSError as e:
        raise CostError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def _server_class(uvicorn):
    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self):
            """SIGINT/SIGTERM stop the server gracefully and the command then returns (exit status 0), instead of
            uvicorn's re-raising the signal once it has stopped."""
            old = {s: signal.signal(s, self.handle_exit) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, handler in old.items():
                    signal.signal(s, handler)
    return Server


def serve(folder, opts):
    """Run the service until SIGINT/SIGTERM; a model that fails to load stops it with a :class:`CostError`."""
    import uvicorn
    opts.check()
    check_model(folder)
    _check_address(opts.host, opts.port)
    holder = {}

    def failed(exc):
        log.error("the model did not load: %s", exc)
        holder["server"].should_exit = True

    batcher = MicroBatcher(lambda: load_model(folder, opts), opts.max_batch, opts.window, opts.queue, failed)
    config = uvicorn.Config(create_app(batcher, opts), host=opts.host, port=opts.port, log_config=None,
                            access_log=False, lifespan="on")
    holder["server"] = server = _server_class(uvicorn)(config)
    log.info("serving %s on http://%s:%d (max batch %d, window %.1f ms, queue %d)", folder, opts.host, opts.port,
             opts.max_batch, 1000 * opts.window, opts.queue)
    server.run()
    if batcher.failed is not None:
        e = batcher.failed
        raise e if isinstance(e, CostError) else CostError(f"the model did not load: {e}")
