"""The ``views`` stage: extra item views for SimCIT, one ``<name>.npy`` per view plus ``meta.json``.

``python -m cost_ms views CONFIG`` builds the views of :data:`.builders.BUILDERS` (``cf``, ``attr``)
from the training part of the prepared data into ``<run>/views/``; a view of your own (image
embeddings, say) joins the same folder through ``tools/convert_embeddings.py --view NAME``.
``text`` is not stored here: it is the embed stage's ``item_emb.npy``. Row ``i`` is item ``i``;
:func:`load_views` checks the names, row counts, widths and NaN/inf before anything trains.
"""
import os
import shutil

import numpy as np

from ..embeddings import check_matrix
from ..errors import CostError
from ..io import read_json, read_meta, staged_dir, write_meta, write_npy
from .builders import BUILDERS

STAGE = "views"
TEXT = "text"


def _existing(folder):
    path = os.path.join(folder, "meta.json")
    return read_json(path, "views meta.json").get("views", {}) if os.path.isfile(path) else {}


def _write(folder, prep, views, keep=None):
    """Swap in ``folder`` holding ``views`` ({name: (matrix, info)}) plus the kept earlier entries."""
    keep = keep or {}
    entries = {}
    with staged_dir(folder) as tmp:
        for name, info in keep.items():       # views made elsewhere (convert_embeddings --view) survive
            shutil.copy2(os.path.join(folder, info["file"]), os.path.join(tmp, info["file"]))
            entries[name] = info
        for name, (m, info) in views.items():
            check_matrix(m, prep.num_items, what=f"view '{name}'")
            write_npy(os.path.join(tmp, f"{name}.npy"), m.astype(np.float32))
            entries[name] = {"file": f"{name}.npy", "dim": int(m.shape[1]), **info}
        write_meta(tmp, STAGE, dataset=prep.name, num_items=int(prep.num_items), views=entries)
    return entries


def build_views(prep, vc, folder, seed, attr_source=None):
    """Compute every built-in view and write the stage; returns its ``views`` entries."""
    made = {name: BUILDERS.get(name)(prep, vc, seed, attr_source) for name in BUILDERS.names()}
    old = {k: v for k, v in _existing(folder).items() if k not in made}
    return _write(folder, prep, made, old)


def add_view(folder, prep, name, matrix, **info):
    """Add (or replace) one view made outside this package, keeping the others."""
    if name == TEXT or name in BUILDERS.names():
        raise CostError(f"view name '{name}' is reserved ({', '.join([TEXT, *BUILDERS.names()])}); choose another")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise CostError(f"view name '{name}' must be letters, digits, '-' or '_'")
    old = {k: v for k, v in _existing(folder).items() if k != name}
    if os.path.isfile(os.path.join(folder, "meta.json")) and read_meta(folder, STAGE)["dataset"] != prep.name:
        raise CostError(f"views in {folder} are for another data set")
    return _write(folder, prep, {name: (matrix, info)}, old)


def load_views(folder, prep, names, text):
    """The matrices of ``names`` in order (``text`` = the embeddings ``text [N, D]``), each checked."""
    if not names:
        raise CostError("tokenizer.views is empty; name at least one view, e.g. [text]")
    if len(set(names)) != len(names):
        raise CostError(f"tokenizer.views {list(names)} names a view twice")
    others = [n for n in names if n != TEXT]
    entries = {}
    if others:
        meta = read_meta(folder, STAGE)
        if meta["dataset"] != prep.name:
            raise CostError(f"views in {folder} are for data set '{meta['dataset']}', not '{prep.name}'")
        entries = meta["views"]
    out = []
    for name in names:
        if name == TEXT:
            out.append(text)
            continue
        if name not in entries:
            known = sorted({TEXT, *entries})
            raise CostError(f"unknown view '{name}' in tokenizer.views; {folder} has: {', '.join(known)}")
        path = os.path.join(folder, entries[name]["file"])
        if not os.path.isfile(path):
            raise CostError(f"view '{name}': {path} is missing; re-run the views stage")
        out.append(check_matrix(np.load(path), prep.num_items, entries[name]["dim"], f"view '{name}' in {folder}"))
    return out
