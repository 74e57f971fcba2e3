"""Amazon Office / Beauty in the LC-Rec / LETTER JSON layout (``<Name>.inter.json``, ``<Name>.item.json``)."""
import json
import os

from ..errors import CostError
from .dataset import RawData
from .sources import check_unique, require_files, source_info


def _read(path):
    def unique_keys(pairs):
        check_unique([k for k, _ in pairs], path, "key")
        return dict(pairs)

    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as e:
        raise CostError(f"{path} is not valid JSON (line {e.lineno}: {e.msg})") from None


def load_lcrec(folder, name):
    inter_p, item_p = require_files(folder, [f"{name}.inter.json", f"{name}.item.json"], name)
    inter, items = _read(inter_p), _read(item_p)
    if not isinstance(inter, dict) or not isinstance(items, dict):
        raise CostError(f"{folder}: {name}.inter.json and {name}.item.json must be JSON objects")
    seqs = {}
    for user, seq in inter.items():
        if not isinstance(seq, list) or not all(isinstance(i, int) for i in seq):
            raise CostError(f"{inter_p}: user {user} must map to a list of integer item ids")
        seqs[user] = [str(i) for i in seq]
    recs = {}
    for item, rec in items.items():
        if not isinstance(rec, dict):
            raise CostError(f"{item_p}: item {item} must map to an object of text fields")
        recs[str(item)] = rec
    extra = os.path.join(folder, f"{name}.item2attributes.json")
    return RawData(recs, seqs, source_info([inter_p, item_p] + ([extra] if os.path.isfile(extra) else [])))
