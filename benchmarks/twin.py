"""cost-ms's generator (MindSpore, graph mode) against its PyTorch twin (benchmarks/torch_twin.py), same CPU, one run.

Both train the same model (same sizes, loss, AdamW) on the same real Amazon Office batches, built once by
cost-ms's own input pipeline (``GeneratorInputs``: samples, ``decoder_io``, ``bucket_batches``) and handed to
each child as one ``.npz``, then beam-search (beam 20, trie-constrained) the first ``--users`` test users.
Each (implementation, config, lengths) runs in its own process, so its peak RSS is its own, alternating A/B
(cost_ms, torch, cost_ms, torch, ...) over ``--repeats``::

    python -m cost_ms tokenize configs/amazon-office-tiger-cpu.yaml      # once: runs/amazon-office/tokenize-minilm-rqvae-co
    python benchmarks/twin.py [--config tiger wide384 cpu] [--steps 20] [--users 256] [--repeats 3] [--out PATH]
                              [--micro-tokens N] [--buckets 2,3,4,6,8,11,15] [--check]
    python benchmarks/twin.py --config cpu --steps 3 --users 16 --repeats 1 --out /tmp/twin-smoke.json   # smoke

lengths ``full``: every batch uses the full ``max_history`` (what PyTorch peers train on), the plan's first
``--steps`` batches. ``data``: cost-ms's length-bucket plan (``generator.length_buckets``, or ``--buckets``), each
batch cropped to its bucket, ``--steps`` batches of every bucket timed, and the rate weighted by one epoch's
batches per bucket (an epoch's samples over its time), so that it stands for the data's own length mix; the
twin still pads to full, as peers do, and is timed on the plan's first batches. Warm-up (one step per distinct
batch shape: MindSpore compiles one graph per shape; one beam batch) is not timed; ``compile_s`` reports it.
Constant lr (cost-ms's trainer uses a warm-up/cosine schedule; the cost per step is the same). cost-ms trains
with its CPU recipe of micro-batches per config, given as source tokens per compiled slice (``MICRO_TOKENS``,
``generator.micro_batch_tokens``; ``--micro-tokens N`` sets one for all): the same 256-sample update in the
fewest slices of at most N tokens, so a cropped batch runs in fewer, a short one whole (``--micro-batches K``:
K slices for every batch instead, ``generator.micro_batches``); the twin always trains whole batches.

Output (``--out``, default benchmarks/results/twin.json, written atomically): a list of rows, one per
(config, lengths); every measured field is ``{"cost_ms": S, "torch": S}`` with ``S = {"min", "median",
"all"}`` over the repeats: ``train_samples_per_s``, ``peak_rss_mb`` (VmHWM after training, before any beam
search), ``beam20_ms_per_user`` (measured in the ``full`` child only, and the same in both rows of a config;
users in batches of ``beam_batch`` = min(eval_batch_size, users), the last padded, as the Evaluator does:
cost-ms sorts users by history length and crops each batch to the narrowest length bucket that holds it, as
its Evaluator does; the twin pads every batch to the full history, as peers do) and ``beam_peak_rss_mb``. ``params`` are plain counts; ``threads``
are MindSpore's ``runtime_num_threads`` and torch's ``get_num_threads()`` (``--threads N`` sets both). On a busy
machine torch's OpenMP threads degrade badly when the cores are oversubscribed (seen here: beam search 7x
slower at 2 threads than at 1 under a load of 7 on 2 cores), so run it on a quiet machine. ``--check``
adds ``check``: cost-ms's weights copied into the twin, dropout off, losses, logits and beam results compared.
"""
import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

from common import ROOT, _fmt, child, machine, peak_rss_mb, write_json

