"""Which MindSpore CPU knobs speed up cost-ms's training steps: graph-kernel fusion, kernel threads?

The speed issue asked to try MindSpore's fusion options (AKG, ``enable_graph_kernel``) and measured the kernel
thread count at the generator's TIGER size with no effect. This times, each variant in its own process and
alternating when ``--repeats`` > 1:

* the tokenizer (``train_rqvae`` with ``configs/amazon-beauty-cpu.yaml``'s settings and one CPU kernel thread,
  its default, on centred Beauty MiniLM embeddings; median epoch after the first of ``--epochs``):
  ``tok-off`` (no fusion), ``tok-gk`` (fusion, environment as it comes), ``tok-gk-passive`` (fusion with
  ``OMP_WAIT_POLICY=passive``: the fused CPU kernels run on OpenMP threads, which otherwise spin between kernels);
* the generator's train step at TIGER's size (``configs/amazon-office.yaml``: 4+4 layers, d_model 128, ffn 1024;
  batch 256 in 8 micro-batches, history 20 = 81 source tokens, AdamW; median of ``--steps`` steps after one):
  ``gen-off`` and ``gen-gk-passive``;
* the generator's train step at the CPU config (``configs/amazon-office-tiger-cpu.yaml``: 2+2 layers, ffn 512; whole
  batches of 256, its recipe) with MindSpore's default kernel threads, 1 and 2: ``gen-cpu-threads0``,
  ``gen-cpu-threads1``, ``gen-cpu-threads2``; and ``gen-cpu-dp2``: two data-parallel workers under ``msrun``
  (``scripts/run_distribute_train.sh``'s launcher), one kernel thread and 128 rows each, gradients averaged
  (``World.grad_reducer``): an update of the same size (each worker draws its own rows). Its samples/s counts
  both workers; its peak RSS is the sum
  (``gen-cpu-dp2-threads0``: the same with MindSpore's default kernel threads in each worker);
* ``-async`` variants: the same with MindSpore's asynchronous host pipeline (``run.cpu_host_blocking: false``),
  whose queue the Python thread busy-waits on; every other variant launches from the Python thread (the default);
* ``torch-cpu``: the PyTorch twin (``benchmarks/torch_twin.py``) at the CPU config on the same batches, whole
  batches, AdamW, torch's default threads (the yardstick; ``twin.py`` does the same on real Office batches).

The generator's batches are random tokens of a 64/64/64/8 vocabulary (no data set needed; a step's time does
not depend on the token values).

Fusion needs the ``decorator`` package (MindSpore's kernel compiler imports it; without it compilation fails).
The children run in a temporary folder, where AKG writes its kernel files (``akg_kernel_meta/``,
``dsa_transfrom.log``). Fusion is not a cost-ms option: on this CPU it did not pay (docs/PERFORMANCE.md).

    python -m cost_ms embed configs/amazon-beauty-cpu.yaml       # once: runs/amazon-beauty/embed-minilm
    python benchmarks/cpu_knobs.py [--epochs 4] [--steps 6] [--repeats 1] [--variants ...] [--name cpu_knobs]
"""
import argparse
import glob
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, child, peak_rss_mb, report

EMB = os.path.join(ROOT, "runs", "amazon-beauty", "embed-minilm", "item_emb.npy")
# variant -> (extra environment, MindSpore CPU kernel threads: 0 = its default)
VARIANTS = {"tok-off": ({}, 1), "tok-gk": ({}, 1), "tok-gk-passive": ({"OMP_WAIT_POLICY": "passive"}, 1),
            "gen-off": ({}, 0), "gen-gk-passive": ({"OMP_WAIT_POLICY": "passive"}, 0),
            "gen-cpu-threads0": ({}, 0), "gen-cpu-threads1": ({}, 1), "gen-cpu-threads2": ({}, 2),
            "gen-cpu-dp2": ({}, 1), "gen-cpu-dp2-threads0": ({}, 0), "torch-cpu": ({}, 0),
            # MindSpore's asynchronous host pipeline (run.cpu_host_blocking: false), the default before it
            "tok-off-async": ({}, 1), "gen-off-async": ({}, 0), "gen-cpu-threads0-async": ({}, 0),
            "gen-cpu-threads1-async": ({}, 1), "gen-cpu-dp2-async": ({}, 1)}
