"""SASRec (Kang & McAuley, ICDM'18) with full-catalogue softmax cross-entropy, in MindSpore cells.

Causal self-attention over item ids (pre-LayerNorm blocks, learned positions); the output at
position t scores every item by a dot product with the shared item table, and the loss is the
cross-entropy of the next item over the whole catalogue at every non-padding position at once
(the "SASRec + CE" recipe that beats the original BCE with one negative, Klenitskiy & Vasilev,
RecSys'23). Item ids are shifted by one: 0 is padding.

Shapes: ``seq [B, L] int32`` (left-padded, newest last), ``target [B, L] int32`` (0 = no loss),
``logits [B, L, N + 1]``.
"""
import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from ..layers import NEG, EncoderLayer


class SASRec(nn.Cell):
    def __init__(self, num_items, max_len, d_model=64, num_heads=2, blocks=2, dropout=0.2):
        super().__init__()
        self.item = nn.Embedding(num_items + 1, d_model, padding_idx=0)
        self.pos = nn.Embedding(max_len, d_model)
        self.blocks = nn.CellList([EncoderLayer(d_model, num_heads, d_model // num_heads, 4 * d_model, dropout)
                                   for _ in range(blocks)])
        self.ln = nn.LayerNorm((d_model,))
        self.drop = nn.Dropout(p=dropout)
        self.causal = Tensor(np.triu(np.full((max_len, max_len), NEG, np.float32), 1))
        self.positions = Tensor(np.arange(max_len, dtype=np.int32))
        self.scale = float(np.sqrt(d_model))
        # padding (id 0) can never be recommended
        self.no_pad = Tensor(np.r_[NEG, np.zeros(num_items)].astype(np.float32))

    def hidden(self, seq):
        """``seq [B, L]`` -> ``[B, L, d]``: position t has seen items 0..t only."""
        pad = (seq == 0).astype(ms.float32) * NEG
        mask = self.causal.expand_dims(0) + pad.expand_dims(1)          # [B, L, L]
        x = self.drop(self.item(seq) * self.scale + self.pos(self.positions).expand_dims(0))
        for block in self.blocks:
            x = block(x, mask)
        return self.ln(x)

    def construct(self, seq):
        return ops.matmul(self.hidden(seq), self.item.embedding_table.T) + self.no_pad


class SASRecWithLoss(nn.Cell):
    """Mean next-item cross-entropy over all non-padding positions; returns ``(loss, accuracy)``."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, seq, target):
        logits = self.net(seq)
        v = logits.shape[-1]
        flat, tgt = logits.reshape(-1, v), target.reshape(-1)
        weight = (tgt > 0).astype(ms.float32)
        nll = ops.logsumexp(flat, -1) - ops.gather_elements(flat, 1, tgt.reshape(-1, 1)).reshape(-1)
        count = ops.maximum(weight.sum(), 1.0)
        acc = ((flat.argmax(-1).astype(ms.int32) == tgt).astype(ms.float32) * weight).sum() / count
        return (nll * weight).sum() / count, acc


class LastTopK(nn.Cell):
    """Inference: top-``k`` items (0-based indices) and scores after the last position of ``seq``.

    ``mask [B, N + 1] float32`` is added to the full-catalogue scores before the top-k: ``NEG`` at the
    items a row may not get (its history, ``eval.exclude_history``), 0 elsewhere (all zeros: the raw protocol).
    """

    def __init__(self, net, k):
        super().__init__()
        self.net, self.k = net, k

    def construct(self, seq, mask):
        h = self.net.hidden(seq)[:, -1]
        scores = ops.matmul(h, self.net.item.embedding_table.T) + self.net.no_pad + mask
        values, idx = ops.topk(scores, self.k)
        return values, idx - 1
