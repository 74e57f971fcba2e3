"""Data loaders behind one registry: ``create_dataset(cfg.dataset)`` -> :class:`Prepared`."""
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
def _ml100k(dc):
    return load_ml100k(dc.path, dc.min_rating)


@LOADERS.register("ml-latest-small")
def _ml_small(dc):
    return load_ml_latest_small(dc.path or _shared("ml-latest-small"), dc.min_rating)


@LOADERS.register("lcrec-json")
def _lcrec(dc):
    return load_lcrec(dc.path, dc.prefix)


PRESETS = {}                # lcrec-json presets: name -> (folder under ../shared/data, prefix)


def attributes_file(dc):
    """``<prefix>.item2attributes.json`` of an LC-Rec-layout data set, when it has one; else None."""
    folder, prefix = dc.path, dc.prefix
    if dc.name in PRESETS:
        folder = folder or _shared(PRESETS[dc.name][0])
        prefix = prefix or PRESETS[dc.name][1]
    elif dc.name != "lcrec-json":
        return None
    path = os.path.join(folder or "", f"{prefix}.item2attributes.json")
    return path if prefix and os.path.isfile(path) else None


def _lcrec_preset(name, folder, prefix):
    """``name``: ``lcrec-json`` with ``../shared/data/<folder>`` and ``prefix`` as defaults
    (``dataset.path`` / ``dataset.prefix`` still override them)."""
    PRESETS[name] = (folder, prefix)
    @LOADERS.register(name)
    def _preset(dc):
        return load_lcrec(dc.path or _shared(folder), dc.prefix or prefix, name)
    return _preset


_lcrec_preset("amazon-office", "amazon-office", "Office")
_lcrec_preset("amazon-beauty", "amazon-beauty", "Beauty")


@LOADERS.register("mind")
def _mind(dc):
    if not dc.path:
        raise CostError("dataset.path must point at a MIND folder with news.tsv and behaviors.tsv "
                        "(../shared/data/mind-fragment is a parser test fragment, not a full data set)")
    return load_mind(dc.path)


@LOADERS.register("amazon")
def _amazon(dc):
    if not dc.path:
        raise CostError("dataset.path must point at a folder with reviews_<Cat>_5.json.gz and meta_<Cat>.json.gz")
    return load_amazon(dc.path, dc.category)


def create_dataset(dc):
    """Load and process the data set named in the ``dataset`` config section."""
    raw = LOADERS.get(dc.name)(dc)
    return process(raw, dc)