DATA_PARALLEL = ("gen-cpu-dp2", "gen-cpu-dp2-threads0", "gen-cpu-dp2-async")   # run under msrun, 2 workers
# the generator's batches in both frameworks: 256 rows, history 20 items of 4 tokens plus the user token
BATCH, SRC_LEN, LEVEL_SIZES = 256, 1 + 20 * 4, [64, 64, 64, 8]


def _runtime(variant):
    import mindspore as ms

    from cost_ms.runtime import init_runtime
    if "-gk" in variant:
        ms.set_context(enable_graph_kernel=True)      # deprecated name; jit_level O1 does not fuse on CPU
    init_runtime("CPU", "graph", 0, cpu_threads=VARIANTS[variant][1], host_blocking=not variant.endswith("-async"))


def tokenizer(variant, epochs):
    import numpy as np

    from cost_ms.config import load_config
    from cost_ms.tokenizer.trainer import train_rqvae
    _runtime(variant)
    tc = load_config(os.path.join(ROOT, "configs", "amazon-beauty-cpu.yaml")).tokenizer.replace(
        epochs=epochs, ckpt_every_steps=0)
    emb = np.load(EMB).astype(np.float32)
    emb -= emb.mean(0, keepdims=True)
    with tempfile.TemporaryDirectory() as tmp:
        _, hist = train_rqvae(tc, emb, tmp, 2024, progress=False)
    med = statistics.median(h["seconds"] for h in hist[1:])
    return {"part": "tokenizer", "unit": "ms/step", "value": 1000 * med / (len(emb) // tc.batch_size),
            "first_s": hist[0]["seconds"], "final_loss": hist[-1]["loss"]}


def _batches(bs, src_len, vocab_size, seed):
    """Four random ``(src [bs, src_len], dec_in [bs, 4], target [bs, 4])`` int32 batches."""
    import numpy as np
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(4):
        tgt = rng.integers(3, 3 + 64, (bs, 4)).astype(np.int32)
        src = rng.integers(3, vocab_size, (bs, src_len)).astype(np.int32)
        out.append((src, np.concatenate([np.zeros((bs, 1), np.int32), tgt[:, :-1]], 1), tgt))
    return out


def _median_rate(run, n, steps):
    """(samples/s over the median of ``steps`` timed calls after one untimed, first call s, last loss)."""
    t = time.time()
    loss = run(0)
    first = time.time() - t
    secs = []
    for i in range(steps):
        t = time.time()
        loss = run(i % 4)
        secs.append(time.time() - t)
    return n / statistics.median(secs), first, loss


def torch_generator(variant, steps):
    """The PyTorch twin (benchmarks/torch_twin.py) at the CPU config, whole batches, AdamW as twin.py trains it."""
    import torch

    from cost_ms.config import load_config
    from cost_ms.generator.vocab import Vocab
    from torch_twin import create_twin, loss_and_accuracy
    gc = load_config(os.path.join(ROOT, "configs", "amazon-office-tiger-cpu.yaml")).generator
    vocab = Vocab(LEVEL_SIZES, gc.user_buckets)
    torch.manual_seed(0)
    model = create_twin(gc, vocab.size, SRC_LEN, vocab.length)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, eps=1e-6, weight_decay=gc.weight_decay)
    batches = [tuple(torch.from_numpy(x).long() for x in b) for b in _batches(BATCH, SRC_LEN, vocab.size, 0)]
    model.train()

    def run(i):
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_and_accuracy(model, *batches[i])
        loss.backward()
        opt.step()
        return float(loss.item())
    rate, first, loss = _median_rate(run, BATCH, steps)
    return {"part": f"torch twin (cpu, whole batches, {torch.get_num_threads()} threads)", "unit": "samples/s",
            "value": rate, "first_s": first, "final_loss": loss}


