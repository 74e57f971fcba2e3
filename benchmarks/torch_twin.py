"""PyTorch twin of cost_ms/generator/transformer.py, its loss, and a plain trie-constrained beam search.

Same model as :class:`cost_ms.generator.transformer.Seq2SeqTransformer`: pre-LayerNorm encoder-decoder,
learned positions (the source's right-aligned), bias-free q/k/v/o projections of ``heads x head_dim``,
ReLU feed-forward with biases, dropout after embeddings, attention weights, the ffn's ReLU and each
residual branch, a final LayerNorm on each side, one token embedding shared by encoder and decoder
input and a separate (untied) bias-free output projection. Attribute names follow the MindSpore
cells, so weights copy over by name (:func:`copy_from_mindspore`). Init as MindSpore's defaults:
``nn.Linear``'s own (kaiming-uniform a=sqrt(5), uniform bias: the same as MindSpore's Dense),
embeddings N(0, 0.01), LayerNorm ones/zeros with MindSpore's epsilon 1e-7.

Shapes: ``src [B, S] int64`` (0 = pad, newest token last), ``dec_in [B, T]``, ``logits [B, T, V]``.
Imports torch and NumPy only (no MindSpore), so a child running the twin pays for nothing else.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NEG = -1e9
LN_EPS = 1e-7                    # MindSpore nn.LayerNorm's default (torch's is 1e-5)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, heads, head_dim, dropout):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.q, self.k, self.v = (nn.Linear(d_model, inner, bias=False) for _ in range(3))
        self.o = nn.Linear(inner, d_model, bias=False)
        self.drop = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(head_dim)

    def _split(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, kv, mask):
        """``x [B, Tq, d]``, ``kv [B, Tk, d]``, ``mask [B or 1, 1 or Tq, Tk]`` additive -> ``[B, Tq, d]``."""
        q, k, v = self._split(self.q(x)), self._split(self.k(kv)), self._split(self.v(kv))
        scores = q @ k.transpose(-1, -2) * self.scale + mask.unsqueeze(1)
        out = self.drop(scores.softmax(-1)) @ v
        b, _, t, _ = out.shape
        return self.o(out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class FeedForward(nn.Module):
    def __init__(self, d_model, ffn_dim, dropout):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(ffn_dim, d_model))

    def forward(self, x):
        return self.net(x)


def _ln(d):
    return nn.LayerNorm(d, eps=LN_EPS)


class EncoderLayer(nn.Module):
    def __init__(self, d_model, heads, head_dim, ffn_dim, dropout):
        super().__init__()
        self.ln1, self.ln2 = _ln(d_model), _ln(d_model)
        self.attn = MultiHeadAttention(d_model, heads, head_dim, dropout)
        self.ffn = FeedForward(d_model, ffn_dim, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.drop(self.attn(h, h, mask))
        return x + self.drop(self.ffn(self.ln2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, d_model, heads, head_dim, ffn_dim, dropout):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = _ln(d_model), _ln(d_model), _ln(d_model)
        self.self_attn = MultiHeadAttention(d_model, heads, head_dim, dropout)
        self.cross_attn = MultiHeadAttention(d_model, heads, head_dim, dropout)
        self.ffn = FeedForward(d_model, ffn_dim, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, y, memory, self_mask, cross_mask):
        """``y [B, T, d]``, ``memory [B, S, d]`` (one copy per row of ``y``: no beam folding)."""
        h = self.ln1(y)
        y = y + self.drop(self.self_attn(h, h, self_mask))
        y = y + self.drop(self.cross_attn(self.ln2(y), memory, cross_mask))
        return y + self.drop(self.ffn(self.ln3(y)))


class TwinSeq2Seq(nn.Module):
    def __init__(self, vocab_size, src_len, tgt_len, d_model=128, num_heads=6, head_dim=64, ffn_dim=1024,
                 enc_layers=4, dec_layers=4, dropout=0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.src_pos = nn.Embedding(src_len, d_model)
        self.tgt_pos = nn.Embedding(tgt_len, d_model)
        self.encoder = nn.ModuleList([EncoderLayer(d_model, num_heads, head_dim, ffn_dim, dropout)
                                      for _ in range(enc_layers)])
        self.decoder = nn.ModuleList([DecoderLayer(d_model, num_heads, head_dim, ffn_dim, dropout)
                                      for _ in range(dec_layers)])
        self.enc_ln, self.dec_ln = _ln(d_model), _ln(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.drop = nn.Dropout(dropout)
        self.src_len = src_len
        self.register_buffer("causal", torch.triu(torch.full((tgt_len, tgt_len), NEG), 1), persistent=False)
        for e in (self.embed, self.src_pos, self.tgt_pos):
            nn.init.normal_(e.weight, 0.0, 0.01)        # MindSpore nn.Embedding's 'normal' (sigma 0.01)

    @staticmethod
    def pad_mask(src):
        """``[B, 1, S]``: NEG on padding keys."""
        return ((src == 0).float() * NEG).unsqueeze(1)

    def encode(self, src):
        """``src [B, S]`` (S <= src_len, right-aligned positions) -> ``memory [B, S, d]``."""
        s = src.shape[1]
        mask = self.pad_mask(src)
        x = self.drop(self.embed(src) + self.src_pos.weight[self.src_len - s:].unsqueeze(0))
        for layer in self.encoder:
            x = layer(x, mask)
        return self.enc_ln(x)

    def decode(self, dec_in, memory, src):
        """``dec_in [B, T]``, ``memory [B, S, d]``, ``src [B, S]`` -> ``logits [B, T, V]``."""
        t = dec_in.shape[1]
        y = self.drop(self.embed(dec_in) + self.tgt_pos.weight[:t].unsqueeze(0))
        self_mask, cross_mask = self.causal[:t, :t].unsqueeze(0), self.pad_mask(src)
        for layer in self.decoder:
            y = layer(y, memory, self_mask, cross_mask)
        return self.head(self.dec_ln(y))

    def forward(self, src, dec_in):
        return self.decode(dec_in, self.encode(src), src)


def create_twin(gc, vocab_size, src_len, tgt_len):
    """Same arguments as :func:`cost_ms.generator.transformer.create_model` (``gc`` = generator config)."""
    return TwinSeq2Seq(vocab_size, src_len, tgt_len, gc.d_model, gc.num_heads,
                       gc.head_dim or gc.d_model // gc.num_heads, gc.ffn_dim,
                       gc.enc_layers, gc.dec_layers, gc.dropout)


def loss_and_accuracy(model, src, dec_in, target):
    """Mean cross-entropy over all ``B x T`` code tokens (as ``Seq2SeqWithLoss``) and token accuracy."""
    logits = model(src, dec_in)
    flat, tgt = logits.reshape(-1, logits.shape[-1]), target.reshape(-1)
    loss = F.cross_entropy(flat, tgt)
    with torch.no_grad():
        acc = (flat.argmax(-1) == tgt).float().mean()
    return loss, acc


def num_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def copy_from_mindspore(model, ms_net):
    """Copy a MindSpore ``Seq2SeqTransformer``'s weights into ``model``; every name and shape must match."""
    rename = {"embedding_table": "weight", "gamma": "weight", "beta": "bias"}
    src = {}
    for name, p in ms_net.parameters_and_names():
        head, _, last = name.rpartition(".")
        src[f"{head}.{rename.get(last, last)}"] = p.asnumpy()
    own = dict(model.named_parameters())
    if set(src) != set(own):
        raise ValueError(f"parameter names differ: only MindSpore {sorted(set(src) - set(own))[:5]}, "
                         f"only torch {sorted(set(own) - set(src))[:5]}")
    with torch.no_grad():
        for name, p in own.items():
            if tuple(p.shape) != src[name].shape:
                raise ValueError(f"{name}: torch {tuple(p.shape)} vs MindSpore {src[name].shape}")
            p.copy_(torch.from_numpy(src[name]))


