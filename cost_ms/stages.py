"""The run layout: every stage's folder, named from what it depends on, and its ``meta.json`` check.

Under the run folder (``run.out``, default ``runs/<dataset.name>``)::

    data/                          prepare   items, sequences, leave-one-out split
    embed-<model>/                 embed     item_emb.npy
    tokenize-<tokenizer tag>/      tokenize  semantic_ids.{csv,npy}, tokenizer_report.json, ckpt/
    generator-<tokenizer tag>/     train     best.ckpt, ckpt/, metrics.json (train and evaluate); TIGER's
    generator-<arch>-<tok. tag>/   train     the same for another generator.arch, e.g. generator-causal-minilm-rqvae-co
    baseline-<model>/              baseline  metrics.json (SASRec: also best.ckpt, ckpt/, history.json)
    views/                         views     <name>.npy per extra item view (SimCIT), meta.json

The tokenizer tag names the embedding model, the tokenizer method and (for ``rqvae``) its loss,
e.g. ``minilm-rqvae-co``; SimCIT's names its views, e.g. ``minilm-simcit-text+cf+attr``; ``random`` codes depend on nothing and are tagged ``random``. So changing
``embed.model`` or ``tokenizer.loss`` writes to a new folder instead of reusing or overwriting one.
"""
import os

from .architectures import get_arch
from .embeddings import model_tag
from .errors import StaleStage
from .io import read_meta
from .tokenizer import get_method


def tokenizer_tag(cfg):
    """``tokenize-<tag>``: what the semantic IDs depend on, named by the tokenizer method."""
    return get_method(cfg.tokenizer).tag(cfg.tokenizer, model_tag(cfg.embed.model))


def check_settings(folder, stage, section, current):
    """Refuse ``folder`` (a finished ``stage``) when its saved ``config.yaml`` has a ``section`` key whose value
    differs from ``current``'s: the folder name does not say every setting (``tokenizer.center_inputs`` is not
    in the tag), so without this a changed setting would silently reuse the old output. Keys the saved config
    lacks (added to the project since that run) are reported in the log, not refused."""
    import logging

    import yaml
    path = os.path.join(folder, "config.yaml")
    if not os.path.exists(path):
        return
    with open(path) as f:
        saved = (yaml.safe_load(f) or {}).get(section, {})
    differ = sorted(k for k in saved.keys() & current.keys() if saved[k] != current[k])
    if differ:
        shown = ", ".join(f"{section}.{k} {saved[k]!r} there, {current[k]!r} here" for k in differ)
        raise StaleStage(f"{folder} was made with other settings: {shown}", stage)
    newer = sorted(current.keys() - saved.keys())
    if newer:
        logging.getLogger("cost_ms").info("%s predates the keys %s; using it as made", folder,
                                          ", ".join(f"{section}.{k}" for k in newer))


class Stages:
    """Folders of one run's stages, from the resolved config."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.root = cfg.run.out or os.path.join("runs", cfg.dataset.name)
        self.data = os.path.join(self.root, "data")
        self.embed = os.path.join(self.root, f"embed-{model_tag(cfg.embed.model)}")
        self.tokenize = os.path.join(self.root, f"tokenize-{tokenizer_tag(cfg)}")
        self.generator = os.path.join(self.root, get_arch(cfg.generator).folder(tokenizer_tag(cfg)))
        self.views = os.path.join(self.root, "views")

    def baseline(self, model):
        return os.path.join(self.root, f"baseline-{model}")

    def folder(self, stage):
        return {"prepare": self.data, "embed": self.embed, "tokenize": self.tokenize, "train": self.generator,
                "views": self.views}[stage]

    def meta(self, stage):
        """``meta.json`` of a finished stage, or a :class:`MissingStage` error."""
        return read_meta(self.folder(stage), stage)

    def prepared(self):
        from .data import load
        return load(self.data)

    def embeddings(self, prep):
        from .embeddings import load_embeddings
        return load_embeddings(self.embed, prep.name, prep.num_items)

    def item_views(self, prep, names, text):
        """The SimCIT views ``names`` (``text`` = the embeddings), checked (see :func:`cost_ms.views.load_views`)."""
        from .views import load_views
        return load_views(self.views, prep, names, text)

    def semantic_ids(self, prep):
        """The tokenize stage's semantic IDs, refused if that stage ran with other tokenizer settings."""
        from .tokenizer.semantic_ids import load_semantic_ids
        sid, _ = load_semantic_ids(self.tokenize, prep.name, prep.num_items)
        check_settings(self.tokenize, "tokenize", "tokenizer", self.cfg.tokenizer.to_dict())
        return sid

    def relative(self, stage, start):
        """Path of ``stage``'s folder relative to ``start`` (recorded in meta.json, so a run folder can move)."""
        return os.path.relpath(os.path.abspath(self.folder(stage)), os.path.abspath(start))
