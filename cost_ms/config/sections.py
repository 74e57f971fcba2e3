"""One frozen dataclass per section of ``configs/base.yaml``, and :class:`Config` holding them.

The fields are the section's keys in ``base.yaml`` order (``tests/test_config.py`` holds the two together);
``base.yaml`` keeps the defaults and the longer notes. Values arrive type-checked by :func:`.schema.merge`;
each section then checks its own ranges (the class tables ``AT_LEAST_1`` ...) and relations (:meth:`check`),
and :class:`Config` the relations across sections. Any refusal is one CostError line naming the key.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from ..architectures import ARCHS
from ..errors import CostError
from ..tokenizer import TOKENIZERS
from .schema import merge, schema


def _whole(v):
    return isinstance(v, int) and not isinstance(v, bool)


# range tables a section may declare (key names), with the test and the words of the refusal
RANGES = (("AT_LEAST_1", lambda v: v >= 1, "a whole number >= 1"), ("AT_LEAST_0", lambda v: v >= 0, ">= 0"),
          ("ABOVE_0", lambda v: v > 0, "> 0"), ("FRACTION", lambda v: 0 <= v < 1, "in [0, 1)"),
          ("UNIT", lambda v: 0 <= v <= 1, "in [0, 1]"))


@dataclass(frozen=True)
class Section:
    """What every section shares: range tables, :meth:`check`, :meth:`to_dict` and :meth:`replace`."""

    NAME = ""               # the section's key in base.yaml
    AT_LEAST_1 = AT_LEAST_0 = ABOVE_0 = FRACTION = UNIT = ()

    def __post_init__(self):
        for table, ok, words in RANGES:
            for key in getattr(self, table):
                value = getattr(self, key)
                if not ok(value):
                    raise CostError(f"{self.NAME}.{key} must be {words}, got {value!r}")
        self.check()

    def check(self):
        """Refuse relations between this section's keys that cannot hold (one CostError line)."""

    def to_dict(self):
        """The section as the plain dict of its keys (base.yaml order, lists as lists, copies)."""
        return dataclasses.asdict(self)

    def replace(self, **changes):
        """A new section with ``changes`` (key=value), type-checked and validated as if set in a config file.

        The relations across sections are the Config's: change a section through :meth:`Config.replace` where
        they matter."""
        return type(self)(**merge(self.to_dict(), changes, "replace()", f"{self.NAME}.", schema()[self.NAME]))


@dataclass(frozen=True)
class DatasetConfig(Section):
    """Which data set is read and how it is filtered before the leave-one-out split."""

    NAME = "dataset"
    AT_LEAST_0 = ("max_seq_len", "min_item_users", "min_user_inter", "max_items", "min_rating")

    name: str                   # loader (ml-100k, amazon-office, lcrec-json, mind, amazon, ...)
    path: Optional[str]         # data folder; None = the loader's default
    prefix: Optional[str]       # lcrec-json file prefix; None = the preset's
    text_template: str          # how an item's fields become the text that is embedded
    min_seq_len: int            # shorter users are dropped
    max_seq_len: int            # keep the last N items of a sequence (0 = all)
    min_item_users: int         # rarer items are dropped
    min_user_inter: int         # users with fewer interactions are dropped first
    max_items: int              # keep the N most popular items (0 = all)
    category: Optional[str]     # Amazon 2014 raw: the file category
    min_rating: float           # MovieLens: lower ratings are ignored

    def check(self):
        if self.min_seq_len < 3:
            raise CostError("dataset.min_seq_len must be >= 3 (train, validation and test need one item each)")


@dataclass(frozen=True)
class EmbedConfig(Section):
    """The sentence encoder that embeds item text."""

    NAME = "embed"
    AT_LEAST_1 = ("batch_size",)

    model: str                  # hub name, local path, or minilm
    batch_size: int
    normalize: bool             # unit-length embeddings
    device: str                 # torch device of the encoder


