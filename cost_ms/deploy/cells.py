"""The beam search's graphs as cells with flat tensor inputs and outputs, for ``mindspore.export``.

A MindIR graph takes and returns flat tensors, so the decoding cells' tuples (cross-attention memory, history and
step caches) are spread into named positions. Each cell names its inputs and outputs; the loaded decoder
(:class:`cost_ms.deploy.graphs.GraphDecoder`) keeps every output under its name and feeds each graph the names it
lists, so one decoder serves every architecture. Level 0 (``start``) takes the beam search's decoding input
``src`` and returns ``logp [B, V]`` and the state the next levels read; level ``t >= 1`` takes ``tok [R, 1]`` (the
level ``t - 1`` tokens, ``R = B * beams``), that state and, where it has a cache, ``parent [R]``, and returns ``logp
[R, V]`` and the new cache. The cells wrap the trained network's own decoding cells, so the graphs compute what
:mod:`cost_ms.generator.decoders` computes.
"""
import mindspore as ms
from mindspore import nn, ops

from ..generator.causal import CausalPrefix, CausalStep
from ..generator.incremental import CrossMemory, DecodeStep
from ..generator.vocab import BOS


def names(prefix, n):
    return [f"{prefix}.{i}" for i in range(n)]


class TigerStart(nn.Cell):
    """``src [B, S]`` -> ``(logp [B, V], cross.*, cache.*)``: the encoder, every layer's cross-attention keys/values
    and the root step (one hypothesis per user)."""

    def __init__(self, net):
        super().__init__()
        self.memory = CrossMemory(net)
        self.first = DecodeStep(net, 1, first=True)
        n = 2 * len(net.decoder)
        self.inputs, self.outputs = ["src"], ["logp"] + names("cross", n) + names("cache", n)

    def construct(self, src):
        cross = self.memory(src)
        logp, cache = self.first(ops.ones((src.shape[0], 1), ms.int32) * BOS, src, cross)
        return (logp,) + cross + cache


class TigerStep(nn.Cell):
    """``(tok, src, cross.*, cache.*, parent)`` -> ``(logp, cache.*)``: one token per hypothesis."""

    def __init__(self, net, beams):
        super().__init__()
        self.step = DecodeStep(net, beams, first=False)
        self.n = 2 * len(net.decoder)
        self.inputs = ["tok", "src"] + names("cross", self.n) + names("cache", self.n) + ["parent"]
        self.outputs = ["logp"] + names("cache", self.n)

    def construct(self, tok, src, *rest):
        logp, cache = self.step(tok, src, rest[:self.n], rest[self.n:2 * self.n], rest[2 * self.n])
        return (logp,) + cache


class CausalStart(nn.Cell):
    """``src [B, 2, S]`` (tokens, item ids) -> ``(logp [B, V], hist.*, item [R])``: one pass over BOS + the history
    (``hist.0`` its padding mask, then every layer's keys/values) and each hypothesis's next-item position."""

    def __init__(self, net, beams):
        super().__init__()
        self.prefix = CausalPrefix(net)
        self.beams, self.length = beams, net.length
        self.inputs = ["src"]
        self.outputs = ["logp"] + names("hist", 1 + 2 * len(net.layers)) + ["item"]

    def construct(self, src):
        tokens, ids = src[:, 0], src[:, 1]
        last = (tokens != 0).astype(ms.int32).sum(1) - 1           # BOS + h * L tokens: the last one's index
        out = self.prefix(tokens, ids, last)
        return out + (ops.repeat_interleave(last // self.length, self.beams, 0),)


class CausalLevel(nn.Cell):
    """``(tok, item, hist.*)`` (``first``) or ``(tok, item, hist.*, cache.*, parent)`` -> ``(logp, cache.*)``."""

    def __init__(self, net, beams, first):
        super().__init__()
        self.step = CausalStep(net, beams, first)
        self.first, n = first, 2 * len(net.layers)
        self.h = 1 + n
        self.inputs = ["tok", "item"] + names("hist", self.h) + ([] if first else names("cache", n) + ["parent"])
        self.outputs = ["logp"] + names("cache", n)

    def construct(self, tok, item, *rest):
        hist = rest[:self.h]
        if self.first:
            logp, cache = self.step(tok, item, hist)
        else:
            logp, cache = self.step(tok, item, hist, rest[self.h:-1], rest[-1])
        return (logp,) + cache


def tiger_cells(net, beams, length):
    """Level 0..``length - 1`` cells of TIGER's encoder-decoder (every level after the root shares one cell)."""
    step = TigerStep(net, beams)
    return [TigerStart(net)] + [step] * (length - 1)


def causal_cells(net, beams, length):
    """Level 0..``length - 1`` cells of the causal generator."""
    later = CausalLevel(net, beams, first=False)
    return [CausalStart(net, beams), CausalLevel(net, beams, first=True)] + [later] * (length - 2)
