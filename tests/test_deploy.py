"""Deploying a trained run: the MindIR export answers as the run folder does, in a new process and without the
training code; a bad export is refused with one line; the HTTP service answers concurrent valid requests as
``recommend`` does and every bad one with a 4xx and a message; the micro-batcher's queue is bounded and drains on
close.

Both architectures are exported from one tiny trained run (the real CLI throughout); what the run folder answers
(``recommend RUN --input``, one process per architecture) is the reference every other answer is held to:
the same items, scores within rtol 1e-6, items whose scores tie within that tolerance in either order.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cost_ms.errors import CostError
from tests.conftest import ROOT
from tests.test_bad_input import snapshot
from tests.test_kill_resume import CFG, ENV, SMALL, _copy, base, cli  # noqa: F401  (base is a fixture)

ARCHS = {"causal": ("generator-causal-minilm-rqvae-co", ["--set", "generator.arch=causal",
                                                         "--set", "generator.window_stride=2"]),
         "tiger": ("generator-minilm-rqvae-co", [])}
BATCH_SIZES = "1,4"


def _requests(prep):
    """Several histories, with and without history exclusion, an exclude list and a candidate set."""
    ids = prep.items["item_id"].astype(str).tolist()
    seqs = list(prep.sequences.values())
    out = [{"user": f"u{j}", "history": [ids[i] for i in seqs[j][:2 + j]]} for j in range(7)]
    out[1]["exclude_history"] = False
    out[2]["k"] = 3
    out[3]["exclude"] = [ids[i] for i in range(0, 400, 7)]
    out[4]["candidates"] = ids[100:160]
    return out


def _write_jsonl(path, rows):
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return str(path)


def _read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def assert_same_top_k(got, want):
    """The same items and scores (rtol 1e-6); items whose scores tie within that tolerance may swap."""
    assert len(got) == len(want), (got, want)
    np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in want], rtol=1e-6)
    assert len({r["item_id"] for r in got}) == len(got)
    for g, w in zip(got, want):
        tied = {r["item_id"] for r in want if np.isclose(r["score"], w["score"], rtol=1e-6, atol=0)}
        assert g["item_id"] in tied, (g, w)


@pytest.fixture(scope="module")
def deployed(base, tmp_path_factory):
    """One trained run with both architectures, each exported, and the run folder's answers to ``_requests``."""
    from cost_ms.data import load
    run = _copy(base, tmp_path_factory.mktemp("deploy") / "run")
    cli("tokenize", CFG, "--out", run, *SMALL)
    prep = load(os.path.join(run, "data"))
    reqs = _requests(prep)
    users = _write_jsonl(os.path.join(run, "users.jsonl"), reqs)
    out = {}
    for arch, (folder, extra) in ARCHS.items():
        cli("train", CFG, "--out", run, *SMALL, "--set", "generator.epochs=1", *extra)
        gen, exp = os.path.join(run, folder), os.path.join(run, f"export-{arch}")
        cli("export", gen, "--out", exp, "--batch-sizes", BATCH_SIZES)
        want = os.path.join(run, f"recs-{arch}.jsonl")
        cli("recommend", gen, "--input", users, "--output", want)
        out[arch] = (gen, exp, _read_jsonl(want))
    return run, prep, reqs, users, out


def test_export_writes_graphs_plain_files_and_a_manifest(deployed):
    _, prep, _, _, out = deployed
    for arch, (gen, exp, _) in out.items():
        with open(os.path.join(exp, "manifest.json")) as f:
            man = json.load(f)
        assert man["arch"] == arch and man["dataset"] == prep.name and man["beam_size"] == 10
        assert man["protocol"] == {"exclude_history": True} and man["tokenizer_tag"] == "minilm-rqvae-co"
        levels = len(man["vocab"]["level_sizes"])
        assert len(man["graphs"]) == 2 * levels * len(man["decoding"]["widths"])
        assert {(g["batch"], g["level"]) for g in man["graphs"]} == {(b, t) for b in (1, 4) for t in range(levels)}
        assert all(os.path.isfile(os.path.join(exp, g["file"])) and g["inputs"] and g["outputs"]
                   for g in man["graphs"])
        assert set(man["files"]) == {g["file"] for g in man["graphs"]} | {"codes.npy", "trie.npz", "items.json"}
        np.testing.assert_array_equal(np.load(os.path.join(exp, "codes.npy")).shape, (prep.num_items, levels))
        assert len(man["weights_sha256"]) == 64


