"""Reference decoders the beam search is tested against (tests and benchmarks only).

* :class:`StepScorer`: teacher-forced next-token log-probabilities over a whole prefix, the reference of the
  cached :class:`~cost_ms.generator.incremental.DecodeStep`; :class:`MemoryEncoder` gives its memory.
* :func:`brute_force_topk_ref`: every item's full tuple scored by teacher forcing, the catalogue ranked in
  NumPy (optionally without each row's history): with a beam at least the catalogue size, beam search must
  return the same top-k.
"""
import numpy as np
from mindspore import Tensor, nn, ops

from ..generator.vocab import BOS

NEG_INF = -np.inf


class StepScorer(nn.Cell):
    """Teacher-forced scoring, the reference :class:`~.incremental.DecodeStep` is tested against:
    log-probabilities of the next token after ``dec_in [B * beams, T]``, ``[B * beams, V]``.

    ``memory [B, S, d]`` and ``src [B, S]`` are per user; each user's ``beams`` rows of ``dec_in``
    are consecutive.
    """

    def __init__(self, net, beams=1):
        super().__init__()
        self.net, self.beams = net, beams

    def construct(self, dec_in, memory, src):
        logits = self.net.decode(dec_in, memory, src, self.beams)
        return ops.log_softmax(logits[:, -1], -1)


class MemoryEncoder(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, src):
        return self.net.encode(src)


def score_all_items(net, vocab, src, item_tok):
    """``[U, N]`` log-probability of every item's full tuple, by teacher forcing (small cases only)."""
    net.set_train(False)
    n, length = item_tok.shape
    dec_in = np.concatenate([np.full((n, 1), BOS, np.int32), item_tok[:, :-1]], 1)
    out = np.zeros((len(src), n))
    for u, row in enumerate(src):
        s = np.repeat(row[None], n, 0)
        logits = net(Tensor(s), Tensor(dec_in)).asnumpy().astype(np.float64)
        logp = logits - logits.max(-1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
        out[u] = np.take_along_axis(logp, item_tok[:, :, None].astype(np.int64), 2)[..., 0].sum(1)
    return out


def brute_force_topk_ref(net, vocab, src, item_tok, k, exclude=None):
    """NumPy reference decoder: rank the whole catalogue by full-tuple log-probability.

    ``exclude``: ``None`` or per row an array of item indices dropped before the top-k (history-aware).
    """
    scores = score_all_items(net, vocab, src, item_tok)
    if exclude is not None:
        for u, items in enumerate(exclude):
            scores[u, np.asarray(items, np.int64)] = NEG_INF
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return top, np.take_along_axis(scores, top, 1)


def causal_score_all_items(net, histories, item_tok):
    """``[U, N]`` log-probability of every item's full tuple after each history (item indices, oldest first) under
    a :class:`~cost_ms.generator.causal.CausalTransformer`: one teacher-forced pass per (user, item) over ``BOS``
    + the history's tokens + the item's tokens (small cases only), with the history's item ids."""
    net.set_train(False)
    n, length = item_tok.shape
    out = np.zeros((len(histories), n))
    for u, hist in enumerate(histories):
        ctx = np.concatenate([[BOS], item_tok[np.asarray(hist, np.int64)].reshape(-1)]).astype(np.int32)
        rows = np.concatenate([np.repeat(ctx[None], n, 0), item_tok[:, :-1]], 1).astype(np.int32)
        ids = np.zeros_like(rows)          # item ids at each history item's last token; none on the candidate's
        ids[:, np.arange(1, len(hist) + 1) * length] = np.asarray(hist, np.int64) + 1
        logits = net(Tensor(rows), Tensor(ids)).asnumpy().astype(np.float64)[:, len(ctx) - 1:]        # [N, L, V]
        logp = logits - logits.max(-1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
        out[u] = np.take_along_axis(logp, item_tok[:, :, None].astype(np.int64), 2)[..., 0].sum(1)
    return out


def causal_brute_force_topk_ref(net, histories, item_tok, k, exclude=None):
    """:func:`brute_force_topk_ref` for the causal generator: ``histories`` are lists of item indices."""
    scores = causal_score_all_items(net, histories, item_tok)
    if exclude is not None:
        for u, items in enumerate(exclude):
            scores[u, np.asarray(items, np.int64)] = NEG_INF
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return top, np.take_along_axis(scores, top, 1)