BEAM = 20
# the tokenizer settings of configs/amazon-office-tiger-cpu.yaml (centred inputs), whose semantic IDs every config reads
COMMON = ["generator.batch_size=256", "generator.max_history=20", "tokenizer.center_inputs=true"]
CONFIGS = {   # name -> (config file, overrides)
    "tiger": ("amazon-office.yaml", []),    # TIGER's size (base.yaml): d 128, 6 x 64 heads, ffn 1024, 4+4 layers
    "wide384": ("amazon-office.yaml", ["generator.d_model=384", "generator.num_heads=6", "generator.head_dim=64",
                                       "generator.ffn_dim=1152"]),   # 14.4M parameters with the Office vocab
    "cpu": ("amazon-office-tiger-cpu.yaml", []),  # 2+2 layers, 4 x 32 heads, ffn 512
}
# cost-ms's CPU recipe per config (docs/PERFORMANCE.md, benchmarks/memory_step.py): micro-batches of the same
# 256-sample step (same update) where they save memory without costing speed; the twin trains whole batches.
# Given as source tokens per compiled slice (generator.micro_batch_tokens): on full-length batches (80 tokens)
# that is 8, 4 and 1 slices; a cropped batch gets fewer slices (the fewest that keep each under the budget)
MICRO_TOKENS = {"tiger": 2560, "wide384": 5120, "cpu": 20480}


def load_cfg(name, buckets=None):
    from cost_ms.config import load_config
    path, over = CONFIGS[name]
    extra = [f"generator.length_buckets=[{buckets}]"] if buckets is not None else []
    return load_config(os.path.join(ROOT, "configs", path), COMMON + over + extra)


def check_folders(name):
    """Exit with one line naming the command if the run folder lacks the data or the semantic IDs."""
    from cost_ms.stages import Stages          # no MindSpore import: the parent stays light
    st = Stages(load_cfg(name))
    for folder, cmd, need in ((st.data, "prepare", "meta.json"), (st.tokenize, "tokenize", "semantic_ids.npy")):
        if not os.path.exists(os.path.join(folder, need)):
            raise SystemExit(f"error: {folder}/{need} is missing; make it with: "
                             f"python -m cost_ms {cmd} configs/amazon-office-tiger-cpu.yaml")


def prepare(name, steps, users, path, tokens=0, buckets=None, micro=0):
    """Build the data with cost-ms's pipeline into ``path`` (.npz): training arrays, the batch plan, eval users.

    ``src [S, 80] int32``, ``dec_in/target [S, L]``, ``idx [B, 256]`` sample indices with ``size [B]``
    (the bucket, in items, cost-ms crops each batch to): the plan's first ``steps`` batches, then more plan
    batches until every bucket has ``steps`` of its own; ``epoch_batches`` one epoch's batch count per bucket;
    ``eval_src [U, 80]``, ``sid [N, L]``, the vocabulary (``level_sizes``, ``offsets``, ``vocab_size``, ``bos``)
    and the resolved config.
    """
    import numpy as np
    from cost_ms.generator import GeneratorInputs
    from cost_ms.generator.samples import decoder_io
    from cost_ms.generator.trainer import bucket_batches
    from cost_ms.generator.vocab import BOS
    from cost_ms.stages import Stages
    cfg = load_cfg(name, buckets).replace(generator={"micro_batch_tokens": 0 if micro else tokens,
                                                     "micro_batches": micro or 1})
    st = Stages(cfg)
    prep = st.prepared()
    inputs = GeneratorInputs(cfg, prep, st.semantic_ids(prep))
    gc = cfg.generator
    src, tgt_items = inputs.builder.training(inputs.train_seqs)
    dec_in, target = decoder_io(inputs.item_tok[tgt_items])
    buckets = inputs.buckets
    hist_items = (src != 0).sum(1) // inputs.vocab.length
    plan, epoch, epoch_batches = [], 0, None

    def short():                 # buckets with fewer than ``steps`` plan batches so far
        return len(plan) < steps or any(sum(s == b for s, _ in plan) < steps for b in buckets)
    while short():               # the trainer's own plan: epoch 0, then 1, ... of (seed, epoch)
        rng = np.random.default_rng([cfg.run.seed, epoch])
        plan += bucket_batches(hist_items, buckets, gc.batch_size, rng)
        if epoch_batches is None:
            epoch_batches = [sum(s == b for s, _ in plan) for b in buckets]
        epoch += 1
    keep_plan = plan[:steps]
    for b in buckets:            # then each bucket's next batches until it has ``steps`` of its own
        missing = steps - sum(s == b for s, _ in keep_plan)
        keep_plan += [q for q in plan[steps:] if q[0] == b][:max(0, missing)]
    hist, targets = inputs.histories("test")
    keep = sorted(hist)[:users]
    _, eval_src, _ = inputs.builder.evaluation({u: hist[u] for u in keep}, targets)
    np.savez(path, src=src, dec_in=dec_in, target=target, idx=np.stack([i for _, i in keep_plan]),
             size=np.array([s for s, _ in keep_plan]), buckets=np.array(buckets),
             epoch_batches=np.array(epoch_batches), eval_src=eval_src, sid=inputs.sid,
             level_sizes=np.array(inputs.vocab.level_sizes), offsets=inputs.vocab.offsets,
             vocab_size=np.array(inputs.vocab.size), bos=np.array(BOS), cfg=np.array(json.dumps(cfg.to_dict())),
             src_widths=np.array(inputs.src_widths))


