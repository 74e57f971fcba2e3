"""TIGER's encoder-decoder Transformer in MindSpore cells (pre-LayerNorm, learned positions).

TIGER (NeurIPS'23, sec. 4) uses a T5-style model with 4 encoder and 4 decoder layers,
d_model 128, 6 heads of 64, feed-forward 1024, dropout 0.1; all are config here.
Masks are additive: 0 where attention is allowed, a large negative number elsewhere.

Shapes: ``src [B, S] int32`` (0 = pad), ``dec_in [B, T] int32``, ``logits [B, T, V]``.
"""
import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from ..layers import NEG, EncoderLayer, FeedForward, MultiHeadAttention


class DecoderLayer(nn.Cell):
    def __init__(self, d_model, heads, head_dim, ffn_dim, dropout):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm((d_model,)) for _ in range(3))
        self.self_attn = MultiHeadAttention(d_model, heads, head_dim, dropout)
        self.cross_attn = MultiHeadAttention(d_model, heads, head_dim, dropout)
        self.ffn = FeedForward(d_model, ffn_dim, dropout)
        self.drop = nn.Dropout(p=dropout)

    def construct(self, y, memory, self_mask, cross_mask, beams=1):
        """``y [B * beams, T, d]``; ``memory [B, S, d]`` is shared by a user's ``beams`` hypotheses."""
        h = self.ln1(y)
        k, v = self.self_attn.keys_values(h)
        cross_k, cross_v = self.cross_attn.keys_values(memory)
        return self._blocks(y, h, k, v, self_mask, cross_k, cross_v, cross_mask, beams)

    def step(self, y, cross_k, cross_v, cross_mask, beams, past_k=None, past_v=None, parent=None):
        """One new token per hypothesis (incremental decoding, :mod:`.incremental`).

        ``y [R, 1, d]`` with ``R = B * beams``; ``cross_k, cross_v [B, H, S, hd]`` projected once per user;
        ``past_k, past_v [rows, H, t, hd]`` the previous step's self-attention cache and ``parent [R] int32``
        the row each hypothesis extends (None at the first step). Returns ``(y, k, v)`` with the new cache
        ``k, v [R, H, t + 1, hd]``. No mask: only the past is cached, so it is causal by construction.
        """
        h = self.ln1(y)
        k, v = self.self_attn.keys_values(h)
        if past_k is not None:
            k = ops.concat((ops.gather(past_k, parent, 0), k), 2)
            v = ops.concat((ops.gather(past_v, parent, 0), v), 2)
        return self._blocks(y, h, k, v, None, cross_k, cross_v, cross_mask, beams), k, v

    def _blocks(self, y, h, k, v, self_mask, cross_k, cross_v, cross_mask, beams):
        """The layer's block order, shared by ``construct`` and ``step``: ``h = ln1(y)`` has given the
        self-attention keys/values ``k, v``; then self-attention, ln2, cross-attention, ln3, feed-forward."""
        y = y + self.drop(self.self_attn.attend(h, k, v, self_mask))
        h = self.ln2(y)
        if beams > 1:
            # cross-attention queries do not interact, so a user's beams are folded into the query
            # axis and attend to one copy of its memory: no per-beam key/value projections
            bw, t, d = h.shape
            c = self.cross_attn.attend(h.reshape(bw // beams, beams * t, d), cross_k, cross_v,
                                       cross_mask).reshape(bw, t, d)
        else:
            c = self.cross_attn.attend(h, cross_k, cross_v, cross_mask)
        y = y + self.drop(c)
        return y + self.drop(self.ffn(self.ln3(y)))


class Seq2SeqTransformer(nn.Cell):
    def __init__(self, vocab_size, src_len, tgt_len, d_model=128, num_heads=6, head_dim=64, ffn_dim=1024,
                 enc_layers=4, dec_layers=4, dropout=0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.src_pos = nn.Embedding(src_len, d_model)
        self.tgt_pos = nn.Embedding(tgt_len, d_model)
        self.encoder = nn.CellList([EncoderLayer(d_model, num_heads, head_dim, ffn_dim, dropout)
                                    for _ in range(enc_layers)])
        self.decoder = nn.CellList([DecoderLayer(d_model, num_heads, head_dim, ffn_dim, dropout)
                                    for _ in range(dec_layers)])
        self.enc_ln, self.dec_ln = nn.LayerNorm((d_model,)), nn.LayerNorm((d_model,))
        self.head = nn.Dense(d_model, vocab_size, has_bias=False)
        self.drop = nn.Dropout(p=dropout)
        causal = np.triu(np.full((tgt_len, tgt_len), NEG, np.float32), 1)
        self.causal = Tensor(causal)
        self.src_len = src_len
        self.src_positions = Tensor(np.arange(src_len, dtype=np.int32))
        self.tgt_positions = Tensor(np.arange(tgt_len, dtype=np.int32))

    def pad_mask(self, src):
        """``[B, 1, S]``: NEG on padding keys."""
        return ((src == 0).astype(ms.float32) * NEG).expand_dims(1)

    def encode(self, src):
        # positions are right-aligned (the newest token is always src_len - 1), so a batch cropped
        # to its last S tokens (length buckets) sees the same positions as the full input
        s = src.shape[1]
        mask = self.pad_mask(src)
        pos = self.src_pos(self.src_positions[self.src_len - s:])
        x = self.drop(self.embed(src) + pos.expand_dims(0))
        for layer in self.encoder:
            x = layer(x, mask)
        return self.enc_ln(x)

    def decode(self, dec_in, memory, src, beams=1):
        """``dec_in [B * beams, T]``, ``memory [B, S, d]``, ``src [B, S]`` -> ``logits [B * beams, T, V]``."""
        t = dec_in.shape[1]
        y = self.drop(self.embed(dec_in) + self.tgt_pos(self.tgt_positions[:t]).expand_dims(0))
        self_mask = self.causal[:t, :t].expand_dims(0)
        cross_mask = self.pad_mask(src)
        for layer in self.decoder:
            y = layer(y, memory, self_mask, cross_mask, beams)
        return self.head(self.dec_ln(y))

    def construct(self, src, dec_in):
        return self.decode(dec_in, self.encode(src), src)


class Seq2SeqWithLoss(nn.Cell):
    """Cross-entropy on every target token; returns ``(loss, token_accuracy)``."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.ce = nn.CrossEntropyLoss()

    def construct(self, src, dec_in, target):
        logits = self.net(src, dec_in)
        v = logits.shape[-1]
        flat = logits.reshape(-1, v)
        tgt = target.reshape(-1)
        loss = self.ce(flat, tgt)
        acc = (flat.argmax(-1).astype(ms.int32) == tgt).astype(ms.float32).mean()
        return loss, acc


def create_model(gc, vocab_size, src_len, tgt_len):
    return Seq2SeqTransformer(vocab_size, src_len, tgt_len, gc.d_model, gc.num_heads,
                              gc.head_dim or gc.d_model // gc.num_heads, gc.ffn_dim,
                              gc.enc_layers, gc.dec_layers, gc.dropout)
