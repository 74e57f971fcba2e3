"""YAML configs: an experiment file merged over ``configs/base.yaml``.

An experiment may start from another with a top-level ``extends: <file>.yaml`` (same folder):
that file is resolved first (its own ``extends`` too) and this one is merged over it.

``base.yaml`` is the schema: every key a config may set appears there with its default.
A key not in it, in a file or in ``--set``, is an error that names the key; a value whose
type differs from the default's (int for float is fine, ``null`` defaults take anything)
is an error too. The resolved config is saved beside every checkpoint and output.
"""
import copy
import os

import yaml

from .errors import CostError
from .io import dump_config
from .architectures import ARCHS
from .tokenizer import TOKENIZERS

BASE_NAME = "base.yaml"


def _load_yaml(path):
    if not os.path.isfile(path):
        raise CostError(f"config not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise CostError(f"config {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise CostError(f"config {path} must be a mapping at top level")
    return data


# keys whose default is a value but that also take null (head_dim: null = d_model // num_heads)
NULLABLE = {"generator.head_dim"}


def _type_ok(default, value, dotted=""):
    if default is None:
        return True
    if value is None:
        return dotted in NULLABLE
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def merge(base, override, where, prefix=""):
    """Deep-merge ``override`` into a copy of ``base``; reject unknown keys and wrong types."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise CostError(f"unknown config key '{dotted}' in {where}; known keys here: {', '.join(sorted(base))}")
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise CostError(f"config key '{dotted}' in {where} must be a mapping")
            out[key] = merge(default, value, where, dotted + ".")
        elif not _type_ok(default, value, dotted):
            raise CostError(f"config key '{dotted}' in {where} must be {type(default).__name__}, "
                            f"got {type(value).__name__} ({value!r})")
        else:
            out[key] = float(value) if isinstance(default, float) and value is not None else value
    return out


def parse_set(items):
    """Turn ``["a.b=3", "c=[1,2]"]`` into a nested dict; values are parsed as YAML."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise CostError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                value = float(value)
            except ValueError:
                pass
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def base_path(config_path):
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), BASE_NAME)


def load_config(path, overrides=None):
    """Resolve ``path`` over the ``base.yaml`` beside it, then apply ``--set`` overrides."""
    base = _load_yaml(base_path(path))
    cfg = base
    if os.path.abspath(path) != os.path.abspath(base_path(path)):
        cfg = _merge_chain(base, path, [])
    cfg = merge(cfg, parse_set(overrides), "--set")
    validate(cfg)
    return cfg


def _merge_chain(base, path, seen):
    """``path`` merged over the file its top-level ``extends:`` names (same folder), down to ``base``."""
    data = _load_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return merge(base, data, path)
    if not isinstance(parent, str):
        raise CostError(f"'extends' in {path} must be a config file name, e.g. amazon-office-cpu.yaml")
    parent_path = os.path.join(os.path.dirname(os.path.abspath(path)), parent)
    if os.path.abspath(parent_path) in seen + [os.path.abspath(path)]:
        raise CostError(f"'extends' in {path} makes a cycle through {parent}")
    under = _merge_chain(base, parent_path, seen + [os.path.abspath(path)])
    return merge(under, data, path)