@contextlib.contextmanager
def prepared(name, steps, users, tokens=0, buckets=None, micro=0):
    """The ``.npz`` of :func:`prepare` for config ``name`` in a temporary folder, removed on exit. Built in a
    child process, so that the caller never imports MindSpore (its peak RSS stays its children's own)."""
    tmp = tempfile.mkdtemp(prefix=f"twin-{name}-")
    try:
        path = os.path.join(tmp, f"{name}.npz")
        child(os.path.abspath(__file__), "prepare", "--config", name, "--steps", str(steps), "--users", str(users),
              "--data", path, "--micro-tokens", str(tokens), "--micro-batches", str(micro), *(["--buckets", buckets] if buckets is not None else []))
        yield path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Data:
    """The .npz of :func:`prepare`. Imports NumPy only: importing any ``cost_ms.generator`` module would
    import MindSpore (the package's ``__init__``), and the twin's child must not pay for it."""

    def __init__(self, path):
        import numpy as np

        from cost_ms.config import Config
        z = np.load(path)
        self.__dict__.update({k: z[k] for k in z.files if k != "cfg"})
        self.cfg = Config.from_dict(json.loads(str(z["cfg"])), path)
        self.gc = self.cfg.generator
        self.level_sizes, self.offsets = [int(x) for x in self.level_sizes], [int(x) for x in self.offsets]
        self.vocab_size, self.bos = int(self.vocab_size), int(self.bos)
        self.micro_tokens, self.micro_fixed = int(self.gc.micro_batch_tokens), int(self.gc.micro_batches)
        self.buckets, self.epoch_batches = [int(x) for x in self.buckets], [int(x) for x in self.epoch_batches]
        self.src_widths = [int(x) for x in self.src_widths]
        self.length, self.src_len = len(self.level_sizes), self.src.shape[1]
        self.beam_batch = min(self.gc.eval_batch_size, len(self.eval_src))

    def batch(self, i, lengths):
        """Plan batch ``i`` as NumPy ``(src, dec_in, target)``; ``data`` crops ``src`` to its bucket."""
        idx = self.idx[i]
        cols = self.size[i] * self.length if lengths == "data" else self.src_len
        return self.src[idx][:, -cols:], self.dec_in[idx], self.target[idx]

    def beam_chunks(self, src):
        """``src`` in chunks of ``beam_batch`` users, the last padded with copies of its first row."""
        import numpy as np
        for s in range(0, len(src), self.beam_batch):
            part = src[s:s + self.beam_batch]
            yield len(part), np.concatenate([part, np.repeat(part[:1], self.beam_batch - len(part), 0)])


