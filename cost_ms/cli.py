"""``python -m cost_ms COMMAND CONFIG [--set key=value ...] [--device D] [--out DIR]``.

Stages and where they write, under the run folder (``run.out``, default ``runs/<dataset>``)::

    prepare   -> data/                 items, sequences, leave-one-out split
    embed     -> embed-<model>/        item_emb.npy
    tokenize  -> tokenize-<loss>/      semantic_ids.{csv,npy}, tokenizer_report.json
    train     -> generator-<loss>/     best.ckpt, metrics on validation, resumable
    evaluate  -> generator-<loss>/metrics.json (validation and test, plus most-popular)

Each stage checks the previous stage's ``meta.json`` and saves its resolved config.
"""
import argparse
import logging
import os
import sys

from .errors import CostError

log = logging.getLogger("cost_ms")
COMMANDS = {}


def command(name, help_):
    def deco(fn):
        COMMANDS[name] = (fn, help_)
        return fn
    return deco


# ---------------------------------------------------------------- run layout
class Run:
    """Paths of one run's stage folders, from the resolved config."""

    def __init__(self, cfg):
        from .embeddings import model_tag

        self.cfg = cfg
        self.root = cfg["run"]["out"] or os.path.join("runs", cfg["dataset"]["name"])
        self.data = os.path.join(self.root, "data")
        self.embed = os.path.join(self.root, f"embed-{model_tag(cfg['embed']['model'])}")
        self.tokenize = os.path.join(self.root, f"tokenize-{cfg['tokenizer']['loss']}")
        self.generator = os.path.join(self.root, f"generator-{cfg['tokenizer']['loss']}")

    def prepared(self):
        from .data import load
        return load(self.data)

    def embeddings(self, prep):
        from .embeddings import load_embeddings
        return load_embeddings(self.embed, prep.name, prep.num_items)


def _init(cfg, args, fresh_folder=None):
    """MindSpore device and mode; join the msrun job when ``run.data_parallel``. Returns the World.

    With ``--fresh``, rank 0 deletes ``fresh_folder`` (the stage's output and checkpoints) and every
    worker waits for that before it could load a checkpoint from there.
    """
    import shutil

    from .parallel import init_world
    from .runtime import init_runtime
    init_runtime(cfg["run"]["device"], cfg["run"]["mode"], cfg["run"]["seed"])
    w = init_world(cfg["run"]["data_parallel"])
    if fresh_folder and args.fresh:
        if w.is_main:
            shutil.rmtree(fresh_folder, ignore_errors=True)
        w.barrier()
    return w


# ---------------------------------------------------------------- commands
@command("prepare", "read a raw data set, filter, split leave-one-out")
def cmd_prepare(cfg, args):
    from .data import create_dataset, save, summary
    run = Run(cfg)
    prep = create_dataset(cfg["dataset"])
    save(prep, run.data)
    print(f"prepared {summary(prep)} -> {run.data}")


@command("embed", "embed item text with a sentence encoder")
def cmd_embed(cfg, args):
    from .embeddings import embed_dataset, embeddings_current
    run = Run(cfg)
    prep = run.prepared()
    ec = cfg["embed"]
    if not args.fresh and embeddings_current(run.embed, prep, ec["model"], ec["normalize"]):
        print(f"embeddings in {run.embed} are up to date (--fresh to recompute)")
        return
    emb = embed_dataset(prep, run.embed, ec["model"], ec["batch_size"], ec["normalize"], ec["device"])
    print(f"embedded {emb.shape[0]} items, dim {emb.shape[1]} -> {run.embed}")


@command("tokenize", "train a tokenizer and write semantic IDs")
def cmd_tokenize(cfg, args):
    import json

    from .tokenizer import run_tokenize
    run = Run(cfg)
    prep = run.prepared()
    emb, emb_meta = run.embeddings(prep)
    w = _init(cfg, args, fresh_folder=run.tokenize)
    _, report = run_tokenize(cfg, prep, emb, emb_meta, run.tokenize)
    if not w.is_main:
        return
    keep = ("collision_rate", "largest_collision_group", "unique_tuples")
    print(json.dumps({k: report[k] for k in keep} | {"neighbourhood": report["neighbourhood"]}))
    print(f"semantic IDs -> {run.tokenize}")


