"""Amazon 2014 raw review files: ``reviews_<Cat>[_5].json.gz`` plus ``meta_<Cat>.json.gz``.

Each line is one record, JSON or a Python literal (the 2014 metadata files use the latter).
"""
import ast
import gzip
import json
import os

from ..errors import CostError
from .dataset import RawData
from .sources import source_info


def _records(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                try:
                    rec = ast.literal_eval(line)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    # TypeError: e.g. "{[]: 1}", a literal that parses but cannot be built
                    raise CostError(f"{path}:{n}: record is neither JSON nor a Python literal") from None
            if not isinstance(rec, dict):
                raise CostError(f"{path}:{n}: record must be an object")
            yield n, rec


def _find(folder, names):
    for name in names:
        p = os.path.join(folder, name)
        if os.path.isfile(p):
            return p
    raise CostError(f"amazon data folder {folder} is missing file {' or '.join(names)}")


def _categories(cats):
    # [["Office Products", "Office Supplies", "Pens"]] -> the deepest path, joined
    if isinstance(cats, list) and cats and isinstance(cats[0], list):
        cats = max(cats, key=len)
    return ", ".join(str(c) for c in cats) if isinstance(cats, list) else str(cats or "")


def load_amazon(folder, category):
    if not os.path.isdir(folder):
        raise CostError(f"amazon data folder not found: {folder}")
    if not category:
        raise CostError("dataset.category must name the Amazon category (e.g. Office_Products)")
    reviews_p = _find(folder, [f"reviews_{category}_5.json.gz", f"reviews_{category}.json.gz",
                               f"reviews_{category}_5.json", f"reviews_{category}.json"])
    meta_p = _find(folder, [f"meta_{category}.json.gz", f"meta_{category}.json"])
    events = []
    for n, rec in _records(reviews_p):
        try:
            events.append((str(rec["reviewerID"]), int(rec["unixReviewTime"]), n, str(rec["asin"])))
        except (KeyError, ValueError, TypeError):
            raise CostError(f"{reviews_p}:{n}: review needs reviewerID, asin and unixReviewTime") from None
    events.sort()
    seqs = {}
    for user, _, _, asin in events:
        seqs.setdefault(user, []).append(asin)
    items = {}
    for n, rec in _records(meta_p):
        if "asin" not in rec:
            raise CostError(f"{meta_p}:{n}: metadata record without asin")
        items[str(rec["asin"])] = {"title": rec.get("title", ""), "brand": rec.get("brand", ""),
                                   "description": rec.get("description", ""),
                                   "categories": _categories(rec.get("categories", []))}
    # reviews of items without metadata cannot get text: drop them, and count it
    n_before = sum(len(s) for s in seqs.values())
    seqs = {u: [i for i in s if i in items] for u, s in seqs.items()}
    dropped = n_before - sum(len(s) for s in seqs.values())
    return RawData(items, seqs, source_info([reviews_p, meta_p]), {"interactions_without_metadata": dropped})
