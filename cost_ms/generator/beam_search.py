"""Trie-constrained beam search over the whole catalogue (TIGER sec. 3.2, constrained decoding).

:class:`PrefixIndex` is the prefix trie of all items' code tuples. A depth-``t`` node is
named by its rank among the distinct length-``t`` prefixes (the root is node 0), and
``keys[t]`` holds, sorted, ``node * S_t + code`` for every existing edge from depth ``t``
(``S_t`` codes at that depth); the child's id is the key's position in ``keys[t]``. That is
one integer per trie node, whatever the code-book sizes, and the children of any set of
nodes are found by binary search. Beams only ever extend along existing edges, so every
returned tuple is a real item, and distinct leaves are distinct items (no duplicates).

History-aware search (``eval.exclude_history``): :meth:`PrefixIndex.exhausted` names, per user, every
trie node whose whole subtree is made of items the user already has (each node knows how many items lie
under it; the user's history is subtracted along each history item's path), and the search treats those
nodes as missing edges. No beam is spent on a prefix that can only end in a consumed item, and the
returned items are all new. The dedup level is part of the trie, so exactly the consumed items are
excluded, never their code siblings.

:func:`cost_ms.reference.decoding.brute_force_topk_ref` scores every item's full tuple by teacher forcing;
with a beam at least the catalogue size, beam search must return the same top-k.
"""
import numpy as np

NEG_INF = -np.inf


class PrefixIndex:
    ARRAYS = ("keys", "node_of", "count")      # per depth: the edge keys, each item's node, items under each node

    def __init__(self, sid, level_sizes):
        """``sid [N, L]`` unique code tuples; ``level_sizes[t]`` codes at depth ``t``."""
        sid = np.asarray(sid, np.int64)
        n, length = sid.shape
        self.length, self.level_sizes = length, list(level_sizes)
        self.keys, self.node_of = [], []      # node_of[t][i]: item i's node at depth t + 1
        node = np.zeros(n, np.int64)
        for t in range(length):
            keys, node = np.unique(node * self.level_sizes[t] + sid[:, t], return_inverse=True)
            self.keys.append(keys)
            node = node.reshape(-1)
            self.node_of.append(node)
        if len(self.keys[-1]) != n:
            raise ValueError("semantic IDs are not unique: two items share a full tuple")
        # items under each depth-(t + 1) node: what a user's history is subtracted from
        self.count = [np.bincount(self.node_of[t], minlength=len(self.keys[t])) for t in range(length)]
        self.item_of_leaf = np.empty(n, np.int64)
        self.item_of_leaf[node] = np.arange(n)

    def arrays(self):
        """The trie as plain arrays (``keys_<t>``, ``node_of_<t>``, ``count_<t>`` per depth, ``item_of_leaf``,
        ``level_sizes``): what an export writes; :meth:`from_arrays` reads them back without the codes."""
        out = {f"{name}_{t}": a for name in self.ARRAYS for t, a in enumerate(getattr(self, name))}
        return out | {"item_of_leaf": self.item_of_leaf, "level_sizes": np.asarray(self.level_sizes, np.int64)}

    @classmethod
    def from_arrays(cls, arrays):
        index = cls.__new__(cls)
        index.level_sizes = [int(s) for s in arrays["level_sizes"]]
        index.length = len(index.level_sizes)
        for name in cls.ARRAYS:
            setattr(index, name, [np.asarray(arrays[f"{name}_{t}"], np.int64) for t in range(index.length)])
        index.item_of_leaf = np.asarray(arrays["item_of_leaf"], np.int64)
        return index

    def children(self, t, node):
        """``node [...]`` depth-``t`` node ids -> ``[..., S_t]`` child ids, -1 where no item goes on."""
        size, keys = self.level_sizes[t], self.keys[t]
        flat = np.asarray(node, np.int64).reshape(-1)
        lo = np.searchsorted(keys, flat * size)
        count = np.searchsorted(keys, flat * size + size) - lo
        row = np.repeat(np.arange(len(flat)), count)
        pos = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count) + np.repeat(lo, count)
        out = np.full((len(flat), size), -1, np.int64)
        out[row, keys[pos] - flat[row] * size] = pos
        return out.reshape(*np.shape(node), size)

    def exhausted(self, exclude):
        """Nodes whose every item is excluded, per row.

        ``exclude``: ``B`` arrays of item indices (repeats allowed). Returns, for each depth ``t + 1``
        (``t`` in ``0..L-1``), the sorted ``int64`` keys ``row * n_t + node`` of that depth's nodes (``n_t``
        of them) that hold no item outside row ``row``'s exclusions.
        """
        n = len(self.item_of_leaf)
        sizes = [len(np.asarray(e).reshape(-1)) for e in exclude]
        if not sum(sizes):
            return [np.zeros(0, np.int64) for _ in range(self.length)]
        items = np.concatenate([np.asarray(e, np.int64).reshape(-1) for e in exclude])
        if items.min() < 0 or items.max() >= n:
            raise ValueError(f"excluded item indices must lie in 0..{n - 1}")
        pairs = np.unique(np.repeat(np.arange(len(exclude)), sizes) * n + items)   # each (row, item) once
        rows, items = pairs // n, pairs % n
        out = []
        for t in range(self.length):
            n_t = len(self.keys[t])
            key, used = np.unique(rows * n_t + self.node_of[t][items], return_counts=True)
            out.append(key[used == self.count[t][key % n_t]])
        return out

    def prune(self, t, child, dead):
        """``child [B, ...]`` depth-``t + 1`` node ids (-1 = no edge) with row ``b``'s exhausted nodes set to -1.

        ``dead``: :meth:`exhausted`'s keys for depth ``t + 1``.
        """
        if not len(dead):
            return child
        n_t = len(self.keys[t])
        key = np.arange(len(child)).reshape((-1,) + (1,) * (child.ndim - 1)) * n_t + child
        pos = np.minimum(np.searchsorted(dead, key), len(dead) - 1)
        return np.where((child >= 0) & (dead[pos] == key), -1, child)

    def nbytes(self):
        return int(sum(k.nbytes for k in self.keys) + self.item_of_leaf.nbytes
                   + sum(a.nbytes for a in self.node_of) + sum(c.nbytes for c in self.count))