def _generator_setup(cfg, run):
    from .tokenizer import load_semantic_ids
    prep = run.prepared()
    sid, _ = load_semantic_ids(run.tokenize, prep.name, prep.num_items)
    return prep, sid


@command("train", "train the generative retriever on semantic IDs (early stopping on validation)")
def cmd_train(cfg, args):
    from .generator import format_table, run_evaluate, run_train
    run = Run(cfg)
    prep, sid = _generator_setup(cfg, run)
    w = _init(cfg, args, fresh_folder=run.generator)
    cfg = {**cfg, "_paths": {"data": run.data}}
    setup, _ = run_train(cfg, prep, sid, run.tokenize, run.generator)
    metrics = run_evaluate(cfg, setup, run.generator)
    if w.is_main:
        print(format_table(metrics, cfg["eval"]["ks"]))
        print(f"run folder: {run.generator}")


@command("evaluate", "evaluate a trained generator on validation and test")
def cmd_evaluate(cfg, args):
    from .generator import GeneratorSetup, format_table, run_evaluate
    run = Run(cfg)
    prep, sid = _generator_setup(cfg, run)
    w = _init(cfg, args)
    metrics = run_evaluate(cfg, GeneratorSetup(cfg, prep, sid), run.generator)
    if w.is_main:
        print(format_table(metrics, cfg["eval"]["ks"]))
        print(f"metrics -> {os.path.join(run.generator, 'metrics.json')}")


# ---------------------------------------------------------------- entry point
def build_parser():
    p = argparse.ArgumentParser(prog="python -m cost_ms", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("recommend", help="top-k items for a history: recommend RUN_DIR --history ID,ID [-k 10]")
    for name, (_, help_) in COMMANDS.items():  # each takes a CONFIG
        s = sub.add_parser(name, help=help_)
        s.add_argument("config", help="configs/<dataset>.yaml (merged over configs/base.yaml)")
        s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. --set tokenizer.loss=re")
        s.add_argument("--device", choices=["CPU", "GPU", "Ascend"], help="shortcut for --set run.device=...")
        s.add_argument("--out", help="run folder (shortcut for --set run.out=...)")
        s.add_argument("--fresh", action="store_true", help="ignore and delete an existing checkpoint")
        s.add_argument("-q", "--quiet", action="store_true", help="do not log the resolved config")
    return p


def cmd_recommend(args):
    import json

    from .generator.recommend import recommend
    for row in recommend(args.run_dir, [h for h in args.history.split(",") if h], args.k, args.device):
        print(json.dumps(row))


def main(argv=None):
    from .config import dump, load_config

    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    if argv[:1] == ["recommend"]:
        p = argparse.ArgumentParser(prog="python -m cost_ms recommend",
                                    description="top-k items for a history of item ids")
        p.add_argument("run_dir", help="a trained generator folder, e.g. runs/ml-100k/generator-co")
        p.add_argument("--history", required=True, help="comma-separated item ids, oldest first")
        p.add_argument("-k", type=int, default=10)
        p.add_argument("--device", choices=["CPU", "GPU", "Ascend"])
        try:
            cmd_recommend(p.parse_args(argv[1:]))
        except CostError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    args = build_parser().parse_args(argv)
    try:
        overrides = list(args.set)
        if args.device:
            overrides.append(f"run.device={args.device}")
        if args.out:
            overrides.append(f"run.out={args.out}")
        cfg = load_config(args.config, overrides)
        if not args.quiet:
            log.info("resolved config:\n%s", dump(cfg))
        COMMANDS[args.command][0](cfg, args)
    except CostError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
