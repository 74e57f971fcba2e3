"""A decoder-only (causal) generator over the flattened semantic-ID tokens of a user's items.

TIGER (NeurIPS'23) encodes a history and decodes one next item per training sample, so a sequence of
``n`` items costs ``n - 1`` encoder-decoder passes. Here a user's items become one token stream, as a
language model reads text and as SASRec (Kang & McAuley, ICDM'18) reads item ids; one causal pass predicts
every next token, so every next item of the sequence trains at once::

    input   BOS    a_0 a_1 a_2 a_3   b_0 b_1 b_2 b_3   c_0 c_1 c_2
    target  a_0    a_1 a_2 a_3 b_0   b_1 b_2 b_3 c_0   c_1 c_2 c_3

(``a_j``: item ``a``'s level-``j`` token, dedup level last.) The target of position ``p`` is item ``p // L``'s
level-``p % L`` token, and position ``p`` adds the learned embeddings of that *slot* (item position ``p // L``,
counted from the oldest item of the window, and level ``p % L``): each query knows which level it must emit,
and positions are left-aligned, so a history of ``h`` items puts its next item at item position ``h`` in
training and at inference alike. Rows are right-padded; a causal mask alone keeps every real query off the
padding (padding only ever follows real tokens).

Decoding (:class:`CausalPrefix`, :class:`CausalStep`): one pass over ``BOS`` + the history yields the first
level's log-probabilities and every layer's keys/values of the history, shared by the user's beams; each
further level feeds only the newest token per hypothesis (:meth:`MultiHeadAttention.attend_shared`).

Item embeddings (``generator.item_embedding``, optional): the position of an item's *last* input token also adds a
learned embedding of that item (``ids``: item index + 1 there, 0 elsewhere), as SASRec embeds item ids. Only
complete history items get one: the item being decoded is never known before its last token, in training as at
inference, so no target leaks into its own tokens. It gives the model per-item memory beside the shared codes, at
the cost of a table that grows with the catalogue (cold items keep only their codes).

Shapes: ``tokens, ids [B, T] int32`` (0 = pad / no item), ``logits [B, T, V]``, ``T <= (max_history + 1) * L``.
"""
import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from ..layers import NEG, EncoderLayer


class CausalLayer(EncoderLayer):
    """A pre-LayerNorm block of causal self-attention; ``step`` is its cached one-token form."""

    def prefix(self, x, mask):
        """``construct`` that also returns this layer's keys/values ``[B, H, T, hd]`` (the decoding cache)."""
        h = self.ln1(x)
        k, v = self.attn.keys_values(h)
        x = x + self.drop(self.attn.attend(h, k, v, mask))
        return x + self.drop(self.ffn(self.ln2(x))), k, v

    def step(self, y, hist_k, hist_v, hist_mask, beams, past_k=None, past_v=None, parent=None):
        """``y [R, 1, d]``, ``R = B * beams``; the history cache ``hist_k, hist_v [B, H, S, hd]`` with ``hist_mask
        [B, 1, S]``; ``past_k, past_v [rows, H, t, hd]`` the previous step's own cache and ``parent [R] int32`` the
        row each hypothesis extends (None at the first step). Returns ``(y, k, v)``, ``k, v [R, H, t + 1, hd]``."""
        h = self.ln1(y)
        k, v = self.attn.keys_values(h)
        if past_k is not None:
            k = ops.concat((ops.gather(past_k, parent, 0), k), 2)
            v = ops.concat((ops.gather(past_v, parent, 0), v), 2)
        y = y + self.drop(self.attn.attend_shared(h, hist_k, hist_v, hist_mask, k, v, beams))
        return y + self.drop(self.ffn(self.ln2(y))), k, v


