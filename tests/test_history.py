"""History-aware recommendation (``eval.exclude_history``): the pruned trie, the beam search against a NumPy
brute-force reference, SASRec and most-popular honouring the switch, and the repeat-target count."""
import numpy as np
import pytest

from cost_ms.architectures import ARCHS
from cost_ms.generator.beam_search import BeamSearcher, PrefixIndex
from cost_ms.reference.decoding import brute_force_topk_ref
from cost_ms.metrics import popular_top_items
from tests.conftest import base_config
from tests.test_beam_search import setup

TIGER = ARCHS.get("tiger")


def test_exhausted_nodes_are_those_whose_every_item_is_excluded():
    # items 0, 1 share prefix (0, 1); item 2 alone under code 2 at level 1; item 3 under (0, 0)
    sid = np.array([[0, 1, 0], [0, 1, 1], [2, 0, 0], [0, 0, 0]])
    idx = PrefixIndex(sid, [3, 2, 2])
    dead = idx.exhausted([[0], [0, 1, 1], [2], []])
    def nodes(t, row):   # the depth-(t + 1) nodes named for ``row``, as sorted code prefixes
        n_t = len(idx.keys[t])
        found = [k % n_t for k in dead[t] if k // n_t == row]
        return sorted(tuple(sid[i, :t + 1]) for i in range(4) if idx.node_of[t][i] in found)
    assert nodes(0, 0) == [] and nodes(1, 0) == [] and nodes(2, 0) == [(0, 1, 0)]
    assert nodes(1, 1) == [(0, 1), (0, 1)] and nodes(0, 1) == []     # repeats in a history count once
    assert nodes(0, 2) == [(2,)] and nodes(1, 2) == [(2, 0)] and nodes(2, 2) == [(2, 0, 0)]
    assert all(len(d) == 0 or (d // len(idx.keys[t]) != 3).all() for t, d in enumerate(dead))
    # children of the root for row 2: code 2 is gone, codes 0 stays
    root = idx.prune(0, idx.children(0, np.zeros((4, 1), np.int64)), dead[0])
    assert (root[2, 0, 2] == -1) and (root[2, 0, 0] >= 0) and (root[0, 0, 2] >= 0)


def _histories(n, rows, rng):
    return [rng.choice(n, rng.integers(1, 12), replace=False) for _ in range(rows)]


@pytest.mark.parametrize("seed", [0, 1])
def test_history_aware_beam_equals_brute_force_when_the_beam_covers_the_catalogue(graph_mode, seed):
    sid, vocab, item_tok, net, src = setup(n=40, seed=seed)
    exclude = _histories(40, len(src), np.random.default_rng(seed))
    searcher = BeamSearcher(net, vocab, PrefixIndex(sid, vocab.level_sizes), beam_size=40, batch_size=4, arch=TIGER)
    items, scores = searcher.search(src, exclude)
    ref_items, ref_scores = brute_force_topk_ref(net, vocab, src, item_tok, 10, exclude)
    np.testing.assert_array_equal(items[:, :10], ref_items)
    np.testing.assert_allclose(scores[:, :10], ref_scores, rtol=1e-4, atol=1e-4)
    for row, h in zip(items, exclude):
        live = row[row >= 0]
        assert len(live) == 40 - len(h) and not set(live) & set(h) and len(set(live)) == len(live)


def test_a_consumed_level_one_subtree_is_never_entered(graph_mode):
    """A history holding every item under one first code: no beam takes that code, and the rest of the top-k
    equals the brute-force reference (exclusion is exact: dedup-level siblings of other items stay)."""
    sid, vocab, item_tok, net, src = setup(n=40)
    first = sid[:, 0]
    code = np.bincount(first).argmax()                   # the largest level-1 subtree
    under = np.flatnonzero(first == code)
    assert len(under) > 1
    exclude = [under] * len(src)
    index = PrefixIndex(sid, vocab.level_sizes)
    dead = index.exhausted(exclude[:1])
    assert index.node_of[0][under[0]] in dead[0]          # the level-1 node itself is pruned
    items, _ = BeamSearcher(net, vocab, index, beam_size=40, batch_size=6, arch=TIGER).search(src, exclude)
    ref_items, _ = brute_force_topk_ref(net, vocab, src, item_tok, 10, exclude)
    np.testing.assert_array_equal(items[:, :10], ref_items)
    assert not np.isin(items, under).any()


def test_narrow_beam_still_returns_k_new_items(graph_mode):
    """A beam much smaller than the catalogue: exactly W distinct items, none excluded (a post-filter would
    return fewer)."""
    sid, vocab, item_tok, net, src = setup(n=60)
    index = PrefixIndex(sid, vocab.level_sizes)
    raw, _ = BeamSearcher(net, vocab, index, beam_size=5, batch_size=4, arch=TIGER).search(src)
    exclude = [row[:3] for row in raw]                    # the raw top-3 of each row, as its history
    items, _ = BeamSearcher(net, vocab, index, beam_size=5, batch_size=4, arch=TIGER).search(src, exclude)
    assert (items >= 0).all() and all(len(set(r)) == 5 and not set(r) & set(h) for r, h in zip(items, exclude))


def test_history_leaving_fewer_than_the_beam_returns_what_is_left(graph_mode):
    sid, vocab, item_tok, net, src = setup(n=12)
    exclude = [np.arange(9)] * len(src)
    items, scores = BeamSearcher(net, vocab, PrefixIndex(sid, vocab.level_sizes), 8, 6, arch=TIGER).search(src, exclude)
    assert all(sorted(r[:3]) == [9, 10, 11] for r in items)
    assert (items[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()


def test_excluding_only_the_worst_items_leaves_the_raw_ranking(graph_mode):
    """Beam covering the catalogue: excluding each row's 10 lowest-ranked items (so whole subtrees may die, but
    no better item is touched) returns the raw top-30 unchanged; an empty exclusion is the raw search."""
    sid, vocab, item_tok, net, src = setup(n=40)
    searcher = BeamSearcher(net, vocab, PrefixIndex(sid, vocab.level_sizes), beam_size=40, batch_size=4, arch=TIGER)
    raw, raw_scores = searcher.search(src)
    items, scores = searcher.search(src, [row[30:] for row in raw])
    np.testing.assert_array_equal(items[:, :30], raw[:, :30])
    np.testing.assert_allclose(scores[:, :30], raw_scores[:, :30], rtol=1e-6)
    assert (items[:, 30:] == -1).all()
    np.testing.assert_array_equal(searcher.search(src, [[] for _ in src])[0], raw)
    with pytest.raises(ValueError, match="must lie in 0..39"):
        searcher.search(src, [[40]] * len(src))


def test_most_popular_skips_each_users_history():
    train = {"a": [0, 0, 0, 1, 1, 2], "b": [3]}
    top = popular_top_items(train, 3, [[0], [1, 2, 3]])
    assert top.tolist() == [[1, 2, 3], [0, -1, -1]]


class _Prep:
    def __init__(self, n):
        self.num_items = n


class _Inputs:
    """What SASRecEvaluator reads: ``prep.num_items`` and the split's histories."""

    def __init__(self, n, hist, targets):
        self.prep, self.hist, self.targets = _Prep(n), hist, targets

    def histories(self, split):
        return self.hist, self.targets


def test_sasrec_masks_the_whole_history_before_the_top_k(graph_mode):
    """With the switch on, no history item (also those older than max_len) is returned and the rest equals the
    full-catalogue scores ranked by NumPy; off, the raw top-k of those scores."""
    from mindspore import Tensor
    from cost_ms.baseline.sasrec import SASRec
    from cost_ms.baseline.trainer import SASRecEvaluator, left_pad
    n, max_len, k = 30, 4, 10
    net = SASRec(n, max_len, d_model=8, num_heads=2, blocks=1, dropout=0.0)
    rng = np.random.default_rng(0)
    hist = {str(u): rng.choice(n, rng.integers(1, 9), replace=False).tolist() for u in range(7)}
    hist["full"] = list(range(n - 3))                       # leaves 3 items: fewer than k
    users = sorted(hist)
    bc = base_config().baseline.replace(max_len=max_len, eval_batch_size=3)
    ev = SASRecEvaluator(net, _Inputs(n, hist, {u: 0 for u in users}), bc, k)
    net.set_train(False)
    scores = net(Tensor(left_pad([hist[u] for u in users], max_len))).asnumpy()[:, -1, 1:].astype(np.float64)
    raw = ev.top_items([hist[u] for u in users], exclude_history=False)
    np.testing.assert_array_equal(raw, np.argsort(-scores, 1, kind="stable")[:, :k])
    top = ev.top_items([hist[u] for u in users], exclude_history=True)
    for r, u in enumerate(users):
        masked = scores[r].copy()
        masked[hist[u]] = -np.inf
        want = [i for i in np.argsort(-masked, kind="stable")[:k] if np.isfinite(masked[i])]
        assert top[r][:len(want)].tolist() == want and (top[r][len(want):] == -1).all()
        assert not set(top[r].tolist()) & set(hist[u])
    assert (top[users.index("full")] >= 0).sum() == 3


def test_most_popular_metrics_honour_the_switch():
    from cost_ms.data.splits import Splits, most_popular_metrics

    class Prep:
        sequences = {"a": [0, 1, 2, 0, 1], "b": [0, 1, 3, 2, 0], "c": [0, 0, 0, 1, 2]}

        def split(self):
            s = self.sequences
            return {u: v[:-2] for u, v in s.items()}, {u: v[-2] for u, v in s.items()}, \
                {u: v[-1] for u, v in s.items()}
    splits = Splits(Prep())
    raw = most_popular_metrics(splits, [1], exclude_history=False)
    new = most_popular_metrics(splits, [1], exclude_history=True)
    # validation popularity (training parts): 0 (5), 1 (2), 2 (1), 3 (1). Raw: everyone gets 0, only a's target.
    # Excluded: a {0,1,2} -> 3 (miss: its target 0 is a repeat), b {0,1,3} -> 2 (hit), c {0} -> 1 (hit)
    assert raw["valid"]["recall@1"] == pytest.approx(1 / 3)
    assert new["valid"]["recall@1"] == pytest.approx(2 / 3)
    assert splits.repeat_targets() == {"valid": 1, "test": 2}


TOY_REPEATS = {"0": [10, 11, 10, 12, 10], "1": [10, 11, 11, 12], "2": [12, 13, 14, 10]}
TOY_ITEMS = {str(i): {"title": f"t{i}", "brand": "", "description": "", "categories": ""} for i in range(10, 15)}


def test_repeat_targets_are_counted_in_meta_and_warned_once(tmp_path, caplog):
    import logging
    from cost_ms.data import create_dataset, load, save
    from cost_ms.data.splits import warn_unreachable
    from tests.test_data import _write_lcrec, lcrec_cfg
    folder = _write_lcrec(tmp_path / "toy", "Toy", TOY_REPEATS, TOY_ITEMS)
    prep = create_dataset(lcrec_cfg(str(folder), "Toy", text_template="Title: {title}."))
    assert prep.meta["repeat_targets"] == {"valid": 1, "test": 1}
    save(prep, str(tmp_path / "data"))
    again = load(str(tmp_path / "data"))
    assert again.meta["repeat_targets"] == {"valid": 1, "test": 1}
    with caplog.at_level(logging.WARNING, logger="cost_ms.eval"):
        warn_unreachable(again, exclude_history=False)
        assert not caplog.records
        warn_unreachable(again, exclude_history=True)
    assert len(caplog.records) == 1
    assert "1 valid and 1 test target(s) occur in their own history" in caplog.records[0].getMessage()
    del again.meta["repeat_targets"]                          # data prepared before the count: counted on load
    assert warn_unreachable(again, exclude_history=False) == {"valid": 1, "test": 1}


def test_report_table_puts_both_protocols_side_by_side(tmp_path):
    import json
    import subprocess
    import sys
    from tests.conftest import ROOT

    def figures(x):
        return {f"{m}@{k}": x for k in (5, 10, 20, 40) for m in ("recall", "ndcg")}
    gen = tmp_path / "generator-minilm-rqvae-co"
    gen.mkdir()
    for name, exclude, x in (("metrics-history-excluded.json", True, 0.2), ("metrics-raw.json", False, 0.1)):
        m = {"tokenizer": "co", "exclude_history": exclude, "epochs": 1, "best_epoch": 1, "train_seconds": 5,
             "test": figures(x), "most_popular": {"test": figures(x / 2)}}
        (gen / name).write_text(json.dumps(m))
    out = subprocess.run([sys.executable, "tools/report_table.py", "metrics", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[2].startswith("| TIGER + co | history-excluded | 0.2000")
    assert out[3].startswith("| most popular | history-excluded | 0.1000")
    assert out[4].startswith("| TIGER + co | raw | 0.1000") and out[5].startswith("| most popular | raw | 0.0500")