def generator(variant, steps):
    from types import SimpleNamespace

    from mindspore import Tensor, nn

    from cost_ms.config import load_config
    from cost_ms.engine import make_train_step
    from cost_ms.generator import build_network
    from cost_ms.generator.transformer import Seq2SeqWithLoss
    from cost_ms.generator.vocab import Vocab
    from cost_ms.parallel import init_world
    _runtime(variant)
    w = init_world(variant in DATA_PARALLEL)
    cpu = variant.startswith("gen-cpu")
    cfg = load_config(os.path.join(ROOT, "configs", "amazon-office-tiger-cpu.yaml" if cpu else "amazon-office.yaml"))
    gc, bs = cfg.generator, BATCH // w.size
    vocab = Vocab(LEVEL_SIZES, gc.user_buckets)
    net = build_network(cfg, SimpleNamespace(vocab=vocab, src_len=SRC_LEN))
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=1e-3, weight_decay=gc.weight_decay)
    step = make_train_step(Seq2SeqWithLoss(net), opt, jit=True, mean_outputs=2, micro_batches=1 if cpu else 8,
                           grad_reducer=w.grad_reducer(opt.parameters), world_size=w.size)
    net.set_train(True)
    batches = [tuple(Tensor(x) for x in b) for b in _batches(bs, SRC_LEN, vocab.size, w.rank)]
    rate, first, loss = _median_rate(lambda i: float(step(*batches[i])[0].asnumpy()), bs * w.size, steps)
    part = "generator (cpu, whole batches)" if cpu else "generator (tiger, 8 micro-batches)"
    if w.distributed:
        part = f"generator (cpu, {w.size} workers x {bs} rows)"
    return {"part": part, "unit": "samples/s", "value": rate,
            "first_s": first, "final_loss": loss, "rank": w.rank}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def msrun(variant, args, env, work, workers=2):
    """``variant`` on ``workers`` msrun workers; each writes its JSON line to ``--json-out``.RANK."""
    out = os.path.join(work, variant)
    for r in range(workers):                     # a repeat must not read the previous repeat's rows
        if os.path.exists(f"{out}.{r}"):
            os.remove(f"{out}.{r}")
    cmd = ["msrun", "--worker_num", str(workers), "--local_worker_num", str(workers), "--master_port",
           str(_free_port()), "--log_dir", out + "-logs", "--join", "True",
           os.path.abspath(__file__), "--variant", variant, "--json-out", out, *args]
    # msrun starts each worker with the `python` on PATH: make it this interpreter
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work,
                          env={**os.environ, "GLOG_v": "3", "PATH": path, **env})
    if proc.returncode:
        logs = "".join(open(f).read()[-1500:] for f in sorted(glob.glob(out + "-logs/worker_*.log")))
        raise SystemExit(f"{variant} failed under msrun:\n{proc.stdout[-1000:]}{proc.stderr[-1000:]}\n{logs}")
    rows = []
    for r in range(workers):
        with open(f"{out}.{r}") as f:
            rows.append(json.load(f))
    return dict(rows[0], peak_rss_mb=sum(r["peak_rss_mb"] for r in rows))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--name", default="cpu_knobs", help="writes benchmarks/results/NAME.json")
    p.add_argument("--json-out", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.variant:
        run = (tokenizer if a.variant.startswith("tok") else
               torch_generator if a.variant.startswith("torch") else generator)
        out = run(a.variant, a.epochs if run is tokenizer else a.steps)
        line = json.dumps({"variant": a.variant, **out, "peak_rss_mb": peak_rss_mb()})
        if a.json_out:
            with open(f"{a.json_out}.{out.get('rank', 0)}", "w") as f:
                f.write(line)
        print(line)
        return
    names = a.variants.split(",")
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if os.path.basename(a.name) != a.name:
        raise SystemExit(f"--name is a file name under benchmarks/results/, not a path: {a.name!r}")
    if any(v.startswith("tok") for v in names) and not os.path.isfile(EMB):
        raise SystemExit(f"no {EMB}: run `python -m cost_ms embed configs/amazon-beauty-cpu.yaml` first")
    runs = {v: [] for v in names}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(a.repeats):
            for v in names:
                env = dict(VARIANTS[v][0], MS_COMPILER_CACHE_PATH=os.path.join(work, "kernels"),
                           PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "benchmarks")]))
                args = ["--epochs", str(a.epochs), "--steps", str(a.steps)]
                runs[v].append(msrun(v, args, env, work) if v in DATA_PARALLEL else
                               child(os.path.abspath(__file__), v, *args, env=env, cwd=work))
    rows = []
    for v, rs in runs.items():
        best = (min if rs[0]["unit"] == "ms/step" else max)(rs, key=lambda r: r["value"])
        rows.append(dict(best, all=[round(r["value"], 2) for r in rs]))
    report(a.name, rows, ["variant", "part", "value", "unit", "all", "first_s", "final_loss", "peak_rss_mb"],
           {"epochs": a.epochs, "steps": a.steps, "repeats": a.repeats, "device": "CPU"})


if __name__ == "__main__":
    sys.exit(main())
