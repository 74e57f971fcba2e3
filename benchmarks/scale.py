"""How cost grows with the catalogue: 10k, 100k and 1M items of synthetic embeddings.

Per catalogue size, each phase runs in its own process (its own peak RSS):

* ``encode``  tokenizer encoding (MindSpore graph mode, paper-sized RQ-VAE, k-means init) of
              embeddings memory-mapped from disk, streamed in 4,096-row chunks;
* ``index``   semantic IDs (dedup token), the code-to-item table and the prefix trie;
* ``beam``    constrained beam search (beam 20) of a CPU-sized generator over the whole catalogue.

Targets: encoding and table building linear (or better) in items; per-user decoding flat.
The embeddings are a Gaussian mixture (1,000 centres). ``--codes random`` replaces the encoder's
codes by uniform random ones (the random-hashing tokenizer) for the index and beam phases: the
untrained encoder maps each centre's items to one tuple, so its dedup level (and the vocabulary the
decoder scores at the last step) grows with the catalogue; random codes keep it small and isolate
what the catalogue size itself costs.

    python benchmarks/scale.py [--sizes 10000,100000,1000000] [--dim 384] [--users 64] [--codes encoder|random]
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

from common import ROOT, child, peak_rss_mb, report

CFG = os.path.join(ROOT, "configs", "ml-100k.yaml")     # CPU-sized generator


def make_embeddings(path, n, dim, seed=0, chunk=100_000):
    """Write ``n x dim`` float32 rows to ``path`` chunk by chunk (never all in memory)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1000, dim)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        out[start:start + m] = centres[rng.integers(0, 1000, m)] + 0.5 * rng.normal(size=(m, dim)).astype(np.float32)
    out.flush()
    del out


def _config():
    from cost_ms.config import load_config
    return load_config(CFG)


def phase_encode(work, n):
    from cost_ms.tokenizer.trainer import build_model, encode_items, kmeans_init
    cfg = _config()
    tc = cfg.tokenizer
    emb = np.load(os.path.join(work, f"emb-{n}.npy"), mmap_mode="r")
    net = build_model(tc, emb.shape[1])
    kmeans_init(net, np.asarray(emb[:tc.batch_size]), tc, 0)
    encode_items(net, np.asarray(emb[:4096]))                 # compile
    t = time.time()
    codes = encode_items(net, emb)
    dt = time.time() - t
    np.save(os.path.join(work, f"codes-{n}.npy"), codes)
    return {"encode_s": dt, "encode_items_per_s": n / dt}


def phase_index(work, n, codes_mode="encoder"):
    from cost_ms.generator.beam_search import PrefixIndex
    from cost_ms.generator.vocab import Vocab
    from cost_ms.tokenizer.semantic_ids import with_dedup
    codes = np.load(os.path.join(work, f"codes-{n}.npy"))
    if codes_mode == "random":
        codes = np.random.default_rng(1).integers(0, codes.max() + 1, codes.shape)
    t = time.time()
    sid = with_dedup(codes)
    vocab = Vocab.from_semantic_ids(sid, _config().tokenizer.codebook_size)
    index = PrefixIndex(sid, vocab.level_sizes)
    dt = time.time() - t
    np.save(os.path.join(work, f"sid-{n}.npy"), sid)
    return {"index_s": dt, "index_mb": index.nbytes() / 2 ** 20, "max_dedup": int(sid[:, -1].max())}


def phase_beam(work, n, users):
    from cost_ms.architectures import ARCHS
    from cost_ms.generator.beam_search import BeamSearcher, PrefixIndex
    from cost_ms.generator.samples import encode_history
    from cost_ms.generator.transformer import create_model
    from cost_ms.generator.vocab import Vocab
    gc = _config().generator
    sid = np.load(os.path.join(work, f"sid-{n}.npy"))
    vocab = Vocab.from_semantic_ids(sid, _config().tokenizer.codebook_size)
    item_tok = vocab.item_tokens(sid)
    net = create_model(gc, vocab.size, gc.max_history * vocab.length, vocab.length)
    rng = np.random.default_rng(0)
    src = np.stack([encode_history(rng.integers(0, n, 10).tolist(), item_tok, gc.max_history) for _ in range(users)])
    t = time.time()
    index = PrefixIndex(sid, vocab.level_sizes)
    build = time.time() - t
    searcher = BeamSearcher(net, vocab, index, beam_size=20, batch_size=32, arch=ARCHS.get("tiger"))
    searcher.search(src[:32])                                  # compile
    t = time.time()
    items, _ = searcher.search(src)
    dt = time.time() - t
    ok = bool((items >= 0).all() and all(len(set(r)) == len(r) for r in items))
    return {"beam_ms_per_user": 1000 * dt / users, "beam_users_per_s": users / dt, "all_valid_distinct": ok,
            "trie_build_s": build}


def run_variant(variant, work, users, codes_mode="encoder"):
    from cost_ms.runtime import init_runtime
    init_runtime("CPU", "graph", 0)
    phase, n = variant.split("-")
    n = int(n)
    out = {"encode": lambda: phase_encode(work, n), "index": lambda: phase_index(work, n, codes_mode),
           "beam": lambda: phase_beam(work, n, users)}[phase]()
    return {"variant": variant, **out, "peak_rss_mb": peak_rss_mb()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant")
    p.add_argument("--work")
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--users", type=int, default=64)
    p.add_argument("--codes", choices=["encoder", "random"], default="encoder")
    a = p.parse_args()
    if a.variant:
        print(json.dumps(run_variant(a.variant, a.work, a.users, a.codes)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="cost_ms_scale_") as work:
        for n in (int(s) for s in a.sizes.split(",")):
            make_embeddings(os.path.join(work, f"emb-{n}.npy"), n, a.dim)
            row = {"items": n}
            for phase in ("encode", "index", "beam"):
                r = child(__file__, f"{phase}-{n}", "--work", work, "--users", str(a.users), "--codes", a.codes)
                row.update({k: v for k, v in r.items() if k not in ("variant", "peak_rss_mb")})
                row[f"{phase}_peak_mb"] = r["peak_rss_mb"]
            row["emb_file_mb"] = n * a.dim * 4 / 2 ** 20
            rows.append(row)
            for phase in ("emb", "codes", "sid"):
                os.remove(os.path.join(work, f"{phase}-{n}.npy"))
    report("scale" if a.codes == "encoder" else "scale_random_codes", rows, ["items", "emb_file_mb", "encode_s", "encode_items_per_s", "encode_peak_mb", "index_s",
                           "index_mb", "max_dedup", "index_peak_mb", "trie_build_s", "beam_ms_per_user",
                           "beam_peak_mb", "all_valid_distinct"],
           {"dim": a.dim, "users": a.users, "beam": 20, "codes": a.codes, "device": "CPU",
            "config": "configs/ml-100k.yaml"})


if __name__ == "__main__":
    sys.exit(main())