def _time_training(run, sync, d, steps, lengths):
    """``run(i)`` trains on plan batch ``i``; one untimed step per distinct batch shape first.

    ``full``: the plan's first ``steps`` batches (all padded to full length), timed together. ``data``:
    ``steps`` batches of each bucket, timed bucket by bucket, and the rate is one epoch's,
    ``256 * sum(n_b) / sum(n_b * t_b)`` with ``n_b`` the epoch's batches of bucket ``b`` and ``t_b`` its
    seconds per step, so that a few timed steps stand for the whole epoch's mix of lengths.
    """
    if lengths == "data":
        groups = {b: [i for i in range(len(d.size)) if d.size[i] == b][:steps] for b in d.buckets}
        weight = dict(zip(d.buckets, d.epoch_batches))
    else:
        groups, weight = {d.gc.max_history: list(range(steps))}, {d.gc.max_history: 1}
    t = time.time()
    warm_loss = [sync(run(ix[0])) for ix in groups.values()]
    compile_s = time.time() - t
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    per_step = {}
    for b, ix in groups.items():
        t = time.time()
        for i in ix:
            loss = run(i)
        end_loss = sync(loss)
        per_step[b] = (time.time() - t) / len(ix)
    n = sum(len(ix) for ix in groups.values())
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / n   # fresh pages touched per step
    epoch_s = sum(weight[b] * per_step[b] for b in groups)
    return {"train_samples_per_s": sum(weight.values()) * d.idx.shape[1] / epoch_s,
            "ms_per_step": 1000 * epoch_s / sum(weight.values()),
            "ms_per_step_by_bucket": {str(b): 1000 * v for b, v in per_step.items()},
            "epoch_batches_by_bucket": {str(b): weight[b] for b in groups},
            "compile_s": compile_s, "minor_faults_per_step": faults, "loss_warm": warm_loss[0], "loss_end": end_loss,
            "peak_rss_mb": peak_rss_mb()}


def _beam_result(search_all, d):
    """``search_all(src [U, S]) -> items [U, 20]`` over every eval user. The first call (untimed) compiles:
    cost-ms's graphs for each source width its length-sorted batches use, as its Evaluator does once per run."""
    t = time.time()
    search_all(d.eval_src)
    warm = time.time() - t
    t = time.time()
    items = search_all(d.eval_src)
    dt = time.time() - t
    ok = bool(((items >= 0) & (items < len(d.sid))).all() and all(len(set(r)) == len(r) for r in items))
    return {"beam20_ms_per_user": 1000 * dt / len(items), "beam_compile_s": warm, "beam_valid_distinct": ok,
            "beam_batch": d.beam_batch, "beam_peak_rss_mb": peak_rss_mb(), "_items": items}


def cost_ms_net(d):
    from types import SimpleNamespace

    from cost_ms.generator import build_network
    from cost_ms.generator.beam_search import PrefixIndex
    from cost_ms.generator.vocab import Vocab
    vocab = Vocab(d.level_sizes, d.gc.user_buckets)
    assert vocab.size == d.vocab_size and list(vocab.offsets) == d.offsets
    net = build_network(d.cfg, SimpleNamespace(vocab=vocab, src_len=d.src_len))
    return net, vocab, PrefixIndex(d.sid, vocab.level_sizes)


