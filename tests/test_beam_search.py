"""Constrained beam search: only real items, no duplicates, and the brute-force top-k when wide enough."""
import numpy as np
import pytest

from cost_ms.architectures import ARCHS
from cost_ms.generator.beam_search import BeamSearcher, PrefixIndex
from cost_ms.reference.decoding import brute_force_topk_ref
from cost_ms.generator.samples import SampleBuilder, encode_history
from cost_ms.generator.transformer import Seq2SeqTransformer
from cost_ms.generator.vocab import Vocab
from cost_ms.tokenizer.semantic_ids import with_dedup

TIGER = ARCHS.get("tiger")


def small_catalogue(n=60, k=4, m=2, seed=0):
    codes = np.random.default_rng(seed).integers(0, k, (n, m))
    return with_dedup(codes)


def setup(n=60, k=4, seed=0, max_history=3):
    sid = small_catalogue(n, k, seed=seed)
    vocab = Vocab.from_semantic_ids(sid, k)
    item_tok = vocab.item_tokens(sid)
    net = Seq2SeqTransformer(vocab.size, max_history * vocab.length, vocab.length, d_model=32, num_heads=2,
                             head_dim=16, ffn_dim=64, enc_layers=1, dec_layers=1, dropout=0.0)
    net.set_train(False)
    rng = np.random.default_rng(seed)
    src = np.stack([encode_history(rng.integers(0, n, rng.integers(1, 5)).tolist(), item_tok, max_history)
                    for _ in range(6)])
    return sid, vocab, item_tok, net, src


def test_prefix_index_is_the_trie():
    sid = np.array([[0, 1, 0], [0, 1, 1], [2, 0, 0]])
    idx = PrefixIndex(sid, [3, 2, 2])
    assert idx.children(0, np.array([0])).tolist() == [[0, -1, 1]]
    assert (idx.children(1, np.arange(2)) >= 0).sum() == 2 and (idx.children(2, np.arange(2)) >= 0).sum() == 3
    assert sorted(idx.item_of_leaf.tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="not unique"):
        PrefixIndex(np.array([[0, 0], [0, 0]]), [1, 1])


@pytest.mark.parametrize("seed", range(3))
def test_children_match_a_dense_table_built_from_sorted_prefixes(seed):
    rng = np.random.default_rng(seed)
    sizes = [5, 3, 7]
    sid = np.unique(np.stack([rng.integers(0, s, 150) for s in sizes], 1), axis=0)
    idx = PrefixIndex(sid, sizes)
    for t, size in enumerate(sizes):
        parents = sorted({tuple(r[:t]) for r in sid})
        kids = sorted({tuple(r[:t + 1]) for r in sid})
        dense = np.full((len(parents), size), -1)
        for k, kid in enumerate(kids):
            dense[parents.index(kid[:t]), kid[t]] = k
        np.testing.assert_array_equal(idx.children(t, np.arange(len(parents))), dense)
        np.testing.assert_array_equal(idx.children(t, np.arange(len(parents)).reshape(-1, 1))[:, 0], dense)


def test_beam_returns_only_real_distinct_items(graph_mode):
    sid, vocab, item_tok, net, src = setup()
    items, scores = BeamSearcher(net, vocab, PrefixIndex(sid, vocab.level_sizes), beam_size=20,
                                 batch_size=4, arch=TIGER).search(src)
    assert items.shape == (6, 20)
    assert ((items >= 0) & (items < len(sid))).all()
    assert all(len(set(row)) == len(row) for row in items)
    assert (np.diff(scores, axis=1) <= 1e-6).all()          # sorted best first


def test_beam_matches_brute_force_when_beam_covers_catalogue(graph_mode):
    sid, vocab, item_tok, net, src = setup(n=40)
    searcher = BeamSearcher(net, vocab, PrefixIndex(sid, vocab.level_sizes), beam_size=40, batch_size=6, arch=TIGER)
    items, scores = searcher.search(src)
    ref_items, ref_scores = brute_force_topk_ref(net, vocab, src, item_tok, k=10)
    np.testing.assert_array_equal(items[:, :10], ref_items)
    np.testing.assert_allclose(scores[:, :10], ref_scores, rtol=1e-4, atol=1e-4)


def test_beam_wider_than_catalogue_pads_with_minus_one(graph_mode):
    sid, vocab, item_tok, net, src = setup(n=12)
    items, scores = BeamSearcher(net, vocab, PrefixIndex(sid, vocab.level_sizes), 16, 6, arch=TIGER).search(src)
    assert (items[:, 12:] == -1).all() and np.isneginf(scores[:, 12:]).all()
    assert all(sorted(row[:12]) == list(range(12)) for row in items)


def test_cropping_batches_to_length_buckets_changes_no_result(graph_mode):
    """Users sorted by history length, each batch cut to the narrowest width holding it: same items and scores
    as full-width batches, and the narrow widths really run."""
    sid = small_catalogue(60, 4)
    vocab = Vocab.from_semantic_ids(sid, 4)
    item_tok = vocab.item_tokens(sid)
    max_history, length = 8, vocab.length
    net = Seq2SeqTransformer(vocab.size, max_history * length, length, d_model=32, num_heads=2, head_dim=16,
                             ffn_dim=64, enc_layers=2, dec_layers=1, dropout=0.0)
    rng = np.random.default_rng(3)
    src = np.stack([encode_history(rng.integers(0, 60, rng.integers(1, 9)).tolist(), item_tok, max_history)
                    for _ in range(13)])
    index = PrefixIndex(sid, vocab.level_sizes)
    assert_cropping_changes_nothing(net, vocab, index, src, [2 * length, 4 * length, max_history * length], TIGER)


