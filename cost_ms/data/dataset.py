"""The one processed form every loader produces, and the leave-one-out split.

A loader returns :class:`RawData` (items keyed by their original id, time-ordered
sequences of original ids). :func:`process` applies the configured filters, maps ids
to dense indices ``0..N-1`` and :func:`save` writes::

    items.csv       index,item_id,text,<fields...>
    sequences.json  {"<user>": [item index, ...]}      oldest first
    split.json      leave-one-out: last item test, second-last validation
    meta.json       dataset id, counts, filters applied, users dropped, and per split the targets
                    that occur in their own history (``repeat_targets``)
"""
import collections
import json
import os
from dataclasses import dataclass, field

import pandas as pd

from ..errors import CostError
from ..io import read_json, read_meta, staged_dir, write_json, write_meta
from .splits import Splits
from .text import check_template, render

STAGE = "prepare"


@dataclass
class RawData:
    items: dict                    # original item id -> {field: value}
    sequences: dict                # user id -> [original item id, ...], oldest first
    source: dict = field(default_factory=dict)   # files read, for meta.json
    counts: dict = field(default_factory=dict)   # loader-level filter counts


@dataclass
class Prepared:
    name: str
    items: pd.DataFrame            # index, item_id, text, fields
    sequences: dict                # user -> [item index]
    meta: dict

    @property
    def num_items(self):
        return len(self.items)

    def split(self):
        """Leave-one-out: ``(train, valid, test)``; train[u] is the sequence minus its last two items."""
        train = {u: s[:-2] for u, s in self.sequences.items()}
        valid = {u: s[-2] for u, s in self.sequences.items()}
        test = {u: s[-1] for u, s in self.sequences.items()}
        return train, valid, test


def _count_users(sequences):
    users = collections.Counter()
    for seq in sequences.values():
        users.update(set(seq))
    return users


def process(raw, dc):
    """Filter, re-index and render text. ``dc`` is the ``dataset`` section (:class:`~cost_ms.config.DatasetConfig`)."""
    if not raw.sequences:
        raise CostError(f"data set '{dc.name}' has no user sequences")
    unknown = {i for seq in raw.sequences.values() for i in seq if i not in raw.items}
    if unknown:
        sample = ", ".join(sorted(map(str, unknown))[:5])
        raise CostError(f"{len(unknown)} item id(s) in the sequences have no item record (e.g. {sample})")
    fields = set().union(*(rec.keys() for rec in raw.items.values())) if raw.items else set()
    check_template(dc.text_template, fields)

    counts = dict(raw.counts)
    seqs = {u: list(s) for u, s in raw.sequences.items()}
    if dc.min_user_inter:
        before = len(seqs)
        seqs = {u: s for u, s in seqs.items() if len(s) >= dc.min_user_inter}
        counts["users_dropped_min_user_inter"] = before - len(seqs)
    if dc.min_item_users:
        users_per_item = _count_users(seqs)
        keep = {i for i, n in users_per_item.items() if n >= dc.min_item_users}
        counts["items_dropped_min_item_users"] = len(users_per_item) - len(keep)
        seqs = {u: [i for i in s if i in keep] for u, s in seqs.items()}
    if dc.max_items:
        pop = collections.Counter(i for s in seqs.values() for i in s)
        keep = {i for i, _ in sorted(pop.items(), key=lambda kv: (-kv[1], str(kv[0])))[: dc.max_items]}
        counts["items_dropped_max_items"] = len(pop) - len(keep)
        seqs = {u: [i for i in s if i in keep] for u, s in seqs.items()}
    if dc.max_seq_len:
        seqs = {u: s[-dc.max_seq_len:] for u, s in seqs.items()}
    before = len(seqs)
    seqs = {u: s for u, s in seqs.items() if len(s) >= dc.min_seq_len}
    counts["users_dropped_short"] = before - len(seqs)
    if not seqs:
        raise CostError(f"no user has >= {dc.min_seq_len} items after filtering ({counts})")

    # dense ids in order of first appearance (users sorted), so indices are stable across runs
    index = {}
    for u in sorted(seqs, key=_user_key):
        for i in seqs[u]:
            if i not in index:
                index[i] = len(index)
    rows = []
    for item_id, idx in index.items():
        rec = raw.items[item_id]
        rows.append({"index": idx, "item_id": str(item_id), "text": render(dc.text_template, rec),
                     **{k: rec.get(k, "") for k in sorted(fields)}})
    items = pd.DataFrame(rows).sort_values("index").reset_index(drop=True)
    sequences = {str(u): [index[i] for i in seqs[u]] for u in sorted(seqs, key=_user_key)}
    n_inter = sum(len(s) for s in sequences.values())
    meta = {"dataset": dc.name, "num_users": len(sequences), "num_items": len(items),
            "num_interactions": n_inter, "split": "leave-one-out (last=test, second-last=valid)",
            "filters": {"min_seq_len": dc.min_seq_len, "max_seq_len": dc.max_seq_len,
                        "min_item_users": dc.min_item_users, "min_user_inter": dc.min_user_inter,
                        "max_items": dc.max_items},
            "counts": counts, "text_template": dc.text_template, "source": raw.source,
            "empty_texts": int((items["text"] == "").sum())}
    prep = Prepared(dc.name, items, sequences, meta)
    # targets already in their own history: unreachable under eval.exclude_history (data/splits.py)
    meta["repeat_targets"] = Splits(prep).repeat_targets()
    return prep


def _user_key(u):
    s = str(u)
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


def save(prep, folder):
    with staged_dir(folder) as tmp:
        prep.items.to_csv(os.path.join(tmp, "items.csv"), index=False)
        write_json(os.path.join(tmp, "sequences.json"), prep.sequences)
        _, valid, test = prep.split()
        write_json(os.path.join(tmp, "split.json"), {"scheme": "leave-one-out", "valid": valid, "test": test})
        write_meta(tmp, STAGE, **prep.meta)


def load(folder):
    meta = read_meta(folder, STAGE)
    items = pd.read_csv(os.path.join(folder, "items.csv"), keep_default_na=False, dtype={"item_id": str})
    sequences = read_json(os.path.join(folder, "sequences.json"), "sequences")
    split = read_json(os.path.join(folder, "split.json"), "split")
    prep = Prepared(meta["dataset"], items, sequences, meta)
    _, valid, test = prep.split()
    if split["valid"] != valid or split["test"] != test:
        raise CostError(f"{folder}/split.json does not match sequences.json; re-run prepare")
    if len(items) != meta["num_items"]:
        raise CostError(f"{folder}/items.csv has {len(items)} rows, meta.json says {meta['num_items']}")
    return prep


def summary(prep):
    return json.dumps({k: prep.meta[k] for k in ("dataset", "num_users", "num_items", "num_interactions")})