def run_cost_ms(d, steps, lengths, beam, threads=0):
    import mindspore as ms
    from mindspore import Tensor, nn

    from cost_ms.engine import make_train_step
    from cost_ms.engine.step import micro_batch_policy
    from cost_ms.architectures import ARCHS
    from cost_ms.generator.beam_search import BeamSearcher
    from cost_ms.generator.transformer import Seq2SeqWithLoss
    from cost_ms.runtime import init_runtime
    if threads:
        ms.set_context(runtime_num_threads=threads)
    init_runtime("CPU", "graph", d.cfg.run.seed)
    net, vocab, index = cost_ms_net(d)
    out = {"params": int(sum(p.size for p in net.trainable_params())), "threads": ms.get_context("runtime_num_threads")}
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=d.gc.lr, weight_decay=d.gc.weight_decay)
    micro = micro_batch_policy(d.micro_fixed, d.micro_tokens)
    step = make_train_step(Seq2SeqWithLoss(net), opt, jit=True, mean_outputs=2, micro_batches=micro)
    widths = d.buckets if lengths == "data" else [d.gc.max_history]
    out["micro_batches"] = {str(b): micro(d.idx.shape[1], b * d.length) if callable(micro) else micro for b in widths}
    net.set_train(True)
    out.update(_time_training(lambda i: step(*(Tensor(a) for a in d.batch(i, lengths)))[0],
                              lambda x: float(x.asnumpy()), d, steps, lengths))
    if beam:
        searcher = BeamSearcher(net, vocab, index, BEAM, d.beam_batch, d.src_widths, arch=ARCHS.get("tiger"))
        out.update(_beam_result(lambda src: searcher.search(src)[0], d))
    return out


def twin(d):
    import torch

    from torch_twin import PrefixTable, beam_search, create_twin
    torch.manual_seed(d.cfg.run.seed)
    model = create_twin(d.gc, d.vocab_size, d.src_len, d.length)
    table = PrefixTable(d.sid, d.level_sizes)

    def search(src):
        return beam_search(model, table, torch.from_numpy(src).long(), BEAM, d.bos, d.offsets, d.level_sizes)[0].numpy()
    return model, search


def torch_trainer(d, model):
    """``run(i)``: one AdamW step of the twin on plan batch ``i``, padded to full length as peers train."""
    import torch

    from torch_twin import loss_and_accuracy
    opt = torch.optim.AdamW(model.parameters(), lr=d.gc.lr, eps=1e-6, weight_decay=d.gc.weight_decay)

    def run(i):
        model.train()
        src, dec_in, target = (torch.from_numpy(a).long() for a in d.batch(i, "full"))
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_and_accuracy(model, src, dec_in, target)
        loss.backward()
        opt.step()
        return loss.detach()
    return run


def run_torch(d, steps, lengths, beam, threads=0):   # lengths: the same batches either way, padded to full
    import numpy as np
    import torch
    if threads:
        torch.set_num_threads(threads)

    from torch_twin import num_params
    model, search = twin(d)
    out = {"params": num_params(model), "threads": torch.get_num_threads()}
    run = torch_trainer(d, model)
    out.update(_time_training(run, lambda x: float(x.item()), d, steps, "full"))   # one shape: one warm-up
    if beam:   # plain batches of beam_batch users in their order, padded to full history
        out.update(_beam_result(lambda src: np.concatenate([search(p)[:n] for n, p in d.beam_chunks(src)]), d))
    return out


