"""The HTTP service under bounded load on loopback: micro-batching against one request per beam-search call.

Each trained run is exported (``python -m cost_ms export``) into a scratch
folder, then served twice from that export by ``python -m cost_ms serve`` on 127.0.0.1:

* ``micro``: requests gathered into one beam-search call (``--max-batch``, ``--window-ms``), run on the
  smallest exported graph batch (``--batch-sizes``, default 1, 8, 32) that holds them;
* ``single``: ``--max-batch 1``, every request its own call on the batch-1 graphs.

Against each, 1, 8 and 32 concurrent clients (threads with keep-alive connections, all pinned to one core, which
the table reports) send a fixed number of requests: the run's test histories in order, the default protocol (history
excluded), k = 10, after a few untimed requests. Reported: requests/s, p50/p99 latency, requests that did not get a
200 (``lost``), and the mean batch the server logged. ``single`` at 1 client is the warm single-request latency.

::

    python benchmarks/serve_load.py runs/amazon-office/generator-causal-minilm-rqvae-co \\
        runs/amazon-office/generator-minilm-rqvae-co [--clients 1,8,32] [--scratch DIR]

Writes ``benchmarks/results/serve_load.json`` (``--name``). The server runs unpinned beside the client.
"""
import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from common import ROOT, report

REQUESTS = {1: 100, 8: 320, 32: 640}       # per client count: fixed, so every row sends the same work


def histories(run_dir, n):
    """The first ``n`` test histories of the run (item ids, oldest first), cycled when there are fewer."""
    from cost_ms.data import load
    from cost_ms.data.splits import Splits
    from cost_ms.io import read_meta
    prep = load(os.path.normpath(os.path.join(run_dir, read_meta(run_dir, "train")["data_dir"])))
    hist, _ = Splits(prep).histories("test")
    ids = prep.items["item_id"].astype(str).tolist()
    rows = [[ids[i] for i in hist[u]] for u in sorted(hist)]
    return [rows[j % len(rows)] for j in range(n)]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, export, max_batch, window_ms, log_path):
        self.port = _free_port()
        self.log_path = log_path
        env = {**os.environ, "GLOG_v": "3", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "cost_ms", "serve", export, "--port", str(self.port),
                                      "--max-batch", str(max_batch), "--window-ms", str(window_ms), "--queue", "1024"],
                                     cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 600
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"serve exited:\n{open(log_path).read()[-2000:]}")
            try:
                if _request(self.port, "GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise SystemExit("serve was not ready in 10 minutes")

    def batch_sizes(self):
        """Request counts of the batches logged so far."""
        return [int(m) for m in re.findall(r" batch \d+: (\d+) request", open(self.log_path).read())]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(120)
        self.log.close()


def _request(port, method, path, body=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r.status, data


def load(port, bodies, clients):
    """Send ``bodies`` from ``clients`` threads (each takes the next body); returns (seconds, latencies, statuses)."""
    lat, status, lock, nxt = [None] * len(bodies), [None] * len(bodies), threading.Lock(), iter(range(len(bodies)))

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                i = next(nxt, None)
            if i is None:
                break
            t = time.perf_counter()
            try:
                status[i] = _request(port, "POST", "/recommend", bodies[i], conn)[0]
            except OSError:
                status[i] = -1
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            lat[i] = time.perf_counter() - t
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, np.asarray(lat), status


def measure(label, export, bodies, mode, max_batch, window_ms, clients_list, core, scratch):
    server = Server(export, max_batch if mode == "micro" else 1, window_ms, os.path.join(scratch, f"{label}-{mode}.log"))
    rows = []
    try:
        all_cores = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {core})       # this thread and the client threads it starts
        try:
            load(server.port, bodies[:8], 2)  # untimed
            for clients in clients_list:
                n = REQUESTS.get(clients, 20 * clients)
                before = len(server.batch_sizes())
                secs, lat, status = load(server.port, bodies[:n], clients)
                batches = server.batch_sizes()[before:]
                rows.append({"model": label, "mode": mode, "clients": clients, "requests": n,
                             "lost": sum(s != 200 for s in status), "req_s": round(n / secs, 1),
                             "p50_ms": round(1000 * float(np.percentile(lat, 50)), 1),
                             "p99_ms": round(1000 * float(np.percentile(lat, 99)), 1),
                             "mean_batch": round(float(np.mean(batches)), 2) if batches else None})
                print(rows[-1], flush=True)
        finally:
            os.sched_setaffinity(0, all_cores)
    finally:
        server.stop()
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="trained generator folders (each exported into --scratch first)")
    p.add_argument("--clients", default="1,8,32")
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--batch-sizes", default="1,8,32", help="graph batch sizes to export")
    p.add_argument("--window-ms", type=float, default=20.0)
    p.add_argument("--core", type=int, default=0, help="the core the clients are pinned to")
    p.add_argument("--scratch", help="where exports and server logs go (default: a temp folder)")
    p.add_argument("--name", default="serve_load")
    a = p.parse_args()
    clients = [int(c) for c in a.clients.split(",")]
    scratch = a.scratch or tempfile.mkdtemp(prefix="serve_load.")
    rows, exports = [], {}
    for run in a.runs:
        label = os.path.basename(os.path.normpath(run))
        export = os.path.join(scratch, label)
        if not os.path.isfile(os.path.join(export, "manifest.json")):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "cost_ms", "export", run, "--out", export, "--batch-sizes",
                            a.batch_sizes], cwd=ROOT, check=True,
                           env={**os.environ, "GLOG_v": "3", "HF_HUB_OFFLINE": "1"})
            exports[label] = round(time.perf_counter() - t, 1)
        bodies = [json.dumps({"history": h, "k": 10}).encode() for h in histories(run, max(REQUESTS.values()))]
        for mode in ("micro", "single"):
            rows += measure(label, export, bodies, mode, a.max_batch, a.window_ms, clients, a.core, scratch)
    top = max(clients)
    for label in sorted({r["model"] for r in rows}):
        by = {(r["mode"], r["clients"]): r for r in rows if r["model"] == label}
        print(f"{label}: {top} clients, micro-batched / one per call = "
              f"{by['micro', top]['req_s'] / by['single', top]['req_s']:.2f}x requests/s; single request p50 "
              f"{by['single', min(clients)]['p50_ms']} ms at {min(clients)} client(s)")
    report(a.name, rows, ["model", "mode", "clients", "requests", "lost", "req_s", "p50_ms", "p99_ms", "mean_batch"],
           {"client_core": a.core, "cores": sorted(os.sched_getaffinity(0)), "max_batch": a.max_batch,
            "window_ms": a.window_ms, "batch_sizes": a.batch_sizes, "export_seconds": exports,
            "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