@dataclass(frozen=True)
class TokenizerConfig(Section):
    """The semantic tokenizer: its method (``rqvae``, ``simcit``, ``random``) and their training.

    The method object (:mod:`cost_ms.tokenizer.method`) checks its own keys."""

    NAME = "tokenizer"
    AT_LEAST_1 = ("levels", "latent_dim", "batch_size", "epochs", "kmeans_iters", "neighbours", "proj_dim",
                  "fusion_hidden")
    AT_LEAST_0 = ("beta", "alpha", "weight_decay", "ckpt_every_steps", "warmup_steps", "gumbel_scale",
                  "entropy_weight", "diversity_weight")
    ABOVE_0 = ("lr", "tau", "gumbel_tau")

    method: str                 # registered TokenizerMethod name
    loss: str                   # rqvae: re | co | re+co (CoST eq. 1, 5, both)
    hidden: list[int]           # encoder MLP widths (the decoder mirrors them)
    latent_dim: int
    levels: int                 # codes per item (before the dedup level)
    codebook_size: int          # codewords per level
    shared_codebook: bool       # one book for every level
    beta: float                 # commitment weight (eq. 3)
    alpha: float                # contrastive weight (eq. 5)
    tau: float                  # InfoNCE temperature (eq. 4)
    lr: float
    weight_decay: float
    batch_size: int
    epochs: int
    kmeans_init: bool           # codebooks from k-means on the first encodings
    kmeans_iters: int
    kmeans_init_rows: int       # rows k-means fits: 0 first batch, -1 every item, N seeded rows
    center_inputs: bool         # subtract the mean embedding first
    reseed_dead_codes: bool
    ckpt_every_steps: int       # 0 = epoch ends only
    global_negatives: bool      # data parallel: every worker's negatives
    neighbours: int             # k of the report's neighbourhood score
    views: list[str]            # simcit: item views trained on
    gumbel_tau: float           # simcit: soft-assignment temperature
    gumbel_scale: float         # simcit: Gumbel noise scale
    same_view_negatives: bool   # simcit: negatives from both sides
    unit_latent: bool           # simcit: L2-normalised fused latent
    gumbel_hard: bool           # simcit: straight-through hard codes
    diversity_weight: float     # simcit: codeword diversity term
    entropy_weight: float       # simcit: code-usage entropy term
    proj_dim: int               # simcit: projection head width
    fusion_hidden: int          # simcit: fusion attention width
    warmup_steps: int           # simcit: lr warm-up

    def check(self):
        if self.levels < 1 or self.codebook_size < 2:
            raise CostError("tokenizer.levels must be >= 1 and tokenizer.codebook_size >= 2")
        if self.batch_size < self.codebook_size and self.kmeans_init:
            raise CostError("tokenizer.batch_size must be >= tokenizer.codebook_size for k-means init")
        rows = self.kmeans_init_rows
        if rows < -1 or 0 < rows < self.codebook_size:
            raise CostError(f"tokenizer.kmeans_init_rows must be 0 (first batch), -1 (every item) or a row count "
                            f">= tokenizer.codebook_size ({self.codebook_size}); got {rows!r}")
        if self.method not in TOKENIZERS:
            raise CostError(f"unknown tokenizer.method '{self.method}'; choose one of: {', '.join(TOKENIZERS.names())}")
        TOKENIZERS.get(self.method).check(self)          # the method's own keys


@dataclass(frozen=True)
class ViewsConfig(Section):
    """The views stage: extra item views (cf, attr) from the training part, for SimCIT."""

    NAME = "views"
    AT_LEAST_1 = ("cf_window", "cf_dim", "attr_min_items", "attr_max")

    cf_window: int              # cf: co-occurrence window (positions)
    cf_dim: int                 # cf: SVD width
    attr_fields: list[str]      # attr: item fields read when there is no attribute file
    attr_min_items: int         # attr: rarer attributes are dropped
    attr_max: int               # attr: most frequent attributes kept


