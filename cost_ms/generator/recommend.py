"""Top-k recommendations from a trained run folder, for a history of original item ids."""
import logging
import numbers
import os

from ..config import load_saved
from ..data import load
from ..engine import load_weights
from ..errors import CostError
from ..io import read_meta
from ..runtime import init_runtime
from ..tokenizer.semantic_ids import load_semantic_ids
from . import STAGE, build_network, check_trained
from .evaluation import Evaluator
from .inputs import GeneratorInputs

log = logging.getLogger("cost_ms.recommend")


class Recommender:
    """``Recommender("runs/ml-100k/generator-minilm-rqvae-co").recommend(["50", "172"], k=10)``.

    The run's saved ``config.yaml`` is loaded (and validated) through :mod:`cost_ms.config`; the
    weights are loaded strictly, so a model that is not the trained one is never served.

    ``exclude_history``: never return an item of the given history (``None``: the run's
    ``eval.exclude_history``, true unless the run set it false); each :meth:`recommend` call may override it.
    When fewer than ``k`` items lie outside the history, the result holds only those, and a warning line
    says so.
    """

    def __init__(self, run_dir, device=None, exclude_history=None):
        meta = read_meta(run_dir, STAGE)
        cfg = load_saved(os.path.join(run_dir, "config.yaml"))
        init_runtime(device or cfg.run.device, cfg.run.mode, cfg.run.seed,
                     cfg.run.generator_cpu_threads, cfg.run.cpu_host_blocking)
        self.prep = load(os.path.normpath(os.path.join(run_dir, meta["data_dir"])))
        sid, _ = load_semantic_ids(os.path.normpath(os.path.join(run_dir, meta["semantic_ids_dir"])),
                                   self.prep.name, self.prep.num_items)
        self.inputs = GeneratorInputs(cfg, self.prep, sid)
        check_trained(run_dir, self.inputs)
        self.net = build_network(cfg, self.inputs)
        load_weights(self.net, os.path.join(run_dir, "best.ckpt"))
        self.exclude_history = cfg.eval.exclude_history if exclude_history is None else bool(exclude_history)
        self.evaluator = Evaluator(self.inputs, self.net, self.exclude_history)
        self.beam = cfg.generator.beam_size
        self.index_of = {iid: i for i, iid in enumerate(self.prep.items["item_id"].astype(str))}
        self.title_col = "title" if "title" in self.prep.items.columns else "text"

    def recommend(self, history, k=10, user=None, exclude_history=None):
        """``history``: original item ids, oldest first -> ``[{item_id, title, score}]``, best first."""
        if not history:
            raise CostError("history is empty: give at least one item id")
        unknown = [h for h in map(str, history) if h not in self.index_of]
        if unknown:
            raise CostError(f"unknown item id(s) {unknown[:5]} (not in {self.prep.name}'s item table)")
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise CostError(f"k must be a whole number >= 1, got {k!r}")
        k = int(k)
        if k > self.beam:
            raise CostError(f"k = {k} is larger than generator.beam_size ({self.beam})")
        exclude = self.exclude_history if exclude_history is None else bool(exclude_history)
        items = [self.index_of[str(h)] for h in history]
        out = []
        for i, s in self.evaluator.recommend(items, k, user, exclude):
            row = self.prep.items.iloc[i]
            out.append({"item_id": str(row["item_id"]), "title": str(row[self.title_col]), "score": s})
        if len(out) < k:      # the pruned beam search returns min(beam, items left) items: only the catalogue runs out
            why = (f"the history holds {len(set(items))} of the catalogue's {self.prep.num_items} items, and history "
                   f"items are excluded" if exclude else f"the catalogue has {self.prep.num_items} items")
            log.warning("only %d item(s) returned for k = %d: %s", len(out), k, why)
        return out


def recommend(run_dir, history, k=10, device=None, exclude_history=None):
    return Recommender(run_dir, device, exclude_history).recommend(history, k)


__all__ = ["Recommender", "recommend"]
