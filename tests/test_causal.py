"""The causal (decoder-only) generator: windows train every target once, one pass equals the per-prefix losses,
the model is causal, and its cached beam search returns the brute-force top-k."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cost_ms.architectures import ARCHS
from cost_ms.generator.beam_search import BeamSearcher, PrefixIndex
from cost_ms.generator.causal import CausalTransformer, CausalWithLoss
from cost_ms.generator.samples import WindowBuilder
from cost_ms.generator.vocab import Vocab
from cost_ms.reference.decoding import causal_brute_force_topk_ref
from cost_ms.tokenizer.semantic_ids import with_dedup

CAUSAL = ARCHS.get("causal")


def setup(n=40, k=4, max_history=4, layers=2, seed=0, item_embedding=False):
    sid = with_dedup(np.random.default_rng(seed).integers(0, k, (n, 2)))
    vocab = Vocab.from_semantic_ids(sid, k)
    item_tok = vocab.item_tokens(sid)
    net = CausalTransformer(vocab.size, max_history + 1, vocab.length, d_model=32, num_heads=2, head_dim=16,
                            ffn_dim=64, layers=layers, dropout=0.0, num_items=n if item_embedding else 0)
    net.set_train(False)
    return sid, vocab, item_tok, net


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 60), max_history=st.integers(1, 12), data=st.data())
def test_windows_train_every_target_once_with_enough_context(n, max_history, data):
    stride = data.draw(st.integers(1, max_history))
    b = WindowBuilder(np.zeros((n, 2), np.int32), max_history, stride)
    trained = []
    for i, (start, end, first) in enumerate(b.windows(n)):
        assert 0 <= start < first <= end <= n and end - start <= max_history + 1
        if i:
            assert first - start >= max_history + 1 - stride     # context of the window's first new target
        trained += range(first, end)
    assert trained == list(range(1, n))


def test_training_rows_by_hand():
    item_tok = np.array([[10, 20], [11, 21], [12, 22], [13, 23], [14, 24]], np.int32)
    b = WindowBuilder(item_tok, max_history=2, stride=1)
    tokens, ids, target, weight, items = b.training({"u": [0, 1, 2, 3]})
    assert items.tolist() == [3, 3]
    assert tokens[0].tolist() == [1, 10, 20, 11, 21, 12] and target[0].tolist() == [10, 20, 11, 21, 12, 22]
    assert ids[0].tolist() == [0, 0, 1, 0, 2, 0]           # item + 1 where the item's last token goes in
    assert weight[0].tolist() == [0, 0, 1, 1, 1, 1]                       # item 0 has no history: not a target
    assert tokens[1].tolist() == [1, 11, 21, 12, 22, 13] and weight[1].tolist() == [0, 0, 0, 0, 1, 1]
    assert ids[1].tolist() == [0, 0, 2, 0, 3, 0]
    short_tokens, short_ids, _, short_weight, _ = b.training({"v": [4, 2]})
    assert short_tokens[0].tolist() == [1, 14, 24, 12, 0, 0] and short_weight[0].tolist() == [0, 0, 1, 1, 0, 0]
    assert short_ids[0].tolist() == [0, 0, 5, 0, 0, 0]                   # never the id of a window's target
    _, src, _ = b.evaluation({"v": [4, 2]}, {"v": 0})
    assert src[0].tolist() == [[1, 14, 24, 12, 22], [0, 0, 5, 0, 3]]


@pytest.mark.parametrize("item_embedding", [False, True])
def test_the_model_is_causal(graph_mode, item_embedding):
    _, vocab, item_tok, net = setup(item_embedding=item_embedding)
    rng = np.random.default_rng(1)
    tokens = rng.integers(3, vocab.size, (3, 15)).astype(np.int32)
    ids = rng.integers(0, 41, (3, 15)).astype(np.int32)
    from mindspore import Tensor
    base = net(Tensor(tokens), Tensor(ids)).asnumpy()
    for p in (0, 6, 13):
        changed, changed_ids = tokens.copy(), ids.copy()
        changed[:, p + 1:] = rng.integers(3, vocab.size, changed[:, p + 1:].shape)
        changed_ids[:, p + 1:] = rng.integers(1, 41, changed[:, p + 1:].shape)
        out = net(Tensor(changed), Tensor(changed_ids)).asnumpy()
        np.testing.assert_allclose(out[:, :p + 1], base[:, :p + 1], rtol=1e-5, atol=1e-5)
        assert not np.allclose(out[:, p + 1:], base[:, p + 1:])


def test_loss_is_the_weighted_mean_next_token_nll_by_hand(graph_mode):
    """CausalWithLoss on fixed logits: -1/W * sum_p w_p log softmax(z_p)[y_p], with W = sum_p w_p.

    Position 0: z = [0, ln 3, 0] -> p = [1/5, 3/5, 1/5], target 1: nll ln(5/3), argmax right.
    Position 1: z = [0, 0, 0] -> p = 1/3 each, target 2: nll ln 3, argmax (0) wrong.
    Position 2: weight 0, left out. Loss (ln(5/3) + ln 3) / 2 = ln(5) / 2; token accuracy 1/2.
    """
    from mindspore import Tensor, nn

    class Fixed(nn.Cell):
        def __init__(self):
            super().__init__()
            self.z = Tensor(np.array([[[0.0, np.log(3.0), 0.0], [0.0, 0.0, 0.0], [5.0, 0.0, 0.0]]], np.float32))

        def construct(self, tokens, ids):
            return self.z

    one = Tensor(np.ones((1, 3), np.int32))
    loss, acc = CausalWithLoss(Fixed())(one, one, Tensor(np.array([[1, 2, 0]], np.int32)),
                                        Tensor(np.array([[1, 1, 0]], np.float32)))
    np.testing.assert_allclose(float(loss.asnumpy()), np.log(5.0) / 2, rtol=1e-5)       # float32
    assert float(acc.asnumpy()) == 0.5


@pytest.mark.parametrize("item_embedding", [False, True])
def test_one_pass_loss_equals_the_per_prefix_losses(graph_mode, item_embedding):
    """Windows of every sequence in one forward pass give the same summed negative log-likelihood as scoring each
    target alone after its own history (what decoding sees), target by target."""
    from mindspore import Tensor
    sid, vocab, item_tok, net = setup(max_history=3, item_embedding=item_embedding)
    rng = np.random.default_rng(2)
    seqs = {u: rng.integers(0, len(sid), rng.integers(2, 12)).tolist() for u in range(7)}
    b = WindowBuilder(item_tok, max_history=3, stride=2)
    tokens, ids, target, weight, _ = b.training(seqs)
    loss, _ = CausalWithLoss(net)(Tensor(tokens), Tensor(ids), Tensor(target), Tensor(weight))
    one_pass = float(loss.asnumpy()) * weight.sum()
    per_prefix, count = 0.0, 0
    for seq in seqs.values():
        for start, end, first in b.windows(len(seq)):
            for t in range(first, end):
                hist = seq[start:t]
                row = np.concatenate([[1], item_tok[hist].reshape(-1), item_tok[seq[t]][:-1]]).astype(np.int32)
                ids = np.zeros_like(row)                   # each history item's id at its last token only
                ids[[(j + 1) * vocab.length for j in range(len(hist))]] = np.asarray(hist) + 1
                logits = net(Tensor(row[None]), Tensor(ids[None])).asnumpy()[0, -vocab.length:].astype(np.float64)
                logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
                    - logits.max(-1, keepdims=True)
                per_prefix -= logp[np.arange(vocab.length), item_tok[seq[t]]].sum()
                count += 1
    assert count == sum(len(s) - 1 for s in seqs.values())
    np.testing.assert_allclose(one_pass, per_prefix, rtol=1e-4)


@pytest.mark.parametrize("exclude_history, item_embedding", [(False, False), (True, False), (True, True)])
def test_cached_beam_search_matches_brute_force(graph_mode, exclude_history, item_embedding):
    sid, vocab, item_tok, net = setup(n=40, max_history=4, item_embedding=item_embedding)
    rng = np.random.default_rng(3)
    hists = [rng.integers(0, 40, rng.integers(1, 7)).tolist() for _ in range(7)]
    b = WindowBuilder(item_tok, 4, 2)
    _, src, _ = b.evaluation(dict(enumerate(hists)), {u: 0 for u in range(7)})
    exclude = [h for h in hists] if exclude_history else None
    items, scores = BeamSearcher(net, vocab, PrefixIndex(sid, vocab.level_sizes), 40, 3,
                                 arch=CAUSAL).search(src, exclude)
    ref_items, ref_scores = causal_brute_force_topk_ref(net, [h[-4:] for h in hists], item_tok, 10, exclude)
    np.testing.assert_array_equal(items[:, :10], ref_items)
    np.testing.assert_allclose(scores[:, :10], ref_scores, rtol=1e-4, atol=1e-4)


def test_cropping_to_length_buckets_changes_no_result(graph_mode):
    sid, vocab, item_tok, net = setup(n=60, max_history=8, item_embedding=True)
    rng = np.random.default_rng(4)
    hists = {u: rng.integers(0, 60, rng.integers(1, 9)).tolist() for u in range(13)}
    _, src, _ = WindowBuilder(item_tok, 8, 4).evaluation(hists, {u: 0 for u in hists})
    index = PrefixIndex(sid, vocab.level_sizes)
    from tests.test_beam_search import assert_cropping_changes_nothing
    assert_cropping_changes_nothing(net, vocab, index, src, CAUSAL.src_widths([2, 4, 8], vocab, src.shape[-1]), CAUSAL)


@pytest.mark.parametrize("override, message", [
    (["generator.arch=gpt"], "unknown generator architecture 'gpt'; choose one of: causal, tiger"),
    (["generator.arch=causal", "generator.window_stride=21"], "generator.window_stride must be in 1..generator"),
    (["generator.arch=causal", "generator.window_stride=0"], "generator.window_stride must be"),
    (["generator.arch=causal", "generator.user_buckets=100"], "generator.user_buckets must be 0 with generator.arch"),
    (["generator.arch=tiger", "generator.item_embedding=true"], "generator.item_embedding needs generator.arch causal"),
])
def test_bad_architecture_settings_are_refused_at_load(override, message):
    from cost_ms.config import load_config
    from cost_ms.errors import CostError
    from tests.conftest import ROOT
    import os
    with pytest.raises(CostError, match=message):
        load_config(os.path.join(ROOT, "configs", "amazon-office-cpu.yaml"), override)


def test_each_architecture_trains_in_its_own_folder():
    import os
    from cost_ms.config import load_config
    from cost_ms.stages import Stages
    from tests.conftest import ROOT
    path = os.path.join(ROOT, "configs", "ml-100k.yaml")
    co = ["tokenizer.method=rqvae", "tokenizer.loss=co"]
    tiger = Stages(load_config(path, co + ["generator.arch=tiger", "generator.item_embedding=false"])).generator
    causal = Stages(load_config(path, co + ["generator.arch=causal"])).generator
    assert os.path.basename(tiger) == "generator-minilm-rqvae-co"       # the folder TIGER runs always had
    assert os.path.basename(causal) == "generator-causal-minilm-rqvae-co"


def test_tigers_resume_key_is_the_one_its_checkpoints_had_before_there_were_two_architectures():
    import os
    from cost_ms.config import load_config
    from tests.conftest import ROOT
    gc = load_config(os.path.join(ROOT, "configs", "amazon-office-cpu.yaml")).generator
    added = {"arch", "window_stride", "item_embedding"}      # the keys that came with the causal generator
    assert set(ARCHS.get("tiger").settings(gc)) == set(gc.to_dict()) - added - {"ckpt_every_steps"}
    assert {"arch", "window_stride"} <= set(CAUSAL.settings(gc))
    # item embeddings off: causal checkpoints made before the key existed keep their resume key
    assert "item_embedding" not in CAUSAL.settings(gc.replace(item_embedding=False))
    assert CAUSAL.settings(gc.replace(item_embedding=True))["item_embedding"] is True