@dataclass(frozen=True)
class GeneratorConfig(Section):
    """The generative retriever (``arch``: TIGER's encoder-decoder or the causal generator), its training and its
    beam search."""

    NAME = "generator"
    AT_LEAST_1 = ("max_history", "window_stride", "enc_layers", "dec_layers", "d_model", "num_heads", "ffn_dim", "batch_size",
                  "epochs", "patience", "eval_every", "eval_batch_size", "beam_size")
    AT_LEAST_0 = ("user_buckets", "weight_decay", "warmup_steps", "max_train_minutes", "max_train_steps",
                  "valid_users", "ckpt_every_steps")
    ABOVE_0 = ("lr",)
    FRACTION = ("dropout",)
    UNIT = ("min_lr_ratio",)

    arch: str                   # generator architecture (cost_ms/architectures.py)
    max_history: int            # history items the model reads
    window_stride: int          # causal: items between the ends of a sequence's training windows
    item_embedding: bool        # causal: embed complete history items' ids too
    length_buckets: list[int]   # history lengths training batches are cropped to (max_history always last)
    user_buckets: int           # hashed user tokens (0 = none)
    enc_layers: int
    dec_layers: int
    d_model: int
    num_heads: int
    head_dim: Optional[int]     # None = d_model // num_heads
    ffn_dim: int
    dropout: float
    lr: float
    weight_decay: float
    batch_size: int             # per worker under data parallel
    micro_batches: int          # slices of each step (same update, less memory)
    micro_batch_tokens: int     # > 0: slices per batch shape from a token budget
    epochs: int
    warmup_steps: int
    decay: str                  # lr schedule after warm-up
    min_lr_ratio: float
    patience: int               # validations without improvement before stopping
    eval_every: int             # epochs between validations
    eval_batch_size: int        # users per beam-search batch
    beam_size: int              # items the beam search returns (>= every eval k)
    max_train_minutes: float    # time budget (0 = none)
    max_train_steps: int        # step budget (0 = none)
    valid_users: int            # validation users during training (0 = all)
    ckpt_every_steps: int       # 0 = epoch ends only

    def check(self):
        if self.head_dim is not None and self.head_dim < 1:
            raise CostError(f"generator.head_dim must be >= 1 or null, got {self.head_dim!r}")
        if self.d_model % self.num_heads and self.head_dim is None:
            raise CostError("generator.d_model must be divisible by generator.num_heads (or set generator.head_dim)")
        if self.micro_batches < 1 or self.batch_size % self.micro_batches:
            raise CostError(f"generator.micro_batches must be a whole number >= 1 that divides generator.batch_size "
                            f"({self.batch_size}); got {self.micro_batches!r}")
        if self.micro_batch_tokens < 0:
            raise CostError(f"generator.micro_batch_tokens must be a whole number >= 0 (0 = off); "
                            f"got {self.micro_batch_tokens!r}")
        buckets = self.length_buckets
        if not all(_whole(b) and b >= 1 for b in buckets) or list(buckets) != sorted(set(buckets)):
            raise CostError(f"generator.length_buckets must be increasing history lengths >= 1, got {buckets!r}")
        if buckets and buckets[-1] > self.max_history:     # a longer bucket would never be used
            raise CostError(f"generator.length_buckets {buckets!r} go above generator.max_history "
                            f"({self.max_history}), which is always the last bucket; drop the longer ones")
        ARCHS.get(self.arch).check(self)            # the architecture's own keys


@dataclass(frozen=True)
class BaselineConfig(Section):
    """SASRec, trained and evaluated beside the generator (``python -m cost_ms baseline``)."""

    NAME = "baseline"
    AT_LEAST_1 = ("max_len", "d_model", "num_heads", "blocks", "batch_size", "epochs", "eval_every", "patience",
                  "eval_batch_size")
    AT_LEAST_0 = ("weight_decay", "warmup_steps", "max_train_steps", "valid_users", "ckpt_every_steps")
    ABOVE_0 = ("lr",)
    FRACTION = ("dropout",)
    UNIT = ("min_lr_ratio",)

    max_len: int                # history items
    d_model: int
    num_heads: int
    blocks: int
    dropout: float
    lr: float
    weight_decay: float
    warmup_steps: int
    decay: str                  # lr schedule after warm-up
    min_lr_ratio: float
    batch_size: int             # users per step
    epochs: int
    max_train_steps: int        # step budget (0 = none)
    eval_every: int             # epochs between validations
    patience: int               # validations without improvement before stopping
    valid_users: int            # validation users during training (0 = all)
    eval_batch_size: int
    ckpt_every_steps: int       # 0 = epoch ends only