class BeamSearcher:
    """Batched constrained beam search with a trained generator of either architecture.

    Network calls run as MindSpore graphs with fixed shapes (the user batch is padded to ``batch_size``): the
    architecture's decoder (:class:`~.decoders.TigerDecoder`, :class:`~.decoders.CausalDecoder`, or a loaded
    export's :class:`~cost_ms.deploy.graphs.GraphDecoder` given as ``decoder``) runs one graph over the history and
    one per further level; beam bookkeeping is NumPy on ``[B, W, ...]`` arrays.

    ``batch_size``: users per graph call, or several sizes: each batch of at most the largest is padded to the
    smallest size that holds it (a lone request runs on batch-1 graphs). ``widths``: input widths (columns) a batch
    may be cropped to, as training crops to its length buckets. Users are sorted by history length and each batch
    is cropped to the narrowest width that holds all its histories: the cut columns are padding, which attention
    masks anyway, so results do not change while the network sees only real history (``tests/test_beam_search.py``).
    One set of graphs is compiled per batch size and width used. Empty: always full width. ``arch``: the
    :class:`~cost_ms.architectures.Architecture` of ``net`` (its decoding-input width and cropping).
    """

    def __init__(self, net, vocab, index, beam_size, batch_size, widths=(), *, arch, decoder=None):
        self.net = net
        self.arch = arch
        self.decoder = decoder if decoder is not None else self.arch.decoder(net, beam_size)
        self.vocab, self.index = vocab, index
        self.sizes = sorted({int(batch_size)} if np.isscalar(batch_size) else {int(b) for b in batch_size})
        self.beam, self.batch = beam_size, self.sizes[-1]
        self.widths = sorted(widths)

    def search(self, src, exclude=None):
        """``src [U, S]`` (the causal generator: ``[U, 2, S]``) -> ``items [U, W]`` (-1 where fewer than W items exist), ``scores [U, W]``.

        ``exclude``: ``None`` (any item may be returned), or ``U`` arrays of item indices that row ``u``
        may not get back (its history): their trie paths are pruned, so all W beams end in other items.
        """
        if self.net is not None:
            self.net.set_train(False)      # built once per run: training may have switched dropout back on
        u, s = src.shape[0], src.shape[-1]
        if exclude is not None and len(exclude) != u:
            raise ValueError(f"exclude has {len(exclude)} rows for {u} histories")
        need = self.arch.need(src)
        order = np.argsort(need, kind="stable") if self.widths else np.arange(u)
        items, scores = np.full((u, self.beam), -1, np.int64), np.full((u, self.beam), NEG_INF)
        for start in range(0, u, self.batch):
            rows = order[start:start + self.batch]
            part = src[rows]
            n = len(part)
            size = next(b for b in self.sizes if b >= n)
            if n < size:   # pad with copies of the first row; their results are dropped
                part = np.concatenate([part, np.repeat(part[:1], size - n, 0)])
            width = next((c for c in self.widths if c >= need[rows].max()), s)
            dead = None
            if exclude is not None:
                dead = self.index.exhausted([exclude[r] for r in rows] + [exclude[rows[0]]] * (size - n))
            it, sc = self._search_batch(self.arch.crop_src(part, width), dead)
            items[rows], scores[rows] = it[:n], sc[:n]
        return items, scores

    def _search_batch(self, src, dead=None):
        b, w = len(src), self.beam
        node = np.zeros((b, w), np.int64)
        score = np.full((b, w), NEG_INF)
        score[:, 0] = 0.0                                     # one live beam at the root
        tokens = np.zeros((b, w, 0), np.int32)
        for t in range(self.index.length):
            if t == 0:
                logp, ctx = self.decoder.start(src)
                lp = np.repeat(logp[:, None, self.vocab.level_slice(0)], w, 1)   # rows 1.. are dead
            else:
                # row b * W + j extends the hypothesis its beam index names; at t = 1 the cache has one row per user
                rows = 1 if t == 1 else w
                parent = (np.arange(b)[:, None] * rows + beam_idx * (rows > 1)).reshape(-1).astype(np.int32)
                logp = self.decoder.advance(t, tokens[:, :, -1].reshape(b * w, 1), ctx, parent)
                lp = logp[:, self.vocab.level_slice(t)].reshape(b, w, -1)
            child = self.index.children(t, node)              # [B, W, S_t]
            if dead is not None:
                child = self.index.prune(t, child, dead[t])
            cand = np.where(child >= 0, score[..., None] + lp, NEG_INF).reshape(b, -1)
            size = lp.shape[-1]
            top = np.argsort(-cand, axis=1, kind="stable")[:, :w]
            beam_idx, code = top // size, top % size
            score = np.take_along_axis(cand, top, 1)
            node = np.take_along_axis(child.reshape(b, -1), top, 1).astype(np.int64)
            prev = np.take_along_axis(tokens, beam_idx[..., None], 1)
            tokens = np.concatenate([prev, (code + self.vocab.offsets[t]).astype(np.int32)[..., None]], 2)
        alive = np.isfinite(score)
        items = np.where(alive, self.index.item_of_leaf[np.where(alive, node, 0)], -1)
        return items, np.where(alive, score, NEG_INF)