class PrefixTable:
    """Dense prefix trie of the items' code tuples: ``children[t][node, code]`` -> child node id or -1.

    ``sid [N, L]`` unique tuples; depth-``t`` nodes are numbered by rank among the distinct
    length-``t`` prefixes, as cost_ms's ``PrefixIndex`` does, so the two tries agree node for node.
    """

    def __init__(self, sid, level_sizes):
        sid = np.asarray(sid, np.int64)
        node, n_nodes = np.zeros(len(sid), np.int64), 1
        self.children = []
        for t, size in enumerate(level_sizes):
            keys, node = np.unique(node * size + sid[:, t], return_inverse=True)
            node = node.reshape(-1)
            table = np.full((n_nodes, size), -1, np.int64)
            table[keys // size, keys % size] = np.arange(len(keys))
            self.children.append(torch.from_numpy(table))
            n_nodes = len(keys)
        leaf = np.empty(len(sid), np.int64)
        leaf[node] = np.arange(len(sid))
        self.item_of_leaf = torch.from_numpy(leaf)


@torch.no_grad()
def beam_search(model, table, src, beam, bos, offsets, level_sizes):
    """Plain batched beam search, constrained to the trie: ``src [B, S]`` -> ``items [B, W]``, ``scores [B, W]``.

    The encoder runs once; its memory (and the pad mask) is repeated for each of a user's ``W``
    beams, as HF-style ``generate`` does. Then for each code level ``t``: the decoder re-reads the
    whole prefix ``[BOS, codes < t]`` of every beam (no key/value cache, as cost_ms), the next
    token's log-softmax over the full vocabulary is sliced to level ``t``'s codes, codes that do not
    extend a valid item prefix get -inf, and each user keeps the top ``W`` of its ``W x S_t``
    candidates by summed log-probability. Scores are -inf (items -1) where fewer than W items exist.
    """
    model.eval()
    b, w = src.shape[0], beam
    src_w = src.repeat_interleave(w, 0)
    memory = model.encode(src).repeat_interleave(w, 0)               # [B * W, S, d]
    node = torch.zeros(b, w, dtype=torch.long)
    score = torch.full((b, w), -math.inf)
    score[:, 0] = 0.0                                                # one live beam at the root
    tokens = torch.full((b * w, 1), bos, dtype=torch.long)
    for t, size in enumerate(level_sizes):
        logp = model.decode(tokens, memory, src_w)[:, -1].log_softmax(-1)
        lp = logp[:, offsets[t]:offsets[t] + size].view(b, w, size)
        child = table.children[t][node.clamp(min=0)]                 # [B, W, S_t]
        cand = torch.where(child >= 0, score.unsqueeze(-1) + lp, torch.tensor(-math.inf)).view(b, -1)
        score, top = cand.topk(w, dim=1)
        beam_idx, code = top // size, top % size
        node = child.view(b, -1).gather(1, top)
        prev = tokens.view(b, w, -1).gather(1, beam_idx.unsqueeze(-1).expand(-1, -1, t + 1))
        tokens = torch.cat([prev, (code + offsets[t]).unsqueeze(-1)], 2).view(b * w, t + 2)
    alive = torch.isfinite(score)
    items = torch.where(alive, table.item_of_leaf[node.clamp(min=0)], torch.tensor(-1))
    return items, score