def project_base():
    """``configs/base.yaml`` of this checkout: the schema a saved config is validated against."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", BASE_NAME)


def load_saved(path):
    """A resolved config saved beside a run's outputs, checked against today's schema."""
    cfg = merge(_load_yaml(project_base()), _load_yaml(path), path)
    validate(cfg)
    return cfg


def _whole(v):
    return isinstance(v, int) and not isinstance(v, bool)


# lower bounds of numeric keys (types are checked against base.yaml before): whole numbers >= 1, numbers >= 0,
# numbers > 0
AT_LEAST_1 = {
    "embed": ["batch_size"],
    "tokenizer": ["levels", "latent_dim", "batch_size", "epochs", "kmeans_iters", "neighbours", "proj_dim",
                  "fusion_hidden"],
    "views": ["cf_window", "cf_dim", "attr_min_items", "attr_max"],
    "generator": ["max_history", "window_stride", "enc_layers", "dec_layers", "d_model", "num_heads", "ffn_dim", "batch_size", "epochs",
                  "patience", "eval_every", "eval_batch_size", "beam_size"],
    "baseline": ["max_len", "d_model", "num_heads", "blocks", "batch_size", "epochs", "eval_every", "patience",
                 "eval_batch_size"],
    "run": ["keep_checkpoints"],
}
AT_LEAST_0 = {
    "dataset": ["max_seq_len", "min_item_users", "min_user_inter", "max_items", "min_rating"],
    "tokenizer": ["beta", "alpha", "weight_decay", "ckpt_every_steps", "warmup_steps"],
    "generator": ["user_buckets", "weight_decay", "warmup_steps", "max_train_minutes", "max_train_steps",
                  "valid_users", "ckpt_every_steps"],
    "baseline": ["weight_decay", "warmup_steps", "max_train_steps", "valid_users", "ckpt_every_steps"],
    "eval": ["valid_users"],
}
ABOVE_0 = {"tokenizer": ["lr"], "generator": ["lr"], "baseline": ["lr"]}


def _check_ranges(cfg):
    for table, ok, words in ((AT_LEAST_1, lambda v: v >= 1, "a whole number >= 1"), (AT_LEAST_0, lambda v: v >= 0, ">= 0"),
                             (ABOVE_0, lambda v: v > 0, "> 0")):
        for section, keys in table.items():
            for key in keys:
                if not ok(cfg[section][key]):
                    raise CostError(f"{section}.{key} must be {words}, got {cfg[section][key]!r}")
    for section in ("generator", "baseline"):
        for key in ("dropout", "min_lr_ratio"):
            v = cfg[section][key]
            if not (0 <= v < 1 if key == "dropout" else 0 <= v <= 1):
                raise CostError(f"{section}.{key} must be in [0, 1{')' if key == 'dropout' else ']'}, got {v!r}")
    if cfg["generator"]["head_dim"] is not None and cfg["generator"]["head_dim"] < 1:
        raise CostError(f"generator.head_dim must be >= 1 or null, got {cfg['generator']['head_dim']!r}")


def validate(cfg):
    tok, gen = cfg["tokenizer"], cfg["generator"]
    _check_ranges(cfg)
    if tok["levels"] < 1 or tok["codebook_size"] < 2:
        raise CostError("tokenizer.levels must be >= 1 and tokenizer.codebook_size >= 2")
    if tok["batch_size"] < tok["codebook_size"] and tok["kmeans_init"]:
        raise CostError("tokenizer.batch_size must be >= tokenizer.codebook_size for k-means init")
    rows = tok["kmeans_init_rows"]
    if not isinstance(rows, int) or rows < -1 or 0 < rows < tok["codebook_size"]:
        raise CostError(f"tokenizer.kmeans_init_rows must be 0 (first batch), -1 (every item) or a row count "
                        f">= tokenizer.codebook_size ({tok['codebook_size']}); got {rows!r}")
    ARCHS.get(gen["arch"]).check(gen)                # the architecture's own keys
    mb = gen["micro_batches"]
    if not isinstance(mb, int) or mb < 1 or gen["batch_size"] % mb:
        raise CostError(f"generator.micro_batches must be a whole number >= 1 that divides generator.batch_size "
                        f"({gen['batch_size']}); got {mb!r}")
    mt = gen["micro_batch_tokens"]
    if not isinstance(mt, int) or mt < 0:
        raise CostError(f"generator.micro_batch_tokens must be a whole number >= 0 (0 = off); got {mt!r}")
    ks = cfg["eval"]["ks"]
    if not ks:
        raise CostError("eval.ks must list at least one cut-off")
    if not all(_whole(k) and k >= 1 for k in ks) or len(set(ks)) != len(ks):
        raise CostError(f"eval.ks must be distinct whole numbers >= 1, got {ks!r}")
    buckets = gen["length_buckets"]
    # lengths at or above max_history add nothing (max_history is always the last bucket) and are ignored
    if not all(_whole(b) and b >= 1 for b in buckets) or list(buckets) != sorted(set(buckets)):
        raise CostError(f"generator.length_buckets must be increasing history lengths >= 1, got {buckets!r}")
    if max(ks) > gen["beam_size"]:
        raise CostError(f"generator.beam_size ({gen['beam_size']}) must be >= the largest eval k ({max(ks)})")
    if cfg["eval"]["early_stop"] is None:      # resolved here, so the saved config names the metric
        cfg["eval"]["early_stop"] = f"ndcg@{10 if 10 in ks else ks[0]}"
    metric = cfg["eval"]["early_stop"]
    name, _, k = str(metric).partition("@")
    if name not in ("recall", "ndcg") or not k.isdigit() or int(k) not in ks:
        raise CostError(f"eval.early_stop '{metric}' is not a metric this run computes; "
                        f"choose recall@k or ndcg@k with k in eval.ks {list(ks)}")
    if tok["method"] not in TOKENIZERS:
        raise CostError(f"unknown tokenizer.method '{tok['method']}'; choose one of: {', '.join(TOKENIZERS.names())}")
    TOKENIZERS.get(tok["method"]).check(tok)          # the method's own keys
    for key in ("gumbel_tau", "tau"):
        if not tok[key] > 0:
            raise CostError(f"tokenizer.{key} must be > 0, got {tok[key]}")
    for key in ("gumbel_scale", "entropy_weight", "diversity_weight"):
        if tok[key] < 0:
            raise CostError(f"tokenizer.{key} must be >= 0, got {tok[key]}")
    for key in ("tokenizer_cpu_threads", "generator_cpu_threads"):
        threads = cfg["run"][key]
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
            raise CostError(f"run.{key} must be a whole number >= 0 (0 = MindSpore's default), got {threads!r}")
    if not isinstance(cfg["run"]["cpu_host_blocking"], bool):
        raise CostError(f"run.cpu_host_blocking must be true or false, got {cfg['run']['cpu_host_blocking']!r}")
    if cfg["run"]["log_every_steps"] < 1:
        raise CostError("run.log_every_steps must be >= 1")
    if cfg["dataset"]["min_seq_len"] < 3:
        raise CostError("dataset.min_seq_len must be >= 3 (train, validation and test need one item each)")


dump = dump_config      # the YAML every stage saves beside its output