@dataclass(frozen=True)
class EvalConfig(Section):
    """The evaluation protocol every model is scored under."""

    NAME = "eval"
    AT_LEAST_0 = ("valid_users",)

    ks: list[int]               # Recall/NDCG cut-offs
    early_stop: Optional[str]   # recall@k or ndcg@k; None = ndcg@10 (or @ks[0]), named when the section is built
    valid_users: int            # validation users in metrics.json (0 = all)
    exclude_history: bool       # never recommend an item of the user's history

    def check(self):
        ks = self.ks
        if not ks:
            raise CostError("eval.ks must list at least one cut-off")
        if not all(_whole(k) and k >= 1 for k in ks) or len(set(ks)) != len(ks):
            raise CostError(f"eval.ks must be distinct whole numbers >= 1, got {ks!r}")
        if self.early_stop is None:      # named here, so the saved config names the metric
            object.__setattr__(self, "early_stop", f"ndcg@{10 if 10 in ks else ks[0]}")
        name, _, k = str(self.early_stop).partition("@")
        if name not in ("recall", "ndcg") or not k.isdigit() or int(k) not in ks:
            raise CostError(f"eval.early_stop '{self.early_stop}' is not a metric this run computes; "
                            f"choose recall@k or ndcg@k with k in eval.ks {list(ks)}")


@dataclass(frozen=True)
class RunConfig(Section):
    """Where a run writes, on which device, and process-wide settings."""

    NAME = "run"
    AT_LEAST_1 = ("keep_checkpoints",)

    out: Optional[str]          # run folder; None = runs/<dataset.name>
    device: str                 # CPU | GPU | Ascend
    mode: str                   # graph | pynative
    seed: int
    data_parallel: bool         # under msrun; batch sizes are per worker
    keep_checkpoints: int       # newest resumable checkpoints kept
    log_every_steps: int        # steps between host reads of the losses
    tokenizer_cpu_threads: int  # MindSpore CPU threads in tokenize (0 = its default)
    generator_cpu_threads: int  # the same for train, evaluate, recommend
    cpu_host_blocking: bool     # CPU: launch graphs from the Python thread

    def check(self):
        for key in ("tokenizer_cpu_threads", "generator_cpu_threads"):
            threads = getattr(self, key)
            if threads < 0:
                raise CostError(f"run.{key} must be a whole number >= 0 (0 = MindSpore's default), got {threads!r}")
        if self.log_every_steps < 1:
            raise CostError("run.log_every_steps must be >= 1")


SECTIONS = {cls.NAME: cls for cls in (DatasetConfig, EmbedConfig, TokenizerConfig, ViewsConfig, GeneratorConfig,
                                      BaselineConfig, EvalConfig, RunConfig)}


@dataclass(frozen=True)
class Config:
    """A whole resolved config: ``cfg.generator.beam_size``. Built by :func:`~cost_ms.config.load_config`,
    :func:`~cost_ms.config.load_saved` or :meth:`replace`, never half-checked. Frozen: :meth:`replace` makes a
    new one; list values stay plain lists (what the saved YAML and the hashes hold), not to be changed in place."""

    dataset: DatasetConfig
    embed: EmbedConfig
    tokenizer: TokenizerConfig
    views: ViewsConfig
    generator: GeneratorConfig
    baseline: BaselineConfig
    eval: EvalConfig
    run: RunConfig

    def __post_init__(self):
        ks, beam = self.eval.ks, self.generator.beam_size
        if max(ks) > beam:
            raise CostError(f"generator.beam_size ({beam}) must be >= the largest eval k ({max(ks)})")

    @classmethod
    def from_dict(cls, data, where="a dict"):
        """The Config of a nested dict such as :meth:`to_dict` gives, merged over the schema (keys it lacks take
        their defaults) and checked like a config file; ``where`` names it in errors."""
        return cls.build(merge(schema(), data, where))

    @classmethod
    def build(cls, merged):
        """The Config of a merged, type-checked nested dict that holds every key of base.yaml."""
        return cls(**{name: SECTIONS[name](**merged[name]) for name in SECTIONS})

    def to_dict(self):
        """The nested plain dict (base.yaml order, lists as lists): what config_hash, resume keys and the
        saved config.yaml are made from, the same dict as before configs were typed."""
        return dataclasses.asdict(self)

    def replace(self, **changes):
        """A new Config with ``changes`` per section, each a mapping of its keys, type-checked and validated as
        if set in a config file: ``cfg.replace(generator={"max_train_steps": 3}, run={"out": path})``."""
        return Config.build(merge(self.to_dict(), changes, "replace()", types=schema()))


__all__ = ["Config", "SECTIONS"] + [cls.__name__ for cls in SECTIONS.values()]