def test_the_export_answers_as_the_run_folder_in_a_new_process(deployed, tmp_path):
    """``recommend EXPORT --input`` (the CLI) and ``Recommender.from_export`` in a fresh interpreter, which imports
    no training code, config or data loader, give the run folder's top-k for every request."""
    _, _, reqs, users, out = deployed
    for arch, (_, exp, want) in out.items():
        got = str(tmp_path / f"{arch}.jsonl")
        cli("recommend", exp, "--input", users, "--output", got)
        for g, w in zip(_read_jsonl(got), want, strict=True):
            assert g["user"] == w["user"] and g["history_excluded"] == w["history_excluded"]
            assert_same_top_k(g["items"], w["items"])
        probe = ("import json, sys\n"
                 "from cost_ms.generator.recommend import Recommender\n"
                 "from cost_ms.deploy.requests import to_query\n"
                 f"rec = Recommender.from_export({exp!r})\n"
                 f"reqs = [json.loads(line) for line in open({users!r})]\n"
                 "rows = rec.run([to_query(rec, r) for r in reqs])\n"
                 "print(json.dumps({'rows': rows, 'modules': sorted(sys.modules)}))\n")
        proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=ENV, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        for g, w in zip(res["rows"], want, strict=True):
            assert_same_top_k(g, w["items"])
        mods = set(res["modules"])
        assert "mindspore" in mods and "cost_ms.deploy.graphs" in mods
        training = {"cost_ms.config", "cost_ms.data", "cost_ms.engine", "cost_ms.tokenizer", "cost_ms.layers",
                    "cost_ms.generator.run", "cost_ms.generator.transformer", "cost_ms.generator.causal",
                    "cost_ms.generator.incremental", "cost_ms.generator.decoders", "cost_ms.generator.inputs",
                    "cost_ms.generator.trainer", "cost_ms.deploy.export", "cost_ms.deploy.cells", "pandas", "yaml"}
        assert not training & mods, sorted(training & mods)
    assert len(reqs) == len(want)


def test_restrictions_hold_in_the_answers(deployed):
    _, prep, reqs, _, out = deployed
    ids = prep.items["item_id"].astype(str).tolist()
    for _, _, want in out.values():
        assert [len(w["items"]) for w in want] == [r.get("k", 10) for r in reqs]
        assert not {i["item_id"] for i in want[0]["items"]} & set(reqs[0]["history"])
        assert not {i["item_id"] for i in want[3]["items"]} & (set(reqs[3]["exclude"]) | set(reqs[3]["history"]))
        assert {i["item_id"] for i in want[4]["items"]} <= set(ids[100:160]) - set(reqs[4]["history"])


def _chmod_copy(src, dst):
    run = _copy(src, dst)
    for root, _, files in os.walk(run):
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    return run


