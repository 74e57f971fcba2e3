"""``python -m cost_ms COMMAND CONFIG [--set key=value ...] [--device D] [--out DIR] [--fresh]``.

Stages (folders named by :mod:`cost_ms.stages`)::

    prepare   -> data/                      items, sequences, leave-one-out split
    embed     -> embed-<model>/             item_emb.npy
    views     -> views/                     cf.npy, attr.npy: extra item views for SimCIT (training part only)
    tokenize  -> tokenize-<tag>/            semantic_ids.{csv,npy}, tokenizer_report.json, history.json
    train     -> generator-<tag>/           best.ckpt, history.json, metrics (validation and test)
    evaluate  -> generator-<tag>/metrics.json
    baseline  -> baseline-<model>/          --model sasrec | popular: metrics on the same split
    recommend RUN_DIR|EXPORT_DIR --history ID,ID,... | --input users.jsonl --output recs.jsonl
                                            top-k items for histories (none of their items, by default)
    export    RUN_DIR --out DIR             MindIR graphs + trie + items + manifest.json (cost_ms/deploy/)
    serve     RUN_DIR|EXPORT_DIR            HTTP service: POST /recommend, GET /health (micro-batched)

Each stage checks the previous stage's ``meta.json`` and saves its resolved config.
"""
import argparse
import logging
import sys

from .errors import CostError, report

log = logging.getLogger("cost_ms")
COMMANDS = {}


def command(name, help_):
    def deco(fn):
        COMMANDS[name] = (fn, help_)
        return fn
    return deco


def _init(cfg, args, fresh_folder=None, cpu_threads=0):
    """MindSpore device and mode; join the msrun job when ``run.data_parallel``. Returns the World.

    With ``--fresh``, rank 0 deletes ``fresh_folder`` (the stage's output and checkpoints) and every
    worker waits for that before it could load a checkpoint from there.
    """
    import shutil

    from .parallel import init_world
    from .runtime import init_runtime
    init_runtime(cfg.run.device, cfg.run.mode, cfg.run.seed, cpu_threads,
                 cfg.run.cpu_host_blocking)
    w = init_world(cfg.run.data_parallel)
    if fresh_folder and args.fresh:
        if w.is_main:
            shutil.rmtree(fresh_folder, ignore_errors=True)
        w.barrier()
    return w


# ---------------------------------------------------------------- commands
@command("prepare", "read a raw data set, filter, split leave-one-out")
def cmd_prepare(cfg, stages, args):
    from .data import create_dataset, save, summary
    prep = create_dataset(cfg.dataset)
    save(prep, stages.data)
    print(f"prepared {summary(prep)} -> {stages.data}")


@command("embed", "embed item text with a sentence encoder")
def cmd_embed(cfg, stages, args):
    from .embeddings import embed_dataset, embeddings_current
    prep = stages.prepared()
    ec = cfg.embed
    if not args.fresh and embeddings_current(stages.embed, prep, ec.model, ec.normalize):
        print(f"embeddings in {stages.embed} are up to date (--fresh to recompute)")
        return
    emb = embed_dataset(prep, stages.embed, ec.model, ec.batch_size, ec.normalize, ec.device)
    print(f"embedded {emb.shape[0]} items, dim {emb.shape[1]} -> {stages.embed}")


@command("views", "build extra item views (cf, attr) from the training part, for SimCIT")
def cmd_views(cfg, stages, args):
    from .data import attributes_file
    from .tokenizer import get_method
    from .views import TEXT, build_views
    if args.if_needed and not [v for v in get_method(cfg.tokenizer).views(cfg.tokenizer) if v != TEXT]:
        print(f"views: not needed (the {cfg.tokenizer.method} tokenizer reads the text embeddings only)")
        return
    prep = stages.prepared()
    entries = build_views(prep, cfg.views, stages.views, cfg.run.seed, attributes_file(cfg.dataset))
    for name, info in entries.items():
        print(f"view {name}: {prep.num_items} x {info['dim']} ({info.get('source', '')})")
    print(f"views -> {stages.views}")