def run_check(d):
    """cost-ms's initial weights copied into the twin; dropout off; losses, logits and beam results compared."""
    import numpy as np
    import torch
    from mindspore import Tensor

    from cost_ms.architectures import ARCHS
    from cost_ms.generator.beam_search import BeamSearcher
    from cost_ms.generator.transformer import Seq2SeqWithLoss
    from cost_ms.runtime import init_runtime
    from torch_twin import copy_from_mindspore, loss_and_accuracy
    init_runtime("CPU", "graph", d.cfg.run.seed)
    net, vocab, index = cost_ms_net(d)
    model, search = twin(d)
    copy_from_mindspore(model, net)
    net.set_train(False)
    model.eval()
    i = int(np.argmin(d.size))                          # the plan's shortest bucket: cropping is exercised
    full, crop = d.batch(i, "full"), d.batch(i, "data")
    with_loss = Seq2SeqWithLoss(net)
    ms_full, ms_crop = (float(with_loss(*(Tensor(a) for a in b))[0].asnumpy()) for b in (full, crop))
    with torch.no_grad():
        t_full = float(loss_and_accuracy(model, *(torch.from_numpy(a).long() for a in full))[0])
        t_logits = model(*(torch.from_numpy(a).long() for a in full[:2])).numpy()
    ms_logits = net(Tensor(full[0]), Tensor(full[1])).asnumpy()
    n = len(d.eval_src)       # every user, so that cost-ms's length-sorted batches are cropped (the twin: full)
    ms_items = BeamSearcher(net, vocab, index, BEAM, d.beam_batch, d.src_widths,
                            arch=ARCHS.get("tiger")).search(d.eval_src)[0]
    t_items = search(d.eval_src)
    pairs = list(zip(ms_items, t_items))
    return {"loss_cost_ms_full": ms_full, "loss_cost_ms_cropped": ms_crop, "loss_torch_full": t_full,
            "crop_bucket_items": int(d.size[i]), "logits_max_abs_diff": float(np.abs(ms_logits - t_logits).max()),
            "beam_users": n, "beam_same_top20_lists": float(np.mean([(a == b).all() for a, b in pairs])),
            "beam_same_top20_sets": float(np.mean([set(a) == set(b) for a, b in pairs]))}


def _stats(xs):
    return {"min": min(xs), "median": statistics.median(xs), "all": xs}


def build_rows(results, checks, a):
    rows = []
    for name in a.config:
        full = results[(name, "full")]
        for lengths in ("full", "data"):
            res = results[(name, lengths)]
            row = {"config": name, "lengths": lengths, "params": {k: v[0]["params"] for k, v in res.items()}}
            for key in ("train_samples_per_s", "peak_rss_mb", "ms_per_step", "compile_s", "loss_end"):
                row[key] = {k: _stats([r[key] for r in v]) for k, v in res.items()}
            for key in ("beam20_ms_per_user", "beam_peak_rss_mb", "beam_compile_s"):
                row[key] = {k: _stats([r[key] for r in v]) for k, v in full.items()}
            row["cost_ms_ms_per_step_by_bucket"] = {     # medians; weighted by one epoch's batches per bucket
                b: statistics.median(r["ms_per_step_by_bucket"][b] for r in res["cost_ms"])
                for b in res["cost_ms"][0]["ms_per_step_by_bucket"]}
            row["epoch_batches_by_bucket"] = res["cost_ms"][0]["epoch_batches_by_bucket"]
            row["cost_ms_micro_batches"] = res["cost_ms"][0]["micro_batches"]     # per bucket; the twin: whole
            row["cost_ms_micro_batch_tokens"] = 0 if a.micro_batches else a.micro_tokens or MICRO_TOKENS[name]
            row["beam_valid_distinct"] = {k: all(r["beam_valid_distinct"] for r in v) for k, v in full.items()}
            row.update(buckets=a.buckets or "config", steps=a.steps, users=a.users, beam=BEAM, beam_batch=full["cost_ms"][0]["beam_batch"],
                       batch_size=256, max_history=20, repeats=a.repeats,
                       threads={k: v[0]["threads"] for k, v in res.items()}, machine=machine())
            if name in checks:
                row["check"] = checks[name]
            rows.append(row)
    return rows


