"""Transformer blocks shared by the generator (``generator/transformer.py``) and SASRec (``baseline/sasrec.py``).

Pre-LayerNorm blocks; masks are additive: 0 where attention is allowed, :data:`NEG` elsewhere.
Shapes: ``x [B, T, d] float32``, ``mask [B, 1 or T, Tk] float32``.
"""
import numpy as np
from mindspore import nn, ops

from .dense import create_dense

NEG = -1e9


class MultiHeadAttention(nn.Cell):
    def __init__(self, d_model, heads, head_dim, dropout):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.q = nn.Dense(d_model, inner, has_bias=False)
        self.k = nn.Dense(d_model, inner, has_bias=False)
        self.v = nn.Dense(d_model, inner, has_bias=False)
        self.o = nn.Dense(inner, d_model, has_bias=False)
        self.drop = nn.Dropout(p=dropout)
        self.scale = 1.0 / float(np.sqrt(head_dim))
        self.qk = ops.BatchMatMul(transpose_b=True)

    def _split(self, x):
        """``[B, T, H * hd] -> [B, H, T, hd]``."""
        b, t, _ = x.shape
        if t == 1:   # moving a unit axis is a reshape: no Transpose kernel (one token per decoding step)
            return x.reshape(b, self.heads, 1, self.head_dim)
        return x.reshape(b, t, self.heads, self.head_dim).transpose(0, 2, 1, 3)

    def construct(self, x, kv, mask):
        """``x [B, Tq, d]``, ``kv [B, Tk, d]``, ``mask [B, 1 or Tq, Tk]`` additive -> ``[B, Tq, d]``."""
        k, v = self.keys_values(kv)
        return self.attend(x, k, v, mask)

    def keys_values(self, kv):
        """``kv [B, Tk, d]`` -> keys and values ``[B, H, Tk, head_dim]`` (what a decoding cache keeps)."""
        return self._split(self.k(kv)), self._split(self.v(kv))

    def attend(self, x, k, v, mask=None):
        """Queries from ``x [B, Tq, d]`` over ``k, v [B, H, Tk, head_dim]``; ``mask`` additive or None."""
        # q @ k^T with the transpose inside the kernel: no Transpose op on the keys, which decoding
        # steps would otherwise repeat on the whole cached memory every step
        scores = self.qk(self._split(self.q(x)), k) * self.scale
        if mask is not None:
            scores = scores + mask.expand_dims(1)
        attn = self.drop(ops.softmax(scores, -1))
        out = ops.matmul(attn, v)                                  # [B, H, Tq, hd]
        b, t = out.shape[0], out.shape[2]
        if t != 1:
            out = out.transpose(0, 2, 1, 3)
        return self.o(out.reshape(b, t, self.heads * self.head_dim))


    def attend_shared(self, x, shared_k, shared_v, shared_mask, own_k, own_v, beams):
        """One new token per hypothesis over two key sets under one softmax (cached decoding of a decoder-only model).

        ``x [R, 1, d]`` with ``R = B * beams`` (a user's hypotheses consecutive); ``shared_k, shared_v [B, H, S, hd]``
        the user's history, with ``shared_mask [B, 1, S]`` additive; ``own_k, own_v [R, H, t, hd]`` the tokens
        this hypothesis has generated, itself included. The beams' queries fold into one query axis over one copy
        of the history, so its keys and values are never repeated per beam. Returns ``[R, 1, d]``.
        """
        r, hd = x.shape[0], self.head_dim
        b, s = r // beams, shared_k.shape[2]
        q = self._split(self.q(x))                                              # [R, H, 1, hd]
        folded = q.reshape(b, beams, self.heads, hd).transpose(0, 2, 1, 3)      # [B, H, W, hd]
        s1 = self.qk(folded, shared_k) * self.scale + shared_mask.expand_dims(1)             # [B, H, W, S]
        s1 = s1.transpose(0, 2, 1, 3).reshape(r, self.heads, 1, s)
        s2 = self.qk(q, own_k) * self.scale                                     # [R, H, 1, t]
        attn = self.drop(ops.softmax(ops.concat((s1, s2), -1), -1))
        a1 = attn[:, :, :, :s].reshape(b, beams, self.heads, s).transpose(0, 2, 1, 3)       # [B, H, W, S]
        o1 = ops.matmul(a1, shared_v).transpose(0, 2, 1, 3).reshape(r, self.heads, 1, hd)
        o2 = ops.matmul(attn[:, :, :, s:], own_v)                               # [R, H, 1, hd]
        return self.o((o1 + o2).reshape(r, 1, self.heads * hd))


class FeedForward(nn.Cell):
    def __init__(self, d_model, ffn_dim, dropout):
        super().__init__()
        # on CPU, nn.Dense with a fast bias gradient (BiasAddGrad was a bottleneck: dense.py)
        self.net = nn.SequentialCell([create_dense(d_model, ffn_dim), nn.ReLU(), nn.Dropout(p=dropout),
                                      create_dense(ffn_dim, d_model)])

    def construct(self, x):
        return self.net(x)


class EncoderLayer(nn.Cell):
    def __init__(self, d_model, heads, head_dim, ffn_dim, dropout):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm((d_model,)), nn.LayerNorm((d_model,))
        self.attn = MultiHeadAttention(d_model, heads, head_dim, dropout)
        self.ffn = FeedForward(d_model, ffn_dim, dropout)
        self.drop = nn.Dropout(p=dropout)

    def construct(self, x, mask):
        h = self.ln1(x)
        x = x + self.drop(self.attn(h, h, mask))
        return x + self.drop(self.ffn(self.ln2(x)))
