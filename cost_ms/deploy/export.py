"""``python -m cost_ms export RUN_DIR --out DIR``: a trained run as MindIR graphs and plain files.

The folder (built under a temp name and swapped in whole, :func:`cost_ms.io.staged_dir`)::

    graphs/b<B>-w<S>-level<t>.mindir   one graph per batch size B, input width S and level t (0 = start)
    codes.npy                          [N, L] int64: item i's code tuple (the code-to-item table)
    trie.npz                           the prefix trie with per-node item counts (PrefixIndex.arrays)
    items.json                         {"item_id": [...], "title": [...]}, row i = item i
    manifest.json                      written last: every graph's inputs and outputs (name, shape, dtype), the
                                       data set, tokenizer tag, beam size, protocol, decoding settings, the
                                       weights' SHA-256 and every file's SHA-256

Each graph is traced by running the chain the beam search runs (start, then each level) on a real decoding input
of that width, and exported with those tensors, so every shape is one the loaded search will feed.
"""
import logging
import os
import time

import numpy as np

from .. import __version__
from ..errors import CostError
from ..io import staged_dir, write_json, write_npy
from .manifest import FORMAT, MANIFEST, VERSION, file_hashes, sha256

log = logging.getLogger("cost_ms.export")


def export_run(run_dir, out, batch_sizes=None, device=None):
    """Export the generator trained in ``run_dir`` to ``out``; returns the manifest.

    ``batch_sizes``: users per graph call to export (default ``1`` and the run's ``generator.eval_batch_size``).
    """
    import mindspore as ms

    from ..generator.recommend import Recommender
    if os.path.abspath(out) == os.path.abspath(run_dir):
        raise CostError("--out must be another folder than the run folder")
    if batch_sizes is not None and (not batch_sizes or min(batch_sizes) < 1):
        raise CostError(f"batch sizes must be whole numbers >= 1, got {list(batch_sizes)}")
    rec = Recommender(run_dir, device)        # the run's checks and strict weights: only the trained model exports
    inputs, cfg = rec.inputs, rec.inputs.cfg
    gc = cfg.generator
    sizes = sorted({1, gc.eval_batch_size} if not batch_sizes else {int(b) for b in batch_sizes})
    rec.net.set_train(False)
    cells = inputs.arch.export_cells(rec.net, gc.beam_size, inputs.vocab.length)
    t0 = time.time()
    with staged_dir(out) as tmp:
        graphs = []
        for size in sizes:
            for bucket, width in zip(inputs.buckets, inputs.src_widths):
                graphs += _export_chain(ms, cells, _example(inputs, bucket, size, width), gc.beam_size, inputs.vocab,
                                        tmp, size, width)
        write_npy(os.path.join(tmp, "codes.npy"), np.asarray(inputs.sid, np.int64))
        np.savez(os.path.join(tmp, "trie.npz"), **inputs.index.arrays())
        write_json(os.path.join(tmp, "items.json"), {"item_id": rec.item_ids, "title": rec.titles})
        manifest = _manifest(run_dir, rec, sizes, graphs)
        manifest["files"] = file_hashes(tmp, [g["file"] for g in graphs] + ["codes.npy", "trie.npz", "items.json"])
        write_json(os.path.join(tmp, MANIFEST), manifest)
        _readable(tmp)
    log.info("exported %d graphs of %s in %.1f s -> %s", len(graphs), run_dir, time.time() - t0, out)
    return manifest


def _readable(folder):
    """Temp files and folders are private: let whoever deploys the export read it (the umask still applies)."""
    mask = os.umask(0)
    os.umask(mask)
    for root, dirs, files in os.walk(folder):
        os.chmod(root, 0o755 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644 & ~mask)


def _example(inputs, bucket, size, width):
    """``size`` decoding inputs of histories of ``bucket`` items, cropped to ``width`` columns."""
    hist = {u: [(u + j) % len(inputs.sid) for j in range(bucket)] for u in range(size)}
    _, src, _ = inputs.builder.evaluation(hist, {u: 0 for u in hist})
    return inputs.arch.crop_src(src, width)


def _export_chain(ms, cells, src, beams, vocab, folder, size, width):
    """Run and export each level's cell on the state the previous levels left, as the beam search calls them."""
    state, rows = {"src": ms.Tensor(src)}, size * beams
    out = []
    for t, cell in enumerate(cells):
        if t:
            state["tok"] = ms.Tensor(np.full((rows, 1), vocab.offsets[t - 1], np.int32))
            # the rows each hypothesis extends: at level 1 the cache has one row per user
            parent = np.repeat(np.arange(size), beams) if t == 1 else np.arange(rows)
            state["parent"] = ms.Tensor(parent.astype(np.int32))
        args = [state[n] for n in cell.inputs]
        name = os.path.join("graphs", f"b{size}-w{width}-level{t}.mindir")
        os.makedirs(os.path.join(folder, "graphs"), exist_ok=True)
        ms.export(cell, *args, file_name=os.path.join(folder, name[:-len(".mindir")]), file_format="MINDIR")
        result = cell(*args)
        state.update(zip(cell.outputs, result))
        out.append({"file": name, "level": t, "batch": size, "width": width,
                    "inputs": [_spec(n, a) for n, a in zip(cell.inputs, args)],
                    "outputs": [_spec(n, r) for n, r in zip(cell.outputs, result)]})
    return out


def _spec(name, tensor):
    return {"name": name, "shape": list(tensor.shape), "dtype": str(tensor.dtype).lower()}


def _manifest(run_dir, rec, sizes, graphs):
    import mindspore as ms

    from ..generator.run import STAGE
    from ..io import read_meta
    inputs = rec.inputs
    gc, run = inputs.cfg.generator, inputs.cfg.run
    meta = read_meta(run_dir, STAGE)
    return {"format": FORMAT, "version": VERSION, "cost_ms": __version__, "mindspore": ms.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "run": os.path.abspath(run_dir),
            "dataset": rec.name, "num_items": rec.num_items, "arch": gc.arch, "tokenizer": meta["tokenizer"],
            "tokenizer_tag": meta.get("tokenizer_tag"), "semantic_ids_hash": inputs.sid_hash,
            "config_hash": meta["config_hash"], "weights_sha256": sha256(os.path.join(run_dir, "best.ckpt")),
            "beam_size": gc.beam_size, "protocol": {"exclude_history": rec.exclude_history},
            "vocab": {"level_sizes": inputs.vocab.level_sizes, "user_buckets": inputs.vocab.user_buckets},
            "decoding": {"max_history": gc.max_history, "window_stride": gc.window_stride,
                         "buckets": inputs.buckets, "widths": inputs.src_widths, "batch_sizes": sizes},
            "runtime": {"cpu_threads": run.generator_cpu_threads, "cpu_host_blocking": run.cpu_host_blocking},
            "graphs": graphs}