class CausalTransformer(nn.Cell):
    """``tokens [B, T] -> logits [B, T, V]``: the next token at every position.

    ``max_items``: items a row may hold (``max_history`` of history + the next one); ``length``: tokens per item;
    ``num_items``: catalogue size for item embeddings (0: none, ``ids`` are ignored).
    """

    def __init__(self, vocab_size, max_items, length, d_model=128, num_heads=4, head_dim=32, ffn_dim=512,
                 layers=2, dropout=0.1, num_items=0):
        super().__init__()
        self.length, self.width = length, max_items * length
        self.embed = nn.Embedding(vocab_size, d_model)
        self.use_items = num_items > 0
        if self.use_items:
            self.item_embed = nn.Embedding(num_items + 1, d_model, padding_idx=0)
        self.item_pos = nn.Embedding(max_items, d_model)
        self.level_pos = nn.Embedding(length, d_model)
        self.layers = nn.CellList([CausalLayer(d_model, num_heads, head_dim, ffn_dim, dropout) for _ in range(layers)])
        self.ln = nn.LayerNorm((d_model,))
        self.head = nn.Dense(d_model, vocab_size, has_bias=False)
        self.drop = nn.Dropout(p=dropout)
        slots = np.arange(self.width)
        self.slot_item = Tensor((slots // length).astype(np.int32))
        self.slot_level = Tensor((slots % length).astype(np.int32))
        self.causal = Tensor(np.triu(np.full((self.width, self.width), NEG, np.float32), 1))

    def inputs(self, tokens, ids):
        """Token, slot (and item) embeddings ``[B, T, d]`` and the causal mask ``[1, T, T]``."""
        t = tokens.shape[1]
        slot = self.item_pos(self.slot_item[:t]) + self.level_pos(self.slot_level[:t])
        x = self.embed(tokens) + slot.expand_dims(0)
        if self.use_items:
            x = x + self.item_embed(ids)
        return self.drop(x), self.causal[:t, :t].expand_dims(0)

    def construct(self, tokens, ids):
        x, mask = self.inputs(tokens, ids)
        for layer in self.layers:
            x = layer(x, mask)
        return self.head(self.ln(x))


class CausalWithLoss(nn.Cell):
    """Next-token cross-entropy over the weighted positions; returns ``(loss, token_accuracy)``.

    ``tokens, ids, target [B, T] int32``, ``weight [B, T] float32``: 1 on the tokens of the items this row trains, 0 on
    padding and on items an earlier window of the sequence trained already. Loss and accuracy are means over the
    weighted tokens, so a batch's value does not depend on its padding.
    """

    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, tokens, ids, target, weight):
        logp = ops.log_softmax(self.net(tokens, ids), -1)                                # [B, T, V]
        nll = -ops.gather_elements(logp, 2, target.expand_dims(-1)).squeeze(-1)     # [B, T]
        total = ops.maximum(weight.sum(), ops.ones((), ms.float32))
        loss = (nll * weight).sum() / total
        hit = (logp.argmax(-1).astype(ms.int32) == target).astype(ms.float32)
        return loss, (hit * weight).sum() / total


class CausalPrefix(nn.Cell):
    """``src, ids [B, S] int32`` (BOS + history tokens, right-padded; item ids), ``last [B] int32`` (index of each row's last real
    token) -> ``(logp [B, V], mask [B, 1, S], k_1, v_1, ..., k_n, v_n)``: the first level's log-probabilities of the
    next item, the history's padding mask and every layer's history keys/values ``[B, H, S, hd]``."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.n = len(net.layers)

    def construct(self, src, ids, last):
        b, s = src.shape
        x, mask = self.net.inputs(src, ids)
        cache = ()
        for i in range(self.n):
            x, k, v = self.net.layers[i].prefix(x, mask)
            cache = cache + (k, v)
        h = ops.gather(x.reshape(b * s, -1), ops.arange(b, dtype=ms.int32) * s + last, 0)      # [B, d]
        logp = ops.log_softmax(self.net.head(self.net.ln(h)), -1)
        pad = ((src == 0).astype(ms.float32) * NEG).expand_dims(1)
        return (logp, pad) + cache


class CausalStep(nn.Cell):
    """Level ``t >= 1`` of the next item: the level ``t - 1`` token each hypothesis chose goes in.

    ``first=True`` (level 1, no own cache): ``construct(tok [R, 1], item [R], hist) -> (logp [R, V], cache)``;
    ``first=False``: ``construct(tok, item, hist, cache, parent [R]) -> (logp, cache)``. ``item [R] int32``: the
    next item's position (its user's history length); ``hist = (mask, k_1, v_1, ...)`` from :class:`CausalPrefix`;
    ``cache = (k_1, v_1, ...)``, each ``[rows, H, t, hd]``, the tokens generated so far.
    """

    def __init__(self, net, beams, first):
        super().__init__()
        self.net, self.beams, self.first = net, beams, first
        self.n = len(net.layers)

    def construct(self, tok, item, hist, cache=(), parent=None):
        net = self.net
        t = 1 if self.first else cache[0].shape[2] + 1                    # the level predicted (static per graph)
        slot = net.item_pos(item) + net.level_pos(ops.ones_like(item) * t)
        y = net.embed(tok) + slot.expand_dims(1)                            # [R, 1, d]
        new_cache = ()
        for i in range(self.n):
            past = (None, None, None) if self.first else (cache[2 * i], cache[2 * i + 1], parent)
            y, k, v = net.layers[i].step(y, hist[1 + 2 * i], hist[2 + 2 * i], hist[0], self.beams, *past)
            new_cache = new_cache + (k, v)
        logits = net.head(net.ln(y)).reshape(tok.shape[0], -1)
        return ops.log_softmax(logits, -1), new_cache


def create_causal(gc, vocab, num_items):
    return CausalTransformer(vocab.size, gc.max_history + 1, vocab.length, gc.d_model, gc.num_heads,
                             gc.head_dim or gc.d_model // gc.num_heads, gc.ffn_dim, gc.dec_layers,
                             gc.dropout, num_items if gc.item_embedding else 0)
