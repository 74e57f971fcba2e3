"""Incremental decoding for beam search: cached keys and values, one new token per step.

Teacher-forced decoding (``Seq2SeqTransformer.decode``) recomputes every prefix token at every
step and projects the encoder memory to cross-attention keys/values again each time. Here:

* :class:`CrossMemory` encodes the source once and projects each decoder layer's cross-attention
  keys/values once per user: ``src [B, S] -> (k_1, v_1, ..., k_n, v_n)``, each ``[B, H, S, hd]``;
* :class:`DecodeStep` feeds only the newest token of each hypothesis and appends its self-attention
  keys/values to the cache. ``parent [R] int32`` says which row of the previous step's cache each
  hypothesis extends (the beam reorder), so the gather happens inside the step's graph.

Shapes: ``R = B * beams`` hypotheses, consecutive per user; the cache of step ``t`` (0-based) holds
``t + 1`` positions. The cross-attention queries of a user's ``beams`` hypotheses are folded into one
query axis over one copy of its memory. Each layer runs :meth:`~.transformer.DecoderLayer.step`, which shares
its block order with the layer's teacher-forced ``construct`` (``DecoderLayer._blocks``). The log-probabilities
equal :class:`~cost_ms.reference.decoding.StepScorer`'s on the full prefix (``tests/test_beam_search.py``).
"""
from mindspore import nn, ops


class CrossMemory(nn.Cell):
    """``src [B, S] int32`` -> cross-attention keys/values of every decoder layer, flat tuple."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.n = len(net.decoder)

    def construct(self, src):
        memory = self.net.encode(src)
        out = ()
        for i in range(self.n):
            out = out + self.net.decoder[i].cross_attn.keys_values(memory)
        return out


class DecodeStep(nn.Cell):
    """One decoding step over ``beams`` hypotheses per user.

    ``first=True`` (the root, one hypothesis per user, no cache):
    ``construct(tok [B, 1], src, cross) -> (logp [B, V], cache)``.
    ``first=False``: ``construct(tok [R, 1], src, cross, cache, parent [R]) -> (logp [R, V], cache)``,
    where ``cache = (k_1, v_1, ..., k_n, v_n)``, each ``[rows, H, t, hd]`` for the previous step's rows.
    """

    def __init__(self, net, beams, first):
        super().__init__()
        self.net, self.beams, self.first = net, beams, first
        self.n = len(net.decoder)

    def construct(self, tok, src, cross, cache=(), parent=None):
        net = self.net
        t = 0 if self.first else cache[0].shape[2]        # the new token's position (static per graph)
        y = net.embed(tok) + net.tgt_pos(net.tgt_positions[t:t + 1]).expand_dims(0)   # [R, 1, d]
        cross_mask = net.pad_mask(src)
        new_cache = ()
        for i in range(self.n):
            past = (None, None, None) if self.first else (cache[2 * i], cache[2 * i + 1], parent)
            y, k, v = net.decoder[i].step(y, cross[2 * i], cross[2 * i + 1], cross_mask, self.beams, *past)
            new_cache = new_cache + (k, v)
        logits = net.head(net.dec_ln(y)).reshape(tok.shape[0], -1)     # [R, V]: the unit axis dropped by a reshape
        return ops.log_softmax(logits, -1), new_cache
