"""Top-k recommendations from a trained run folder, for a history of original item ids."""
import os

import yaml

from ..data import load
from ..errors import CostError
from ..io import read_meta
from ..runtime import init_runtime
from ..tokenizer import load_semantic_ids
from .trainer import GeneratorSetup, load_best


class Recommender:
    """``Recommender("runs/ml-100k/generator-co").recommend(["50", "172"], k=10)``."""

    def __init__(self, run_dir, device=None):
        meta = read_meta(run_dir, "train", "python -m cost_ms train CONFIG")
        with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
        init_runtime(device or cfg["run"]["device"], cfg["run"]["mode"], cfg["run"]["seed"])
        self.prep = load(os.path.normpath(os.path.join(run_dir, meta["data_dir"])))
        sid, _ = load_semantic_ids(os.path.normpath(os.path.join(run_dir, meta["semantic_ids_dir"])),
                                   self.prep.name, self.prep.num_items)
        self.setup = GeneratorSetup(cfg, self.prep, sid)
        if self.setup.sid_hash != meta["semantic_ids_hash"]:
            raise CostError(f"semantic IDs changed since {run_dir} was trained; re-run train")
        load_best(self.setup, run_dir)
        self.index_of = {iid: i for i, iid in enumerate(self.prep.items["item_id"].astype(str))}
        self.title_col = "title" if "title" in self.prep.items.columns else "text"

    def recommend(self, history, k=10, user=None):
        """``history``: original item ids, oldest first -> ``[{item_id, title, score}]``, best first."""
        if not history:
            raise CostError("history is empty: give at least one item id")
        unknown = [h for h in map(str, history) if h not in self.index_of]
        if unknown:
            raise CostError(f"unknown item id(s) {unknown[:5]} (not in {self.prep.name}'s item table)")
        beam = self.setup.gc["beam_size"]
        if k > beam:
            raise CostError(f"-k {k} is larger than generator.beam_size ({beam})")
        idx = [self.index_of[str(h)] for h in history]
        _, src, _ = self.setup.builder.evaluation({user or "_": idx}, {user or "_": 0})
        items, scores = self.setup.searcher().search(src)
        out = []
        for i, s in zip(items[0][:k], scores[0][:k]):
            if i < 0:
                break
            row = self.prep.items.iloc[int(i)]
            out.append({"item_id": str(row["item_id"]), "title": str(row[self.title_col]), "score": float(s)})
        return out


def recommend(run_dir, history, k=10, device=None):
    return Recommender(run_dir, device).recommend(history, k)


__all__ = ["Recommender", "recommend"]
