"""The LC-Rec / LETTER JSON layout: ``<Prefix>.inter.json`` and ``<Prefix>.item.json`` in one folder.

The layout LC-Rec, LETTER and many generative-retrieval papers publish their Amazon splits in::

    <Prefix>.inter.json            {"<user>": [item id, ...]}      oldest first, integer ids
    <Prefix>.item.json             {"<item id>": {field: text}}
    <Prefix>.item2attributes.json  optional; only recorded in meta.json's source

``dataset.name: lcrec-json`` reads any such folder (``dataset.path`` + ``dataset.prefix``);
``amazon-office`` and ``amazon-beauty`` are presets of the same loader (see ``__init__.py``).
"""
import json
import os

from ..errors import CostError
from .dataset import RawData
from .sources import check_unique, source_info

INTER, ITEM, ATTRS = ".inter.json", ".item.json", ".item2attributes.json"


def _read(path):
    def unique_keys(pairs):
        check_unique([k for k, _ in pairs], path, "key")
        return dict(pairs)

    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as e:
        raise CostError(f"{path} is not valid JSON (line {e.lineno}: {e.msg})") from None
    except UnicodeDecodeError as e:
        raise CostError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None


def prefixes(folder):
    """The ``<prefix>`` of every ``<prefix>.inter.json`` in ``folder``, sorted."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(n[: -len(INTER)] for n in names if n.endswith(INTER) and len(n) > len(INTER))


def _has(folder):
    found = prefixes(folder)
    if not found:
        return f"this folder has no *{INTER} file"
    shown = ", ".join(found[:10]) + (f", ... ({len(found)} in all)" if len(found) > 10 else "")
    return f"this folder has: {shown}"


def check_folder(folder, prefix, what="lcrec-json"):
    """Paths of ``<prefix>.inter.json`` and ``<prefix>.item.json``, or a one-line CostError saying what is wrong."""
    if not folder:
        p = prefix if isinstance(prefix, str) and prefix else "<prefix>"
        raise CostError(f"dataset.path must point at a folder with {p}{INTER} and {p}{ITEM} "
                        "(the LC-Rec/LETTER JSON layout)")
    if not os.path.isdir(folder):
        raise CostError(f"{what} data folder not found: {folder}")
    if prefix is None or prefix == "":
        raise CostError(f"dataset.prefix is not set: it names the files <prefix>{INTER} and <prefix>{ITEM} "
                        f"in {folder}; {_has(folder)}")
    if not isinstance(prefix, str):
        raise CostError(f"dataset.prefix must be a string (the <prefix> of <prefix>{INTER}), "
                        f"got {type(prefix).__name__} ({prefix!r})")
    if "/" in prefix or os.sep in prefix:
        raise CostError(f"dataset.prefix '{prefix}' must be a file-name prefix such as 'Office', not a path; "
                        "put the folder in dataset.path")
    inter_p, item_p = os.path.join(folder, prefix + INTER), os.path.join(folder, prefix + ITEM)
    if not os.path.isfile(inter_p):
        raise CostError(f"{what}: no {prefix}{INTER} in {folder}; {_has(folder)}")
    if not os.path.isfile(item_p):
        raise CostError(f"{what}: {folder} has {prefix}{INTER} but no {prefix}{ITEM}")
    return inter_p, item_p


def load_lcrec(folder, prefix, what="lcrec-json"):
    """Read ``<folder>/<prefix>.inter.json`` and ``<prefix>.item.json`` into :class:`RawData`."""
    inter_p, item_p = check_folder(folder, prefix, what)
    inter, items = _read(inter_p), _read(item_p)
    if not isinstance(inter, dict) or not isinstance(items, dict):
        raise CostError(f"{folder}: {prefix}{INTER} and {prefix}{ITEM} must be JSON objects")
    seqs = {}
    for user, seq in inter.items():
        if not isinstance(seq, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in seq):
            raise CostError(f"{inter_p}: user {user} must map to a list of integer item ids")
        seqs[user] = [str(i) for i in seq]
    recs = {}
    for item, rec in items.items():
        if not isinstance(rec, dict):
            raise CostError(f"{item_p}: item {item} must map to an object of text fields")
        recs[str(item)] = rec
    extra = os.path.join(folder, prefix + ATTRS)
    return RawData(recs, seqs, source_info([inter_p, item_p] + ([extra] if os.path.isfile(extra) else [])))