@pytest.mark.parametrize("change, message", [
    ("version", "is an export of format version 99; this cost-ms reads version 1"),
    ("missing", "export file missing: "),
    ("altered", "was altered: its SHA-256 differs from manifest.json"),
    ("none", "is not an export (no manifest.json)"),
])
def test_a_changed_export_is_refused_with_one_line(deployed, tmp_path, change, message):
    from cost_ms.deploy.graphs import load_export
    exp = _chmod_copy(deployed[4]["causal"][1], tmp_path / "exp")
    man_path = os.path.join(exp, "manifest.json")
    with open(man_path) as f:
        man = json.load(f)
    if change == "version":
        man["version"] = 99
        with open(man_path, "w") as f:
            json.dump(man, f)
    elif change == "missing":
        os.remove(os.path.join(exp, man["graphs"][-1]["file"]))
    elif change == "altered":
        with open(os.path.join(exp, "items.json"), "r+") as f:
            f.write(" ")
    else:
        os.remove(man_path)
    with pytest.raises(CostError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_export(exp)
    if change == "altered":                # the CLI: one error line, exit status 2, nothing written
        users, before = deployed[3], snapshot(tmp_path)
        proc = subprocess.run([sys.executable, "-m", "cost_ms", "recommend", exp, "--input", users, "--output",
                               str(tmp_path / "recs.jsonl")], cwd=ROOT, env=ENV, capture_output=True, text=True,
                              timeout=600)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
        assert snapshot(tmp_path) == before


def test_an_export_is_hashed_once_per_process_until_a_file_changes(tmp_path, monkeypatch):
    """serve checks an export, then loads it: the second read_manifest must not read every MindIR again, and a file
    changed in between is still refused."""
    from cost_ms.deploy import manifest as mf
    for name, data in (("codes.npy", b"c" * 64), ("trie.npz", b"t" * 64), ("items.json", b"[]")):
        (tmp_path / name).write_bytes(data)
    files = mf.file_hashes(str(tmp_path), ["codes.npy", "trie.npz", "items.json"])
    (tmp_path / mf.MANIFEST).write_text(json.dumps({"format": mf.FORMAT, "version": mf.VERSION, "files": files,
                                                    "graphs": []}))
    hashed = []
    real = mf.sha256
    monkeypatch.setattr(mf, "sha256", lambda path: hashed.append(os.path.basename(path)) or real(path))
    first = mf.read_manifest(str(tmp_path))
    assert sorted(hashed) == sorted(files) and mf.read_manifest(str(tmp_path)) == first
    assert len(hashed) == len(files)                               # the second call hashed nothing
    (tmp_path / "items.json").write_bytes(b"[1]")                  # another size: hashed again, and refused
    with pytest.raises(CostError, match="items.json was altered"):
        mf.read_manifest(str(tmp_path))
    with pytest.raises(CostError, match="items.json was altered"):  # a refusal is not remembered as checked
        mf.read_manifest(str(tmp_path))


def test_a_bad_line_in_the_input_file_writes_nothing(deployed, tmp_path):
    exp, reqs = deployed[4]["causal"][1], deployed[2]
    users = _write_jsonl(tmp_path / "users.jsonl", [reqs[0], {"history": ["no-such-item"]}])
    proc = subprocess.run([sys.executable, "-m", "cost_ms", "recommend", exp, "--input", users, "--output",
                           str(tmp_path / "recs.jsonl")], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: {users} line 2: unknown item id(s) ['no-such-item'] (not in ml-latest-small's item table)")
    assert not os.path.exists(tmp_path / "recs.jsonl")


# ------------------------------------------------------------------ the HTTP service
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url, body, timeout=120):
    """``(status, parsed JSON body)``; ``body`` bytes or an object to send as JSON."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _wait_ready(proc, url, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "serve exited before it was ready"
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail("serve was not ready in time")


BAD = [  # (body, status, words of the message)
    ({"history": ["no-such-item"]}, 422, "unknown item id(s) ['no-such-item']"),
    ({"history": []}, 422, "history is empty"),
    ({"history": ["1"], "k": 50}, 422, "k = 50 is larger than generator.beam_size (10)"),
    ({"history": ["1"], "k": "ten"}, 422, "k must be a whole number >= 1"),
    ({"history": ["1"], "colour": "red"}, 422, "unknown field(s) ['colour']"),
    ({"history": ["1"], "candidates": []}, 422, "candidates is empty"),
    (b'{"history": ["1", ', 400, "body is not valid JSON"),
    (json.dumps({"history": ["1"] * 2000}).encode(), 413, "request body above 4096 bytes"),
]


def test_serve_answers_concurrent_requests_as_recommend_and_refuses_bad_ones(deployed, tmp_path):
    run, prep, reqs, _, out = deployed
    exp, want = out["causal"][1], out["causal"][2]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "cost_ms", "serve", exp, "--host", "127.0.0.1", "--port",
                                 str(port), "--max-batch", "4", "--window-ms", "20", "--max-body", "4096"],
                                cwd=ROOT, env=ENV, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        health = _wait_ready(proc, url)
        assert health["status"] == "ready" and health["batch_sizes"] == [1, 4]
        jobs = [("ok", i) for i in range(len(reqs))] * 2 + [("bad", i) for i in range(len(BAD))]
        jobs = [jobs[i] for i in np.random.default_rng(0).permutation(len(jobs))]
        items = {"1": prep.items["item_id"].astype(str).iloc[0]}   # the bad requests name a real item as "1"
        with ThreadPoolExecutor(12) as pool:
            def send(job):
                kind, i = job
                if kind == "ok":
                    return job, _post(url + "/recommend", reqs[i])
                body = BAD[i][0]
                if isinstance(body, dict):
                    body = {**body, "history": [items.get(h, h) for h in body["history"]]}
                return job, _post(url + "/recommend", body)
            answers = list(pool.map(send, jobs))
        for (kind, i), (status, body) in answers:
            if kind == "ok":
                assert status == 200, body
                assert body["user"] == want[i]["user"]
                assert_same_top_k(body["items"], want[i]["items"])
            else:
                assert status == BAD[i][1], (BAD[i], status, body)
                assert set(body) == {"error"} and "\n" not in body["error"] and BAD[i][2] in body["error"], body
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log_path.read_text()
    assert proc.returncode == 0, text[-3000:]
    served = [int(line.split(": ")[1].split()[0]) for line in text.splitlines() if " batch " in line
              and "request(s) in" in line]
    assert sum(served) == 2 * len(reqs) and max(served) <= 4        # one log line per batch, every request in one


# ------------------------------------------------------------------ the micro-batcher alone (no MindSpore)
class _SlowModel:
    """Answers each query with its own history; blocks each batch until ``go`` is set."""

    def __init__(self):
        self.go, self.batches = threading.Event(), []

    def run(self, queries):
        self.go.wait(30)
        self.batches.append(len(queries))
        return [q for q in queries]


def test_the_queue_is_bounded_and_close_answers_every_queued_request():
    from cost_ms.deploy.batching import MicroBatcher, Overloaded, ShuttingDown
    model = _SlowModel()
    batcher = MicroBatcher(lambda: model, max_batch=2, window=0.0, queue_size=2)
    batcher.start()
    assert batcher.ready.wait(10)
    first = batcher.submit("a")                   # taken by the inference thread, which waits for `go`
    deadline = time.time() + 10
    while batcher.queue.qsize() and time.time() < deadline:
        time.sleep(0.01)
    queued = [batcher.submit(q) for q in "bc"]     # the queue holds two
    with pytest.raises(Overloaded, match="2 requests are waiting already"):
        batcher.submit("d")
    closer = threading.Thread(target=batcher.close)
    closer.start()
    deadline = time.time() + 10
    while not batcher._closing and time.time() < deadline:
        time.sleep(0.01)
    with pytest.raises(ShuttingDown):
        batcher.submit("e")
    model.go.set()
    closer.join(30)
    assert [f.result(5) for f in [first, *queued]] == ["a", "b", "c"]
    assert sum(model.batches) == 3 and max(model.batches) <= 2
