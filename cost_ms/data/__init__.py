"""Data loaders behind one registry: ``create_dataset(cfg["dataset"])`` -> :class:`Prepared`."""
import os

from ..errors import CostError
from ..registry import Registry
from .amazon_raw import load_amazon
from .dataset import Prepared, RawData, load, process, save, summary  # noqa: F401
from .lcrec_json import load_lcrec
from .mind import load_mind
from .movielens import load_ml100k, load_ml_latest_small
from .sources import fetch_ml100k, shared_data_dir  # noqa: F401

LOADERS = Registry("dataset")


def _shared(sub):
    return os.path.join(shared_data_dir(), sub)


@LOADERS.register("ml-100k")
def _ml100k(cfg):
    return load_ml100k(cfg["path"], cfg["min_rating"])


@LOADERS.register("ml-latest-small")
def _ml_small(cfg):
    return load_ml_latest_small(cfg["path"] or _shared("ml-latest-small"), cfg["min_rating"])


@LOADERS.register("lcrec-json")
def _lcrec(cfg):
    return load_lcrec(cfg["path"], cfg.get("prefix"))


PRESETS = {}                # lcrec-json presets: name -> (folder under ../shared/data, prefix)


def attributes_file(cfg):
    """``<prefix>.item2attributes.json`` of an LC-Rec-layout data set, when it has one; else None."""
    folder, prefix = cfg["path"], cfg.get("prefix")
    if cfg["name"] in PRESETS:
        folder = folder or _shared(PRESETS[cfg["name"]][0])
        prefix = prefix or PRESETS[cfg["name"]][1]
    elif cfg["name"] != "lcrec-json":
        return None
    path = os.path.join(folder or "", f"{prefix}.item2attributes.json")
    return path if prefix and os.path.isfile(path) else None


def _lcrec_preset(name, folder, prefix):
    """``name``: ``lcrec-json`` with ``../shared/data/<folder>`` and ``prefix`` as defaults
    (``dataset.path`` / ``dataset.prefix`` still override them)."""
    PRESETS[name] = (folder, prefix)
    @LOADERS.register(name)
    def _preset(cfg):
        return load_lcrec(cfg["path"] or _shared(folder), cfg.get("prefix") or prefix, name)
    return _preset


_lcrec_preset("amazon-office", "amazon-office", "Office")
_lcrec_preset("amazon-beauty", "amazon-beauty", "Beauty")


@LOADERS.register("mind")
def _mind(cfg):
    if not cfg["path"]:
        raise CostError("dataset.path must point at a MIND folder with news.tsv and behaviors.tsv "
                        "(../shared/data/mind-fragment is a parser test fragment, not a full data set)")
    return load_mind(cfg["path"])


@LOADERS.register("amazon")
def _amazon(cfg):
    if not cfg["path"]:
        raise CostError("dataset.path must point at a folder with reviews_<Cat>_5.json.gz and meta_<Cat>.json.gz")
    return load_amazon(cfg["path"], cfg["category"])


def create_dataset(cfg):
    """Load and process the data set named in the ``dataset`` config section."""
    raw = LOADERS.get(cfg["name"])(cfg)
    return process(raw, cfg)