@command("tokenize", "train a tokenizer and write semantic IDs")
def cmd_tokenize(cfg, stages, args):
    import json

    from .tokenizer import get_method
    from .tokenizer.run import run_tokenize
    prep = stages.prepared()
    emb, emb_meta = stages.embeddings(prep)
    tc = cfg.tokenizer
    # SimCIT's views are checked before anything is written or trained
    names = get_method(tc).views(tc)
    views = stages.item_views(prep, names, emb) if names else None
    w = _init(cfg, args, fresh_folder=stages.tokenize, cpu_threads=cfg.run.tokenizer_cpu_threads)
    _, rep = run_tokenize(cfg, prep, emb, emb_meta, stages.tokenize, views=views)
    if not w.is_main:
        return
    keep = ("collision_rate", "largest_collision_group", "unique_tuples")
    print(json.dumps({k: rep[k] for k in keep} | {"neighbourhood": rep["neighbourhood"]}))
    print(f"semantic IDs -> {stages.tokenize}")


@command("train", "train the generative retriever on semantic IDs (early stopping on validation)")
def cmd_train(cfg, stages, args):
    from .generator import format_table, run_evaluate, run_train
    prep = stages.prepared()
    sid = stages.semantic_ids(prep)
    w = _init(cfg, args, fresh_folder=stages.generator, cpu_threads=cfg.run.generator_cpu_threads)
    inputs, net, _, _ = run_train(cfg, stages, prep, sid)
    metrics = run_evaluate(cfg, inputs, net, stages.generator, warn=False)
    if w.is_main:
        print(format_table(metrics, cfg.eval.ks))
        print(f"run folder: {stages.generator}")


@command("evaluate", "evaluate a trained generator on validation and test")
def cmd_evaluate(cfg, stages, args):
    import os

    from .generator import GeneratorInputs, build_network, format_table, run_evaluate
    prep = stages.prepared()
    sid = stages.semantic_ids(prep)
    w = _init(cfg, args, cpu_threads=cfg.run.generator_cpu_threads)
    inputs = GeneratorInputs(cfg, prep, sid)
    metrics = run_evaluate(cfg, inputs, build_network(cfg, inputs), stages.generator)
    if w.is_main:
        print(format_table(metrics, cfg.eval.ks))
        print(f"metrics -> {os.path.join(stages.generator, 'metrics.json')}")


@command("baseline", "train and evaluate a baseline (--model sasrec | popular) on the same split")
def cmd_baseline(cfg, stages, args):
    from .baseline import BASELINES, run_baseline
    from .generator import format_table
    BASELINES.get(args.model)                  # an unknown model is refused before anything is written
    prep = stages.prepared()
    folder = stages.baseline(args.model)
    w = _init(cfg, args, fresh_folder=folder)
    metrics = run_baseline(cfg, prep, args.model, folder)
    if w.is_main:
        print(format_table(metrics, cfg.eval.ks))
        print(f"metrics -> {folder}/metrics.json")


def cmd_recommend(args):
    import json

    from .generator.recommend import open_model
    exclude = None if args.exclude_history is None else args.exclude_history == "true"
    if (args.history is None) == (args.input is None) or (args.input is None) != (args.output is None):
        raise CostError("give --history, or --input with --output")
    if args.input:
        from .deploy.offline import recommend_file
        n = recommend_file(args.run_dir, args.input, args.output, args.k, args.device, exclude, args.batch)
        print(f"{n} recommendation lists -> {args.output}")
        return
    for row in open_model(args.run_dir, args.device, exclude).recommend([h for h in args.history.split(",") if h],
                                                                          args.k):
        print(json.dumps(row))


def cmd_export(args):
    from .deploy.export import export_run
    man = export_run(args.run_dir, args.out, _sizes(args.batch_sizes), args.device)
    print(f"exported {len(man['graphs'])} graphs ({man['arch']}, {man['dataset']}, beam {man['beam_size']}, "
          f"batch sizes {man['decoding']['batch_sizes']}) -> {args.out}")


def cmd_serve(args):
    from .deploy.serve import ServeOptions, serve
    serve(args.model_dir, ServeOptions(args.host, args.port, args.max_batch, args.window_ms / 1000.0,
                                       args.queue, args.max_body, args.device))


