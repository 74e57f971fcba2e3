"""Top-k recommendations for histories of original item ids, from a trained run folder or an export.

One :class:`Recommender` serves every front end (Python, ``python -m cost_ms recommend``, a file of histories,
the HTTP service of :mod:`cost_ms.deploy.serve`): :meth:`Recommender.query` checks one request and turns it into
item indices (a :class:`Query`), :meth:`Recommender.run` answers many queries with one beam search. A run folder
is loaded through the training code (config, data, network, strict weights); an export
(:meth:`Recommender.from_export`) through :mod:`cost_ms.deploy.graphs` only, which this module's top level allows:
it imports no training code.
"""
import logging
import numbers
import os
from dataclasses import dataclass

import numpy as np

from ..errors import CostError

log = logging.getLogger("cost_ms.recommend")


@dataclass
class Query:
    """A checked request: ``items`` the history (item indices, oldest first), ``k``, ``exclude`` the item indices
    the beam search prunes (sorted, unique; the history when excluded, ``exclude`` and every item outside
    ``candidates``), ``restricted`` whether ``exclude`` or ``candidates`` were given."""
    items: list
    k: int
    exclude: np.ndarray
    history_excluded: bool
    restricted: bool
    user: object = None


class Recommender:
    """``Recommender("runs/ml-100k/generator-minilm-rqvae-co").recommend(["50", "172"], k=10)``.

    The run's saved ``config.yaml`` is loaded (and validated) through :mod:`cost_ms.config`; the
    weights are loaded strictly, so a model that is not the trained one is never served.
    :meth:`from_export` serves an export folder (``python -m cost_ms export``) the same way.

    ``exclude_history``: never return an item of the given history (``None``: the run's
    ``eval.exclude_history``, true unless the run set it false); each :meth:`recommend` call may override it.
    When fewer than ``k`` items lie outside the history, the result holds only those, and a warning line
    says so. ``batch_sizes``: users per graph call (default: the run's ``generator.eval_batch_size``); with
    several, each batch runs on the smallest that holds it.
    """

    def __init__(self, run_dir, device=None, exclude_history=None, batch_sizes=None):
        from ..config import load_saved
        from ..data import load
        from ..engine import load_weights
        from ..io import read_meta
        from ..runtime import init_runtime
        from ..tokenizer.semantic_ids import load_semantic_ids
        from .beam_search import BeamSearcher
        from .inputs import GeneratorInputs
        from .run import STAGE, build_network, check_trained
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
        exclude = cfg.eval.exclude_history if exclude_history is None else bool(exclude_history)
        gc, inputs = cfg.generator, self.inputs
        searcher = BeamSearcher(self.net, inputs.vocab, inputs.index, gc.beam_size,
                                batch_sizes or gc.eval_batch_size, inputs.src_widths, arch=inputs.arch)
        title = "title" if "title" in self.prep.items.columns else "text"
        self._serve(self.prep.name, self.prep.items["item_id"].astype(str).tolist(),
                    self.prep.items[title].astype(str).tolist(), self.inputs.builder, searcher, exclude,
                    self.inputs.buckets)

    @classmethod
    def from_export(cls, folder, device=None, exclude_history=None):
        """Serve an export folder: its graphs through ``mindspore.load`` + ``nn.GraphCell``, its trie and items
        from plain files, after every file is checked against ``manifest.json`` (one-line refusal otherwise)."""
        from ..deploy.graphs import load_export
        exp = load_export(folder, device)
        rec = cls.__new__(cls)
        exclude = exp.exclude_history if exclude_history is None else bool(exclude_history)
        rec._serve(exp.dataset, exp.item_ids, exp.titles, exp.builder, exp.searcher, exclude, exp.buckets)
        rec.manifest = exp.manifest
        return rec

    def _serve(self, name, item_ids, titles, builder, searcher, exclude_history, buckets):
        self.name, self.item_ids, self.titles = name, list(item_ids), list(titles)
        self.num_items = len(self.item_ids)
        self.index_of = {iid: i for i, iid in enumerate(self.item_ids)}
        self.builder, self.searcher, self.buckets = builder, searcher, list(buckets)
        self.beam, self.exclude_history = searcher.beam, exclude_history

    # ------------------------------------------------------------------ requests
    def _indices(self, what, ids):
        if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple)) or any(
                isinstance(i, bool) or not isinstance(i, (str, numbers.Integral)) for i in ids):
            raise CostError(f"{what} must be a list of item ids (strings or integers)")
        unknown = [h for h in map(str, ids) if h not in self.index_of]
        if unknown:
            where = "" if what == "history" else f" in {what}"
            raise CostError(f"unknown item id(s){where} {unknown[:5]} (not in {self.name}'s item table)")
        return [self.index_of[str(h)] for h in ids]

    def query(self, history, k=10, exclude_history=None, exclude=(), candidates=None, user=None):
        """Check one request (a :class:`~cost_ms.errors.CostError` naming what is wrong) -> :class:`Query`.

        ``exclude``: item ids never to return; ``candidates``: the only item ids that may come back. Both prune
        the trie as history exclusion does, so ``k`` allowed items come back while ``k`` exist."""
        if not history:
            raise CostError("history is empty: give at least one item id")
        items = self._indices("history", history)
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise CostError(f"k must be a whole number >= 1, got {k!r}")
        if k > self.beam:
            raise CostError(f"k = {k} is larger than generator.beam_size ({self.beam})")
        if exclude_history is not None and not isinstance(exclude_history, (bool, np.bool_)):
            raise CostError(f"exclude_history must be true or false, got {exclude_history!r}")
        hist_out = self.exclude_history if exclude_history is None else bool(exclude_history)
        banned = [np.asarray(items if hist_out else [], np.int64), np.asarray(self._indices("exclude", exclude or []),
                                                                              np.int64)]
        if candidates is not None:
            allowed = self._indices("candidates", candidates)
            if not allowed:
                raise CostError("candidates is empty: give at least one item id, or leave it out")
            banned.append(np.setdiff1d(np.arange(self.num_items), allowed))
        return Query(items, int(k), np.unique(np.concatenate(banned)), hist_out,
                     bool(exclude) or candidates is not None, user)

    def run(self, queries):
        """Answer ``queries`` with one beam search -> per query ``[{item_id, title, score}]``, best first."""
        if not queries:
            return []
        src = np.concatenate([self.builder.evaluation({q.user or "_": q.items}, {q.user or "_": 0})[1]
                              for q in queries])
        top, scores = self.searcher.search(src, [q.exclude for q in queries])
        out = []
        for q, row, score in zip(queries, top, scores):
            rows = [{"item_id": self.item_ids[i], "title": self.titles[i], "score": float(s)}
                    for i, s in zip(row[:q.k], score[:q.k]) if i >= 0]
            if len(rows) < q.k:
                log.warning("only %d item(s) returned for k = %d: %s", len(rows), q.k, self.shortfall(q))
            out.append(rows)
        return out

    def shortfall(self, q):
        """Why fewer than ``q.k`` items exist for ``q``."""
        if q.restricted:
            return f"{len(q.exclude)} of the catalogue's {self.num_items} items are excluded"
        if q.history_excluded:
            return (f"the history holds {len(set(q.items))} of the catalogue's {self.num_items} items, and history "
                    f"items are excluded")
        return f"the catalogue has {self.num_items} items"

    def recommend(self, history, k=10, user=None, exclude_history=None):
        """``history``: original item ids, oldest first -> ``[{item_id, title, score}]``, best first."""
        return self.run([self.query(history, k, exclude_history, user=user)])[0]

    def warm_up(self):
        """Run every graph a request can reach (each batch size and input width) once, so none compiles later."""
        for size in self.searcher.sizes:
            for bucket in self.buckets:
                self.run([self.query([self.item_ids[0]] * bucket, 1, False)] * size)


def recommend(run_dir, history, k=10, device=None, exclude_history=None):
    return open_model(run_dir, device, exclude_history).recommend(history, k)


def open_model(folder, device=None, exclude_history=None, batch_sizes=None):
    """A :class:`Recommender` of a run folder or (a folder with ``manifest.json``) an export."""
    from ..deploy.manifest import is_export
    if is_export(folder):
        return Recommender.from_export(folder, device, exclude_history)
    return Recommender(folder, device, exclude_history, batch_sizes)


__all__ = ["Query", "Recommender", "open_model", "recommend"]
