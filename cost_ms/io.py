"""Atomic file output and the ``meta.json`` contract between stages.

Every stage writes its files through :func:`atomic_write` (temp name, fsync, rename),
and writes ``meta.json`` last. A stage folder without ``meta.json`` is therefore
unfinished, and :func:`read_meta` refuses it with a message naming the command to run.
"""
import contextlib
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np

from .errors import CostError, MissingStage

META = "meta.json"


@contextlib.contextmanager
def atomic_path(path, suffix=".tmp"):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_npy(path, array):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def read_json(path, what="file"):
    if not os.path.isfile(path):
        raise CostError(f"{what} not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise CostError(f"{what} {path} is not valid JSON (line {e.lineno}: {e.msg})") from None


def read_meta(folder, stage):
    """Load ``folder/meta.json`` of a finished ``stage``; a missing one is a :class:`MissingStage`."""
    path = os.path.join(folder, META)
    if not os.path.isfile(path):
        raise MissingStage(f"{stage} output missing or unfinished in {folder} (no {META})", stage)
    meta = read_json(path, f"{stage} {META}")
    if meta.get("stage") != stage:
        raise CostError(f"{path} belongs to stage '{meta.get('stage')}', expected '{stage}'")
    return meta


def write_meta(folder, stage, **fields):
    write_json(os.path.join(folder, META), {"stage": stage, **fields})


@contextlib.contextmanager
def staged_dir(final):
    """Build a whole output folder under a temp name and swap it in at the end.

    On any error the temp folder is removed and an existing ``final`` stays untouched.
    """
    final = os.path.abspath(final)
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(final) + ".", suffix=".tmp", dir=parent)
    try:
        yield tmp
        if os.path.isdir(final):
            old = final + ".old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def dump_config(cfg):
    """A resolved config (the dict of ``Config.to_dict()``) as the YAML saved beside every output and checkpoint
    (keys in schema order)."""
    import yaml
    return yaml.safe_dump(cfg, sort_keys=False)


def config_hash(cfg):
    return hashlib.sha1(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]