def assert_cropping_changes_nothing(net, vocab, index, src, widths, arch):
    """Beam search on length-sorted batches cropped to ``widths`` == full-width batches, and narrow widths run."""
    full_items, full_scores = BeamSearcher(net, vocab, index, 8, 4, arch=arch).search(src)
    cropped = BeamSearcher(net, vocab, index, 8, 4, widths=widths, arch=arch)
    seen = []
    run = cropped._search_batch
    cropped._search_batch = lambda part, *rest: seen.append(part.shape[-1]) or run(part, *rest)
    items, scores = cropped.search(src)
    np.testing.assert_array_equal(items, full_items)
    np.testing.assert_allclose(scores, full_scores, rtol=1e-5, atol=1e-5)
    assert min(seen) < src.shape[-1] and seen == sorted(seen)


def test_samples_left_pad_and_user_tokens():
    sid = np.array([[0, 0], [1, 0], [2, 0]])
    vocab = Vocab.from_semantic_ids(sid, 3, user_buckets=5)
    b = SampleBuilder(vocab.item_tokens(sid), 2, vocab)
    src, tgt = b.training({"u": [0, 1, 2]})
    assert tgt.tolist() == [1, 2]
    assert src.shape == (2, 5) and src[0, 1:3].tolist() == [0, 0]          # pad before the only item
    assert src[0, 0] == src[1, 0] >= vocab.user_offset
    assert src[1, 1:].tolist() == vocab.item_tokens(sid[[0, 1]]).reshape(-1).tolist()


def test_length_buckets_use_every_sample_once():
    from cost_ms.generator.trainer import bucket_batches
    lengths = np.random.default_rng(0).integers(1, 21, 1000)
    batches = bucket_batches(lengths, [5, 10, 20], 64, np.random.default_rng(1))
    assert len(batches) == 1000 // 64
    seen = np.concatenate([idx for _, idx in batches])
    assert len(set(seen.tolist())) == len(seen) == len(batches) * 64
    for size, idx in batches:
        assert (lengths[idx] <= size).all()


def test_cropped_input_gives_the_same_encoding(graph_mode):
    from mindspore import Tensor
    sid, vocab, item_tok, net, src = setup(max_history=3)
    short = src[(src != 0).sum(1) <= vocab.length]          # histories of one item
    full = net.encode(Tensor(short)).asnumpy()
    cropped = net.encode(Tensor(short[:, -vocab.length:])).asnumpy()
    np.testing.assert_allclose(full[:, -vocab.length:], cropped, rtol=1e-4, atol=1e-5)


def test_folded_beams_equal_per_beam_decoding(graph_mode):
    """Beams folded into the cross-attention query axis == every beam with its own copy of the memory."""
    from mindspore import Tensor
    from cost_ms.reference.decoding import MemoryEncoder, StepScorer
    sid, vocab, item_tok, net, src = setup()
    net.set_train(False)
    beams = 5
    memory = MemoryEncoder(net)(Tensor(src))
    dec_in = np.random.default_rng(1).integers(3, vocab.size, (len(src) * beams, 3)).astype(np.int32)
    folded = StepScorer(net, beams)(Tensor(dec_in), memory, Tensor(src)).asnumpy()
    rep = Tensor(np.repeat(np.arange(len(src)), beams).astype(np.int32))
    plain = StepScorer(net)(Tensor(dec_in), memory[rep], Tensor(np.repeat(src, beams, 0))).asnumpy()
    np.testing.assert_allclose(folded, plain, rtol=1e-5, atol=1e-5)


def test_incremental_decoding_equals_teacher_forcing(ms_mode):
    """Cached keys/values with a beam reorder each step == the full prefix decoded from scratch."""
    from mindspore import Tensor
    from cost_ms.reference.decoding import MemoryEncoder, StepScorer
    from cost_ms.generator.incremental import CrossMemory, DecodeStep
    from cost_ms.generator.vocab import BOS
    sid, vocab, item_tok, net, src = setup()
    net.set_train(False)
    b, beams, rng = len(src), 4, np.random.default_rng(2)
    src_t = Tensor(src)
    memory, cross = MemoryEncoder(net)(src_t), CrossMemory(net)(src_t)
    prefix = np.full((b, 1), BOS, np.int32)
    logp, cache = DecodeStep(net, 1, first=True)(Tensor(prefix), src_t, cross)
    np.testing.assert_allclose(logp.asnumpy(), StepScorer(net, 1)(Tensor(prefix), memory, src_t).asnumpy(),
                               rtol=1e-5, atol=1e-5)
    step = DecodeStep(net, beams, first=False)
    for t in range(1, vocab.length):                   # every position the model has
        rows = 1 if t == 1 else beams
        pick = rng.integers(0, rows, (b, beams))            # which hypothesis of its user each new row extends
        parent = (np.arange(b)[:, None] * rows + pick).reshape(-1).astype(np.int32)
        tok = rng.integers(3, vocab.size, (b * beams, 1)).astype(np.int32)
        prefix = np.concatenate([prefix[parent], tok], 1)    # [B * beams, t + 1]
        logp, cache = step(Tensor(tok), src_t, cross, cache, Tensor(parent))
        ref = StepScorer(net, beams)(Tensor(prefix), memory, src_t).asnumpy()
        np.testing.assert_allclose(logp.asnumpy(), ref, rtol=1e-4, atol=1e-5)
        assert cache[0].shape[2] == t + 1