def _sizes(text):
    if text is None:
        return None
    try:
        return [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise CostError(f"--batch-sizes must be whole numbers separated by commas, got {text!r}") from None


# ---------------------------------------------------------------- entry point
def build_parser():
    p = argparse.ArgumentParser(prog="python -m cost_ms", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, (_, help_) in COMMANDS.items():  # each takes a CONFIG
        s = sub.add_parser(name, help=help_)
        s.add_argument("config", help="configs/<dataset>.yaml (merged over configs/base.yaml)")
        s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. --set tokenizer.loss=re")
        s.add_argument("--device", choices=["CPU", "GPU", "Ascend"], help="shortcut for --set run.device=...")
        s.add_argument("--out", help="run folder (shortcut for --set run.out=...)")
        s.add_argument("--fresh", action="store_true", help="ignore and delete an existing checkpoint")
        s.add_argument("-q", "--quiet", action="store_true", help="do not log the resolved config")
        if name == "baseline":
            s.add_argument("--model", required=True, help="sasrec or popular")
        if name == "views":
            s.add_argument("--if-needed", action="store_true",
                           help="do nothing unless the tokenizer reads views beyond the text (scripts/run_train.sh)")
    r = sub.add_parser("recommend", help="top-k items for histories of item ids (a run folder or an export)")
    r.add_argument("run_dir", help="a trained generator folder, e.g. runs/ml-100k/generator-minilm-rqvae-co, or an "
                                   "export folder (python -m cost_ms export)")
    r.add_argument("--history", help="comma-separated item ids, oldest first")
    r.add_argument("--input", help="a JSON-lines file of requests: {\"history\": [ids], optional \"user\", \"k\", "
                                   "\"exclude_history\", \"exclude\", \"candidates\"}")
    r.add_argument("--output", help="the JSON-lines answers, one per input line (written atomically)")
    r.add_argument("--batch", type=int, default=256, help="histories per beam-search call with --input")
    r.add_argument("-k", type=int, default=10)
    r.add_argument("--exclude-history", choices=["true", "false"],
                   help="never recommend an item of --history (default: the run's eval.exclude_history, true)")
    r.add_argument("--device", choices=["CPU", "GPU", "Ascend"])
    e = sub.add_parser("export", help="export a trained generator as MindIR graphs + plain files")
    e.add_argument("run_dir", help="a trained generator folder")
    e.add_argument("--out", required=True, help="the export folder (replaced whole when it exists)")
    e.add_argument("--batch-sizes", help="users per graph call to export, e.g. 1,8,32 (default: 1 and the run's "
                                         "generator.eval_batch_size)")
    e.add_argument("--device", choices=["CPU", "GPU", "Ascend"])
    v = sub.add_parser("serve", help="HTTP recommendation service (FastAPI + uvicorn), micro-batched")
    v.add_argument("model_dir", help="a trained generator folder or an export folder")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--max-batch", type=int, default=32, help="requests gathered into one beam-search call")
    v.add_argument("--window-ms", type=float, default=20.0,
                   help="under load, how long a batch waits for more requests to join it (it leaves when full)")
    v.add_argument("--queue", type=int, default=256, help="requests waiting at most; more are answered 503")
    v.add_argument("--max-body", type=int, default=65536, help="largest request body in bytes (413 above)")
    v.add_argument("--device", choices=["CPU", "GPU", "Ascend"])
    return p


DIRECT = {"recommend": cmd_recommend, "export": cmd_export, "serve": cmd_serve}     # commands without a CONFIG


def run_command(args):
    from .config import dump, load_config
    from .stages import Stages
    if args.command in DIRECT:
        DIRECT[args.command](args)
        return
    overrides = list(args.set)
    if args.device:
        overrides.append(f"run.device={args.device}")
    if args.out:
        overrides.append(f"run.out={args.out}")
    cfg = load_config(args.config, overrides)
    if not args.quiet:
        log.info("resolved config:\n%s", dump(cfg))
    COMMANDS[args.command][0](cfg, Stages(cfg), args)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    return report(run_command, build_parser().parse_args(argv))