def print_table(rows):
    cols = ["config", "lengths", "params cm/torch", "samples/s cm", "torch", "x", "rss MB cm", "torch",
            "beam ms/user cm", "torch", "x"]
    lines = []
    for r in rows:
        tr, rss, bm = ({i: r[k][i]["median"] for i in ("cost_ms", "torch")}
                       for k in ("train_samples_per_s", "peak_rss_mb", "beam20_ms_per_user"))
        lines.append([r["config"], r["lengths"], f"{r['params']['cost_ms']}/{r['params']['torch']}",
                      tr["cost_ms"], tr["torch"], tr["cost_ms"] / tr["torch"], rss["cost_ms"], rss["torch"],
                      bm["cost_ms"], bm["torch"], bm["torch"] / bm["cost_ms"]])
    widths = [max(len(c), *(len(_fmt(ln[j])) for ln in lines)) for j, c in enumerate(cols)]
    print("medians over repeats; x = cost_ms speed / torch speed")
    for ln in [cols] + lines:
        print("  ".join(_fmt(v).ljust(w) for v, w in zip(ln, widths)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--steps", type=int, default=20, help="timed training steps per child")
    p.add_argument("--users", type=int, default=256, help="test users beam-searched per child")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="CPU threads for both (MindSpore runtime_num_threads, "
                   "torch.set_num_threads); 0 = each framework's default")
    p.add_argument("--micro-tokens", type=int, default=0, help="cost-ms's source tokens per compiled micro-batch "
                   "(generator.micro_batch_tokens) for every config; 0 = the CPU recipe per config (MICRO_TOKENS: "
                   "tiger 2560, wide384 5120, cpu 20480, i.e. 8, 4 and 1 slices of a full-length batch)")
    p.add_argument("--micro-batches", type=int, default=0, help="K: cost-ms's micro-batches for every batch "
                   "whatever its length (generator.micro_batches), instead of --micro-tokens; 0 = off")
    p.add_argument("--buckets", help="generator.length_buckets for every config, e.g. 2,3,4,6,8,11,15 "
                   "(max_history is always the last); default: each config's own")
    p.add_argument("--check", action="store_true", help="also compare the two with cost-ms's weights copied in")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "twin.json"))
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--lengths", help=argparse.SUPPRESS)
    p.add_argument("--beam", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    a.out = os.path.abspath(a.out)
    if a.variant == "prepare":                       # a child, so that the parent never imports MindSpore
        prepare(a.config[0], a.steps, a.users, a.data, a.micro_tokens or MICRO_TOKENS[a.config[0]], a.buckets,
                a.micro_batches)
        print(json.dumps({"prepared": a.data}))
        return
    if a.variant:                                    # a child: one measurement, one JSON line
        d = Data(a.data)
        if a.variant == "check":
            out = run_check(d)
        else:
            out = {"cost_ms": run_cost_ms, "torch": run_torch}[a.variant](d, a.steps, a.lengths, a.beam, a.threads)
        out.pop("_items", None)
        print(json.dumps(out))
        return
    os.chdir(ROOT)                                   # the run folder is runs/amazon-office under the checkout
    for name in a.config:
        check_folders(name)
    with contextlib.ExitStack() as stack:
        data = {name: stack.enter_context(prepared(name, a.steps, a.users, a.micro_tokens, a.buckets, a.micro_batches))
                for name in a.config}
        checks = {name: child(__file__, "check", "--data", data[name]) for name in a.config} if a.check else {}
        results = {}
        for r in range(a.repeats):
            for name in a.config:
                for lengths in ("full", "data"):
                    for impl in ("cost_ms", "torch"):          # A/B alternating
                        print(f"[{r + 1}/{a.repeats}] {name} {lengths} {impl}", file=sys.stderr, flush=True)
                        res = child(__file__, impl, "--data", data[name], "--lengths", lengths, "--steps",
                                    str(a.steps), "--beam", str(int(lengths == "full")), "--threads", str(a.threads))
                        results.setdefault((name, lengths), {}).setdefault(impl, []).append(res)
    rows = build_rows(results, checks, a)
    for r in rows:
        if r["params"]["cost_ms"] != r["params"]["torch"]:
            print(f"warning: {r['config']}: parameter counts differ {r['params']}", file=sys.stderr)
    print_table(rows)
    write_json(a.out, rows)


if __name__ == "__main__":
    sys.exit(main())
