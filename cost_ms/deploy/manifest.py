"""``manifest.json`` of an export: what each file is, and the checks a loader makes before using any of them.

The manifest plays the role a stage's ``meta.json`` plays: it is written last, and a folder is read only when its
format version is this one's and every file it lists exists with the SHA-256 it records. Each refusal is one line.
"""
import hashlib
import os

from ..errors import CostError
from ..io import read_json

MANIFEST = "manifest.json"
FORMAT = "cost-ms-export"
VERSION = 1


def is_export(folder):
    return os.path.isfile(os.path.join(folder, MANIFEST))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_hashes(folder, names):
    """``{name: sha256}`` of ``names`` (paths relative to ``folder``)."""
    return {name: sha256(os.path.join(folder, name)) for name in sorted(names)}


# folder -> size and mtime of each file of the exports this process has hashed: ``serve`` checks an export
# before it starts and loads it after, and every MindIR carries the weights, so a second hashing is a second full read
_VERIFIED = {}


def _signature(folder, names):
    out = []
    for name in (MANIFEST, *sorted(names)):
        st = os.stat(os.path.join(folder, name))
        out.append((name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def read_manifest(folder):
    """The checked manifest of the export in ``folder`` (a :class:`CostError` for anything missing or altered).

    Files are hashed once per process: a later call re-hashes only if a file's size or modification time changed."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        raise CostError(f"{folder} is not an export (no {MANIFEST}); make one with `python -m cost_ms export`")
    man = read_json(path, f"export {MANIFEST}")
    if not isinstance(man, dict) or man.get("format") != FORMAT:
        raise CostError(f"{path} is not a cost-ms export manifest")
    if man.get("version") != VERSION:
        raise CostError(f"{folder} is an export of format version {man.get('version')!r}; this cost-ms reads "
                        f"version {VERSION}: export the run again")
    files = man.get("files")
    if not isinstance(files, dict) or not files:
        raise CostError(f"{path} lists no files")
    for name in sorted(files):
        full = os.path.join(folder, name)
        if not os.path.isfile(full):
            raise CostError(f"export file missing: {full}")
    key, sig = os.path.realpath(folder), _signature(folder, files)
    if _VERIFIED.get(key) != sig:
        _VERIFIED.pop(key, None)
        for name, digest in sorted(files.items()):
            full = os.path.join(folder, name)
            if sha256(full) != digest:
                raise CostError(f"export file {full} was altered: its SHA-256 differs from {MANIFEST}")
    listed = {g["file"] for g in man.get("graphs", [])} | {"codes.npy", "trie.npz", "items.json"}
    unlisted = sorted(listed - files.keys())
    if unlisted:
        raise CostError(f"{path} does not hash {unlisted[0]}")
    _VERIFIED[key] = sig
    return man
